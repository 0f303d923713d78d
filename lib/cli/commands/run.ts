// spl run <goal>: files the goal as a task (an INTEND the reconciler routes — body.to, a routing rule, the
// highest-trust actor with an adapter — and dispatches), then follows it to an outcome: done, failed, timed_out or
// not_routed. Exits 0 only on done.

import { resolve } from 'node:path';
import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import type { TaskDetail } from '../../kernel/wire.js';
import { commandContext, type GlobalFlags } from '../context.js';
import { printJson } from '../output.js';

interface RunFlags extends GlobalFlags {
  domain?: string;
  to?: string;
  timeout?: string | number;
  repo?: string;
}

type Outcome = 'done' | 'failed' | 'timed_out' | 'not_routed';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Where a run stands: an outcome once there is one. */
function outcomeOf(t: TaskDetail): Outcome | null {
  if (t.routing && !t.routing.routed) return 'not_routed';
  if (t.status === 'review' || t.status === 'approved') return 'done';
  const last = t.attempts.at(-1);
  if (t.status === 'failed' || t.status === 'cancelled' || t.status === 'rejected') {
    return last?.failure_reason === 'line_timeout' || last?.failure_reason === 'budget_exceeded' ? 'timed_out' : 'failed';
  }
  // Succeeded, but the completion gate keeps it active (uncommitted files): the run is over, not done.
  if (t.status === 'active' && last?.success === true && t.dispatch === null) return 'failed';
  return null;
}

export function register(prog: Sade): void {
  prog
    .command('run <goal>')
    .describe('File a goal, let the reconciler route and dispatch it, and follow it to an outcome (done|failed|timed_out|not_routed); exit 0 only on done')
    .option('--domain', 'The domain to route by (trust) and review in')
    .option('--to', 'Dispatch to this actor\'s adapter, skipping routing')
    .option('--timeout', 'Wall-clock deadline of the run in seconds (default: the adapter\'s)')
    .option('--repo', 'The git repository the worker runs in (default: the one here)')
    .example('run "fix the flaky parser test" --domain code')
    .example('run "tidy the README" --to did:sync:agent:claude --timeout 600')
    .action(async (goal: string, flags: RunFlags) => {
      const ctx = commandContext(flags);
      const repo = flags.repo ?? (await import('../../dispatch/worktree.js')).repoTop(process.cwd());
      if (repo === null) throw new SplError('USAGE', 'spl run needs a git repository for the worker: run it inside one, or give --repo PATH');
      const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout);
      if (timeout !== undefined && !(timeout > 0)) throw new SplError('USAGE', `--timeout must be a positive number of seconds (got ${flags.timeout})`);
      const client = ctx.client();
      const t = (await client.call<TaskDetail>('POST', '/v1/runs', {
        goal: String(goal), repo: resolve(String(repo)),
        ...(flags.domain !== undefined ? { domain: String(flags.domain) } : {}),
        ...(flags.to !== undefined ? { to: String(flags.to) } : {}),
        ...(timeout !== undefined ? { timeout_secs: timeout } : {}),
      })).body;
      if (!ctx.json) process.stdout.write(`run ${t.thread}\n  task ${t.alias}\n`);
      const final = await follow(t.alias, (p) => client.call<TaskDetail>('GET', p).then((r) => r.body), ctx.json);
      const outcome = outcomeOf(final) ?? 'timed_out';
      if (ctx.json) printJson({ object: 'run', outcome, task: final });
      else printOutcome(final, outcome);
      process.exitCode = outcome === 'done' ? 0 : 1;
    });
}

/** Polls the task until it has an outcome; prints routing and dispatch as they happen. */
async function follow(alias: string, get: (path: string) => Promise<TaskDetail>, quiet: boolean): Promise<TaskDetail> {
  let said = '';
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    const t = await get(`/v1/tasks/${encodeURIComponent(alias)}`);
    const line = t.routing ? (t.routing.routed ? `  routed to ${t.routing.target} (${t.routing.reason})${t.dispatch ? `\n  ${t.dispatch.state}${t.dispatch.pid ? ` as pid ${t.dispatch.pid}` : ''}` : ''}` : `  not routed: ${t.routing.reason}`) : '';
    if (!quiet && line !== said && line !== '') {
      process.stdout.write(line.startsWith(said) && said !== '' ? line.slice(said.length) + '\n' : line + '\n');
      said = line;
    }
    if (outcomeOf(t) !== null) return t;
    await sleep(wait);
  }
}

function printOutcome(t: TaskDetail, outcome: Outcome): void {
  const last = t.attempts.at(-1);
  if (last) process.stdout.write(`  attempt: ${last.success ? 'succeeded' : `failed (${last.failure_reason ?? 'unknown'})`}${last.cost_usd !== null ? `, $${last.cost_usd.toFixed(4)}` : ''}\n`);
  if (t.claim?.summary) process.stdout.write(`  summary: ${t.claim.summary}\n`);
  process.stdout.write(`outcome: ${outcome}\n`);
  if (outcome !== 'done' && outcome !== 'not_routed') process.stdout.write(`  spl task diagnose ${t.alias} shows what happened\n`);
}
