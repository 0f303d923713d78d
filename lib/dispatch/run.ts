// One dispatch's records and its task's status, around one Worker: the request (with the task's status move) on
// the task's thread; spawn, session, subprocess exit and completion on the dispatch's sub-thread, in that order;
// then the task moves — review on success, with the done claim carrying the result summary and the worktree HEAD
// (unless the worktree is dirty: the completion gate keeps it active and says why), failed otherwise.

import type { Logger } from 'pino';
import { validateRecord } from '../kernel/record.js';
import type { DispatchPreflightView, TaskDispatchLive } from '../kernel/wire.js';
import type { Engine } from '../engine/engine.js';
import { findTask, tasksFold, TASK_COMMENT, TASK_DISPATCHED } from '../engine/folds/tasks.js';
import { planTransition, type TaskDraft, type TransitionRequest } from '../engine/tasks.js';
import type { RecordLog } from '../store/record-log.js';
import { expandArgv } from './adapters.js';
import { oomKills, type MemorySource } from './memory.js';
import { procStat } from './proc.js';
import type { DispatchPlan } from './plan.js';
import { KIND, TOPIC } from './records.js';
import type { StreamEvent } from './stream.js';
import { Worker, type FailureReason, type SubprocessExit, type WorkerOutcome } from './worker.js';
import { worktreeState, type WorktreeState } from './worktree.js';

export interface RunDeps {
  did: string;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  now: () => number;
  memory: MemorySource;
  graceMs: number;
  dataDir: string;
  secretsDir: string;
  env: NodeJS.ProcessEnv;
  readSecret(name: string): string;
}

type Draft = TaskDraft | { thread: string; actor: string; act: 'DO' | 'KNOW'; body: Record<string, unknown> };

async function append(deps: RunDeps, drafts: Draft[]): Promise<void> {
  await deps.log.append(drafts.map((d) => validateRecord(d)));
}

/** The status move a finished (or abandoned) dispatch makes, written by `actor`; skipped (and logged) if the task moved on meanwhile. */
function moveDraft(deps: RunDeps, taskThread: string, actor: string, req: TransitionRequest): TaskDraft | null {
  const task = findTask(deps.engine.state(tasksFold), taskThread);
  if (!task) return null;
  try {
    return planTransition(task, actor, req).draft;
  } catch (err) {
    deps.logger.warn({ thread: taskThread, alias: task.alias }, `${task.alias} not moved to ${req.to} after its dispatch: ${(err as Error).message}`);
    return null;
  }
}

function completeBody(plan: DispatchPlan, fields: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: KIND.complete, topic: TOPIC.complete, task_thread: plan.task.thread, alias: plan.task.alias, attempt: plan.attempt,
    adapter: plan.adapter.did, fulfills: plan.task.record, domain: plan.task.domain, ...fields,
  };
}

export class Run {
  readonly finished: Promise<void>;
  private worker: Worker | undefined;
  private chain: Promise<void> = Promise.resolve();
  private spawnedAt: string;
  private readonly oomBefore: number | null;

  /** The request record (and the task's move to active) — before a dispatch runs or waits. */
  static async begin(deps: RunDeps, plan: DispatchPlan, pf: DispatchPreflightView, queued: 'slot' | 'memory' | null): Promise<void> {
    const drafts: Draft[] = [];
    if (plan.move) {
      const move = moveDraft(deps, plan.task.thread, plan.adapter.did, { ...plan.move, assign: plan.adapter.did });
      if (move) drafts.push(move);
    }
    drafts.push({
      thread: plan.task.thread, actor: plan.by, act: 'DO',
      body: {
        kind: KIND.request, topic: TASK_DISPATCHED, sub_thread: plan.sub, alias: plan.task.alias, attempt: plan.attempt,
        adapter: plan.adapter.did, family: plan.adapter.family, repo: plan.repo, worktree: plan.worktree, branch: plan.branch, resume: plan.resume,
        timeout_secs: plan.timeoutSecs, line_timeout_secs: plan.lineTimeoutSecs, budget_usd: plan.budgetUsd, forced: plan.force,
        preflight: { band: pf.band, avail_gb: pf.avail_gb, source: pf.source }, queued,
      },
    });
    await append(deps, drafts);
  }

  /**
   * A dispatch that never started: its completion record; then the task fails when it could not start
   * (spawn_failed), and otherwise — withdrawn from the queue, or the instance stopping — keeps its status, with a
   * comment saying the dispatch was withdrawn (nothing ran, so nothing failed).
   */
  static async endUnspawned(deps: RunDeps, plan: DispatchPlan, reason: FailureReason, detail: string): Promise<void> {
    const alias = plan.task.alias;
    const after: Draft[] = [];
    if (reason === 'spawn_failed') {
      const fail = moveDraft(deps, plan.task.thread, deps.did, { to: 'failed', reason: `dispatch ${reason}: ${detail}` });
      if (fail) after.push(fail);
    } else {
      after.push({ thread: plan.task.thread, actor: deps.did, act: 'KNOW', body: { topic: TASK_COMMENT, alias, text: `dispatch attempt ${plan.attempt} withdrawn before it started (${detail}); dispatch again with spl task dispatch ${alias}` } });
    }
    await append(deps, [
      { thread: plan.sub, actor: deps.did, act: 'KNOW', body: completeBody(plan, { success: false, completion_codepath: 'not_spawned', failure_reason: reason, detail, cost_usd: null, cost_source: 'unknown' }) },
      ...after,
    ]);
    deps.logger.warn({ alias, thread: plan.task.thread }, `dispatch of ${alias} ended before it started: ${detail}`);
  }

  constructor(private readonly deps: RunDeps, readonly plan: DispatchPlan, private readonly pf: DispatchPreflightView | undefined) {
    this.spawnedAt = new Date(deps.now()).toISOString();
    this.oomBefore = oomKills(deps.memory);
    let env: NodeJS.ProcessEnv;
    try {
      env = this.environment();
    } catch (err) {
      this.finished = Run.endUnspawned(deps, plan, 'spawn_failed', (err as Error).message).catch((e: unknown) => this.recordFailed(e));
      return;
    }
    const argv = expandArgv(plan.adapter.argv, { brief: plan.briefPath, worktree: plan.worktree, alias: plan.task.alias, thread: plan.task.thread });
    this.worker = new Worker(
      {
        family: plan.adapter.family, argv, cwd: plan.worktree, env, stdin: plan.brief,
        lineTimeoutMs: plan.lineTimeoutSecs * 1000, deadlineMs: plan.timeoutSecs * 1000, budgetUsd: plan.budgetUsd,
        graceMs: deps.graceMs, logger: deps.logger.child({ alias: plan.task.alias }), now: deps.now,
      },
      { spawned: (pid) => this.spawned(pid, argv), session: (e) => this.session(e), exited: (x) => this.exited(x) },
    );
    this.finished = this.worker.done.then((o) => this.complete(o)).catch((e: unknown) => this.recordFailed(e));
  }

  get pid(): number | null {
    return this.worker?.pid ?? null;
  }

  stop(cause: 'interrupt' | 'shutdown', detail: string): void {
    this.worker?.stop(cause, detail);
  }

  live(): TaskDispatchLive {
    return {
      state: 'running', sub_thread: this.plan.sub, adapter: this.plan.adapter.did, attempt: this.plan.attempt, queued_reason: null, position: null,
      pid: this.pid, stream_events: this.worker?.eventCount ?? 0, last_event_type: this.worker?.lastEventType ?? null, since: this.spawnedAt,
    };
  }

  /** The instance's environment, the adapter's --env (an `@secret:NAME` value read from the secrets directory), and the task's names. */
  private environment(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...this.deps.env };
    for (const [k, v] of Object.entries(this.plan.adapter.env)) {
      if (!v.startsWith('@secret:')) env[k] = v;
      else {
        const name = v.slice('@secret:'.length);
        if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`--env ${k}: ${v} names no file in the secrets directory`);
        try {
          env[k] = this.deps.readSecret(name);
        } catch (err) {
          throw new Error(`--env ${k}: cannot read ${this.deps.secretsDir}/${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
    }
    return { ...env, SPL_TASK: this.plan.task.alias, SPL_TASK_THREAD: this.plan.task.thread, SPL_DISPATCH_THREAD: this.plan.sub, SPL_WORKTREE: this.plan.worktree, SPL_ACTOR: this.plan.adapter.did };
  }

  private write(drafts: Draft[]): void {
    this.chain = this.chain.then(() => append(this.deps, drafts)).catch((e: unknown) => this.recordFailed(e));
  }

  private recordFailed(err: unknown): void {
    this.deps.logger.error({ alias: this.plan.task.alias, sub_thread: this.plan.sub }, `dispatch of ${this.plan.task.alias}: a record could not be written: ${(err as Error).message}`);
  }

  private spawned(pid: number, argv: string[]): void {
    this.spawnedAt = new Date(this.deps.now()).toISOString();
    const p = this.plan;
    this.deps.logger.info({ alias: p.task.alias, pid, thread: p.sub }, `worker ${pid} spawned for ${p.task.alias} (attempt ${p.attempt}, ${p.adapter.did}) in ${p.worktree}`);
    this.write([{
      thread: p.sub, actor: this.deps.did, act: 'DO',
      body: {
        kind: KIND.spawn, topic: TOPIC.spawn, task_thread: p.task.thread, alias: p.task.alias, attempt: p.attempt, adapter: p.adapter.did,
        pid, pgid: pid, proc_start: procStat(pid)?.start ?? null, command: argv, worktree: p.worktree, branch: p.branch, base: p.prepared.head,
        oom_kill_before: this.oomBefore, deadline_at: new Date(this.deps.now() + p.timeoutSecs * 1000).toISOString(),
        ...(this.pf ? { preflight: { band: this.pf.band, avail_gb: this.pf.avail_gb, source: this.pf.source } } : {}),
      },
    }]);
  }

  private session(e: StreamEvent): void {
    const cwd = e.cwd ?? this.plan.worktree;
    this.write([{
      thread: this.plan.sub, actor: this.deps.did, act: 'DO',
      body: { kind: KIND.session, topic: TOPIC.session, session_id: e.session_id, model: e.model, project_cwd: cwd, project_slug: cwd.replace(/^\//, '').replace(/\//g, '-') },
    }]);
  }

  private exited(x: SubprocessExit): void {
    const how = x.spawn_error !== undefined ? `did not start: ${x.spawn_error}` : `exited: exit_code=${x.exit_code ?? 'None'} signal=${x.signal_name ?? 'None'} after ${x.duration_ms} ms, ${x.stream_events} stream events`;
    this.deps.logger[x.exit_code === 0 ? 'info' : 'warn']({ alias: this.plan.task.alias, pid: x.pid, thread: this.plan.sub }, `worker ${x.pid ?? '-'} for ${this.plan.task.alias} ${how}`);
    this.write([{ thread: this.plan.sub, actor: this.deps.did, act: 'DO', body: { kind: KIND.exit, topic: TOPIC.exit, ...x } }]);
  }

  /** OOM killer or not: only a SIGKILL can be its work, and only the cgroup's counter moving says it was. */
  private oomKilled(o: WorkerOutcome): boolean | 'unknown' {
    if (o.exit.signal !== 9) return false;
    const after = oomKills(this.deps.memory);
    if (this.oomBefore === null || after === null) return 'unknown';
    return after > this.oomBefore;
  }

  private async complete(o: WorkerOutcome): Promise<void> {
    await this.chain;
    const p = this.plan;
    const oom = this.oomKilled(o);
    const wt = await worktreeState(p.worktree, p.repo).catch(() => null);
    const body = completeBody(p, {
      success: o.success, completion_codepath: o.completion_codepath, failure_reason: o.failure_reason, cost_usd: o.cost_usd, cost_source: o.cost_source,
      latency_ms: o.latency_ms, tokens_in: o.tokens_in, tokens_out: o.tokens_out, num_turns: o.num_turns, oom_killed: oom,
      summary: o.result?.text ?? null, result_subtype: o.result?.subtype ?? null, stop: o.stop?.detail ?? null,
      worktree_head: wt?.head ?? null, commits_ahead: wt ? wt.ahead.length : null, uncommitted: wt ? wt.dirty.length : null,
      ...(o.stdout_held ? { stdout_held: true } : {}),
      ...(o.success ? {} : { stderr_tail: o.stderr_tail }),
    });
    await append(this.deps, [{ thread: p.sub, actor: this.deps.did, act: 'KNOW', body }, ...this.taskMove(o, oom, wt)]);
    const cost = o.cost_usd === null ? 'cost unknown' : `$${o.cost_usd.toFixed(4)}`;
    if (o.success) this.deps.logger.info({ alias: p.task.alias, thread: p.sub }, `dispatch of ${p.task.alias} succeeded (${o.completion_codepath}, ${cost}, ${o.exit.stream_events} stream events)`);
    else this.deps.logger.warn({ alias: p.task.alias, thread: p.sub }, `dispatch of ${p.task.alias} failed: ${o.failure_reason} (${o.completion_codepath}; exit_code=${o.exit.exit_code ?? 'None'} signal=${o.exit.signal_name ?? 'None'}${oom === true ? ', killed by the OOM killer' : ''}; ${cost})`);
  }

  /** Success → the done claim (or, with uncommitted files, a note that the gate keeps it active); failure → failed. */
  private taskMove(o: WorkerOutcome, oom: boolean | 'unknown', wt: WorktreeState | null): Draft[] {
    const p = this.plan;
    if (!o.success) {
      const why = o.stop?.detail ?? (o.exit.signal !== null ? `signal ${o.exit.signal}${oom === true ? ' (OOM killer)' : ''}` : `exit code ${o.exit.exit_code ?? 'None'}`);
      const fail = moveDraft(this.deps, p.task.thread, this.deps.did, { to: 'failed', reason: `dispatch ${o.failure_reason} (${o.completion_codepath}): ${why}` });
      return fail ? [fail] : [];
    }
    if (wt && wt.dirty.length > 0) {
      const text = `completion gate: the worker reported success but left ${wt.dirty.length} uncommitted file(s) in ${p.worktree}, so ${p.task.alias} stays active; commit them on ${p.branch}, then spl task done ${p.task.alias} --summary "…"`;
      this.deps.logger.warn({ alias: p.task.alias }, text);
      return [{ thread: p.task.thread, actor: this.deps.did, act: 'KNOW', body: { topic: TASK_COMMENT, alias: p.task.alias, text, uncommitted: wt.dirty.slice(0, 50) } }];
    }
    const done = moveDraft(this.deps, p.task.thread, p.adapter.did, {
      to: 'review', summary: o.result?.text ?? `dispatch attempt ${p.attempt} succeeded`, ...(wt?.head ? { commit: wt.head } : {}),
    });
    return done ? [done] : [];
  }
}

