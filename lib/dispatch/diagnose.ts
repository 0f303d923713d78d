// spl task diagnose (SPEC §11, the runbook's salvage procedure): a task's latest dispatch as its records tell it —
// the pipeline, the runbook's Subprocess and Completion blocks, the worktree as it is now (latest commit, commits
// ahead, uncommitted files) — and the recovery that fits: salvage a SIGKILLed worker's work on disk, --resume with
// a larger timeout after a line timeout, a fresh dispatch when nothing was written.

import type { TaskDiagnosis, TaskDispatchLive } from '../kernel/wire.js';
import type { Task } from '../engine/folds/tasks.js';
import type { DispatchView } from './records.js';
import { gitAsync, worktreeState, type WorktreeState } from './worktree.js';

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function pipeline(task: Task, d: DispatchView | undefined, live: TaskDispatchLive | null): TaskDiagnosis['pipeline'] {
  const rows: TaskDiagnosis['pipeline'] = [{ step: 'INTEND', at: task.created_at, detail: `on ${task.thread} (record ${task.record.slice(0, 12)}…)` }];
  if (!d) return rows;
  const pf = d.request.preflight as { band?: unknown; avail_gb?: unknown } | undefined;
  rows.push({ step: 'dispatch requested', at: d.request.at, detail: `attempt ${d.attempt} to ${d.adapter}; sub-thread ${d.sub_thread}; pre-flight ${String(pf?.band ?? 'n/a')} avail_gb=${String(pf?.avail_gb ?? 'n/a')}${d.request.queued ? `; queued (${String(d.request.queued)})` : ''}` });
  if (d.spawn) rows.push({ step: 'subprocess spawned', at: d.spawn.at, detail: `pid ${String(d.spawn.pid)}: ${Array.isArray(d.spawn.command) ? (d.spawn.command as string[]).join(' ') : ''}` });
  if (d.session) rows.push({ step: 'session captured', at: d.session.at, detail: `${String(d.session.session_id)} (project ${String(d.session.project_slug)}${d.session.model ? `, model ${String(d.session.model)}` : ''})` });
  const events = num(d.exit?.stream_events) ?? live?.stream_events ?? null;
  const lastMs = num(d.exit?.last_stream_event_ms);
  const lastAt = lastMs !== null && typeof d.exit?.started_at === 'string' ? new Date(Date.parse(d.exit.started_at) + lastMs).toISOString() : null;
  if (events !== null) rows.push({ step: `${events} stream events`, at: lastAt, detail: `last ${str(d.exit?.last_stream_event_type) ?? live?.last_event_type ?? 'none'}` });
  if (d.exit) rows.push({ step: 'subprocess exited', at: d.exit.at, detail: d.exit.observed === false ? 'not observed (the dispatcher restarted)' : `code=${String(d.exit.exit_code ?? 'None')} signal=${String(d.exit.signal ?? 'None')} dur=${String(d.exit.duration_ms)}ms` });
  if (d.complete) {
    const c = d.complete;
    const cost = num(c.cost_usd);
    rows.push({ step: 'completion', at: c.at, detail: `codepath=${String(c.completion_codepath)} failure=${String(c.failure_reason ?? 'none')} cost=${cost === null ? 'unknown' : `$${cost.toFixed(4)}`} (from ${String(c.cost_source)}) tokens=${String(c.tokens_in ?? '?')}/${String(c.tokens_out ?? '?')} latency=${String(c.latency_ms ?? '?')}ms` });
  } else if (live) rows.push({ step: live.state === 'queued' ? 'queued' : 'running', at: live.since, detail: live.state === 'queued' ? `waiting for ${live.queued_reason === 'memory' ? 'memory (critical band)' : 'a free slot'}, position ${String(live.position)}` : `pid ${String(live.pid)}` });
  return rows;
}

/** What to do next, following the runbook. */
function recovery(task: Task, d: DispatchView | undefined, wt: WorktreeState | null, live: TaskDispatchLive | null): string {
  const a = task.alias;
  if (!d) return `no dispatch yet: spl task dispatch ${a}`;
  if (live) return live.state === 'queued' ? `queued; it starts when ${live.queued_reason === 'memory' ? 'memory frees' : 'a slot frees'} (spl task interrupt ${a} takes it out)` : `running; spl task interrupt ${a} stops it`;
  const c = d.complete;
  if (!c) return 'the dispatch has no completion record yet';
  if (c.success === true) return task.status === 'active' ? `the worker succeeded but left uncommitted files: commit them in ${String(d.request.worktree)}, then spl task done ${a} --summary "…"` : `none needed: the attempt succeeded (${a} is ${task.status})`;
  const work = wt !== null && (wt.dirty.length > 0 || wt.ahead.length > 0);
  const where = wt ? `${wt.top} (${wt.dirty.length} uncommitted file(s), ${wt.ahead.length} commit(s) ahead)` : '';
  const signal = num(d.exit?.signal);
  const reason = str(c.failure_reason);
  if (reason === 'line_timeout') return `the worker went silent past its line timeout; continue with a larger one: spl task dispatch ${a} --resume --line-timeout ${Number(d.request.line_timeout_secs ?? 600) * 2}`;
  if (reason === 'budget_exceeded') return `the run hit its ${c.completion_codepath === 'budget_deadline' ? 'deadline' : 'budget'}; if it was too small: spl task dispatch ${a} --resume --timeout ${Number(d.request.timeout_secs ?? 1800) * 2}; if the agent spiralled, narrow the brief and dispatch afresh`;
  if (reason === 'result_reported_error') return `the agent reported an error: fix the brief (spl task edit ${a} --body-file …), then dispatch afresh${work ? ` (its worktree holds work: salvage or remove it first, or use --resume)` : ''}`;
  if (reason === 'spawn_failed') return `the worker did not start: check the adapter (spl adapter show ${d.adapter}; spl doctor), then dispatch again`;
  if (signal === 9 && work) {
    const oom = c.oom_killed === true ? 'killed by the OOM killer' : c.oom_killed === false ? 'SIGKILLed (not by the OOM killer: the cgroup counter did not move)' : 'SIGKILLed (most likely the OOM killer; dmesg | grep -i "killed process" confirms)';
    return `the worker was ${oom}; its work is on disk in ${where} — salvage it (the runbook's steps 2–8: cd ${wt!.top}; git status -s; git diff; run your gate; commit on ${String(d.request.branch)}; git merge ${String(d.request.branch)} --ff-only; spl task reopen ${a}; done; approve; git worktree remove), or continue it: spl task dispatch ${a} --resume`;
  }
  if (work) return `the worker failed (${reason ?? 'unknown'}) after writing work to ${where}: continue it with spl task dispatch ${a} --resume, or salvage it by hand`;
  return `nothing was written (${reason ?? 'unknown'}${signal !== null ? `, signal ${signal}` : ''}): dispatch afresh: spl task dispatch ${a}`;
}

export async function diagnose(task: Task, dispatches: DispatchView[], live: TaskDispatchLive | null): Promise<TaskDiagnosis> {
  const d = dispatches.at(-1);
  const worktree = str(d?.request.worktree);
  const repo = str(d?.request.repo);
  const wt = worktree && repo ? await worktreeState(worktree, repo).catch(() => null) : null;
  const subject = wt?.head ? (await gitAsync(wt.top!, ['log', '-1', '--format=%s'])).out.trim() : '';
  const c = d?.complete;
  return {
    object: 'task_diagnosis', alias: task.alias, title: task.title, status: task.status, task_thread: task.thread,
    intend: { record: task.record, clock: task.history[0]?.clock ?? 0, at: task.created_at },
    attempts: dispatches.length, sub_thread: d?.sub_thread ?? null, adapter: d?.adapter ?? null, live,
    pipeline: pipeline(task, d, live),
    subprocess: d?.spawn ? { pid: num(d.spawn.pid), runtime_ms: num(d.exit?.duration_ms), exit_code: num(d.exit?.exit_code), signal: num(d.exit?.signal) } : null,
    completion: c
      ? {
          codepath: String(c.completion_codepath), failure_reason: str(c.failure_reason), success: c.success === true, cost_usd: num(c.cost_usd), cost_source: String(c.cost_source ?? 'unknown'),
          tokens_in: num(c.tokens_in), tokens_out: num(c.tokens_out), latency_ms: num(c.latency_ms),
          oom_killed: c.oom_killed === true ? true : c.oom_killed === false ? false : 'unknown',
          stderr_tail: Array.isArray(c.stderr_tail) ? (c.stderr_tail as unknown[]).map(String) : [],
        }
      : null,
    worktree, worktree_exists: wt !== null, branch: str(d?.request.branch), latest_commit: wt?.head ?? null, latest_commit_subject: subject || null,
    commits_ahead: wt ? wt.ahead.length : null, uncommitted_files: wt ? wt.dirty : null,
    recovery: recovery(task, d, wt, live),
  };
}
