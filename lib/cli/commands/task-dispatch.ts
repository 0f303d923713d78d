// Task dispatch: spl task dispatch | diagnose | interrupt. The instance runs the worker (its own child, in the
// task's worktree); these commands ask it to, and print what it reports. diagnose prints the runbook's Subprocess
// and Completion blocks verbatim (`exit_code: None`, `signal: Some(9)`); -o json gives the same fields typed.

import { resolve } from 'node:path';
import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import type { DispatchReply, TaskDiagnosis } from '../../kernel/wire.js';
import { commandContext, type GlobalFlags } from '../context.js';
import { printJson } from '../output.js';
import type { RemoteDispatchReply } from '../../fleet/remote.js';

interface DispatchFlags extends GlobalFlags {
  resume?: boolean;
  timeout?: string | number;
  'line-timeout'?: string | number;
  budget?: string | number;
  repo?: string;
  force?: boolean;
  worktree?: boolean;
  on?: string;
}

const path = (ref: string, rest = ''): string => `/v1/tasks/${encodeURIComponent(ref)}${rest}`;

function positive(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new SplError('USAGE', `${flag} must be a positive number (got ${v})`);
  return n;
}

export function register(prog: Sade): void {
  prog
    .command('task dispatch <ref>')
    .describe('Run a task\'s adapter in its worktree <repo>-<ALIAS> (branch task/<ALIAS>), after the memory pre-flight; waits in order when the adapter is at max_concurrent')
    .option('--actor', 'The adapter\'s DID (default: the task\'s assignee, else the only adapter)')
    .option('--resume', 'Continue in the existing worktree; the brief starts with its prior commits')
    .option('--timeout', 'Wall-clock deadline in seconds (default: the adapter\'s)')
    .option('--line-timeout', 'Longest stdout silence in seconds (default: the adapter\'s)')
    .option('--budget', 'USD: a run that reports more fails with budget_exceeded')
    .option('--repo', 'The git repository (default: the task\'s --repo)')
    .option('--force', 'Start even in the critical memory band (otherwise it waits for memory)')
    .option('--worktree', 'Accepted for upstream scripts: a dispatch always runs in the task\'s worktree')
    .option('--on', 'Run it on a fleet worker: its DID, or auto (the least loaded live worker not short of memory); on a coordinator')
    .example('task dispatch TASK-0001')
    .example('task dispatch TASK-0001 --resume --line-timeout 1200')
    .example('task dispatch TASK-0001 --on auto')
    .action(async (ref: string, flags: DispatchFlags) => {
      // --actor names the adapter here, not the identity the command acts as (SPL_ACTOR does that).
      const { actor, ...rest } = flags;
      const ctx = commandContext(rest);
      const body = {
        task: String(ref),
        ...(actor !== undefined ? { actor_did: String(actor) } : {}),
        ...(flags.resume ? { resume: true } : {}),
        ...(flags.force ? { force: true } : {}),
        ...(positive(flags.timeout, '--timeout') !== undefined ? { timeout_secs: positive(flags.timeout, '--timeout') } : {}),
        ...(positive(flags['line-timeout'], '--line-timeout') !== undefined ? { line_timeout_secs: positive(flags['line-timeout'], '--line-timeout') } : {}),
        ...(positive(flags.budget, '--budget') !== undefined ? { budget_usd: positive(flags.budget, '--budget') } : {}),
        ...(flags.repo !== undefined ? { repo: resolve(String(flags.repo)) } : {}),
        ...(flags.on !== undefined ? { on: String(flags.on) } : {}),
      };
      const r = (await ctx.client().call<DispatchReply | RemoteDispatchReply>('POST', '/v1/dispatch', body)).body;
      if (ctx.json) return printJson(r);
      if (r.object === 'remote_dispatch') {
        process.stdout.write(`${r.alias} dispatched to ${r.worker} (${r.endpoint ?? 'no endpoint'}): it starts with that worker's next heartbeat\n  its records come back here: spl task show ${r.alias}, spl task diagnose ${r.alias}\n`);
        return;
      }
      printDispatch(r);
    });

  prog
    .command('task diagnose <ref>')
    .describe('A task\'s latest dispatch: pipeline, Subprocess and Completion blocks, worktree, latest commit, and the recovery that fits')
    .example('task diagnose TASK-0001 | tail -30')
    .action(async (ref: string, flags: DispatchFlags) => {
      const ctx = commandContext(flags);
      const d = (await ctx.client().call<TaskDiagnosis>('GET', path(String(ref), '/diagnose'))).body;
      if (ctx.json) return printJson(d);
      printDiagnosis(d);
    });

  prog
    .command('task interrupt <ref>')
    .describe('Stop a task\'s running worker (SIGTERM to its process group, SIGKILL after a grace period; the exit is recorded) or take a queued dispatch out')
    .example('task interrupt TASK-0001')
    .action(async (ref: string, flags: DispatchFlags) => {
      const ctx = commandContext(flags);
      const r = (await ctx.client().call<{ alias: string; state: string; sub_thread: string; pid: number | null }>('POST', path(String(ref), '/interrupt'), {})).body;
      if (ctx.json) return printJson(r);
      process.stdout.write(r.state === 'queued' ? `${r.alias}: queued dispatch taken out (sub-thread ${r.sub_thread})\n` : `${r.alias}: worker ${r.pid ?? '?'} is being stopped; spl task diagnose ${r.alias} shows its exit\n`);
    });
}

function printDispatch(r: DispatchReply): void {
  const pf = r.preflight.band ? `${r.preflight.band} avail_gb=${r.preflight.avail_gb?.toFixed(1)}${r.preflight.source === 'cgroup' ? ' (cgroup limit)' : ''}` : 'skipped (no memory figures)';
  if (r.state === 'running') process.stdout.write(`${r.alias} dispatched to ${r.adapter} (attempt ${r.attempt}): running as pid ${r.pid ?? '?'}${r.forced ? ' (--force: in the critical memory band)' : ''}\n`);
  else if (r.queued_reason === 'memory') process.stdout.write(`${r.alias} queued (attempt ${r.attempt}): memory is in the critical band; it starts when memory frees (--force starts it anyway)\n`);
  else process.stdout.write(`${r.alias} queued (attempt ${r.attempt}): ${r.adapter} is at its max_concurrent; position ${r.position ?? '?'}, it starts when a slot frees\n`);
  process.stdout.write(`  worktree    ${r.worktree} (branch ${r.branch}${r.resume ? ', resumed' : ''})\n  sub-thread  ${r.sub_thread}\n  pre-flight  ${pf}\n`);
  for (const n of r.notes) process.stdout.write(`  note: ${n}\n`);
}

const opt = (v: number | null): string => (v === null ? 'None' : String(v));
const some = (v: number | null): string => (v === null ? 'None' : `Some(${v})`);

function printDiagnosis(d: TaskDiagnosis): void {
  const out: string[] = [`Task: ${d.alias} — ${d.title}`, `Status: ${d.status}`, `Sub-thread: ${d.sub_thread ?? 'none (never dispatched)'}`, `Attempts: ${d.attempts}${d.adapter ? ` (latest to ${d.adapter})` : ''}`, 'Dispatch pipeline'];
  d.pipeline.forEach((p, i) => out.push(`  ${i === d.pipeline.length - 1 ? '└' : '├'} ${p.step}${p.at ? ` (${p.at})` : ''}: ${p.detail}`));
  if (d.subprocess) {
    out.push('Subprocess', `pid: ${opt(d.subprocess.pid)}`, `runtime: ${d.subprocess.runtime_ms === null ? 'unknown' : `${d.subprocess.runtime_ms}ms`}`, `exit_code: ${opt(d.subprocess.exit_code)}`, `signal: ${some(d.subprocess.signal)}`);
  }
  if (d.completion) {
    const c = d.completion;
    out.push('Completion', `codepath: ${c.codepath}`, `failure_reason: ${c.failure_reason ?? 'None'}`, `success: ${c.success}`);
    out.push(`cost: ${c.cost_usd === null ? 'unknown' : `$${c.cost_usd.toFixed(4)}`} (from ${c.cost_source})`, `tokens: ${c.tokens_in ?? '?'}/${c.tokens_out ?? '?'}`, `oom_killed: ${c.oom_killed}`);
    if (c.stderr_tail.length > 0) out.push('stderr (last lines):', ...c.stderr_tail.slice(-5).map((l) => `  | ${l}`));
  }
  if (d.worktree) {
    out.push(`worktree: ${d.worktree}${d.worktree_exists ? '' : ' (gone)'}`);
    out.push(`latest commit: ${d.latest_commit ? `${d.latest_commit.slice(0, 12)} ${d.latest_commit_subject ?? ''}`.trimEnd() : 'none'}`);
    out.push(`commits ahead: ${d.commits_ahead ?? 'unknown'}`, `uncommitted files: ${d.uncommitted_files === null ? 'unknown' : d.uncommitted_files.length}`);
  }
  out.push(`Recovery: ${d.recovery}`);
  process.stdout.write(out.join('\n') + '\n');
}
