// Dispatch (SPEC §11, §13): adapters whose command is not an executable on this PATH (a dispatch to them fails to
// start), worktrees that finished tasks (approved or cancelled) left behind, and dispatches still unfinished past
// their deadline — stuck in a running instance, or left by one that stopped without settling them (its next start
// does). Worktrees are never removed here: only named, with the command, once they hold nothing uncommitted.

import { existsSync } from 'node:fs';
import { commandFound } from '../dispatch/adapters.js';
import { treeState } from '../dispatch/worktree.js';
import { unfinished } from '../dispatch/records.js';
import { ok, skip, warn, type Check } from './check.js';
import { plural } from './format.js';

const NAMED = 3;
/** A dispatch is stuck once it is this far past its deadline (the kill and its grace take a few seconds). */
const STUCK_AFTER_MS = 60_000;

type View = Extract<Awaited<ReturnType<Parameters<Check['run']>[0]['store']>>, { state: 'sound' }>;

function missingCommands(store: View): string[] {
  return [...store.adapters.values()].filter((a) => !commandFound(a.argv[0]!)).map((a) => `${a.did} (${a.argv[0]})`);
}

function leftWorktrees(store: View): Array<{ alias: string; path: string; dirty: number }> {
  const out: Array<{ alias: string; path: string; dirty: number }> = [];
  const seen = new Set<string>();
  for (const d of store.dispatch.dispatches.bySub.values()) {
    const task = store.dispatch.tasks.byThread.get(d.task_thread);
    const path = typeof d.request.worktree === 'string' ? d.request.worktree : null;
    if (!task || path === null || seen.has(path) || !['approved', 'cancelled'].includes(task.status) || !existsSync(path)) continue;
    seen.add(path);
    out.push({ alias: task.alias, path, dirty: treeState(path).dirty.length });
  }
  return out;
}

export const dispatchCheck: Check = {
  id: 'dispatch',
  async run(ctx) {
    const store = await ctx.store();
    if (store === undefined || store.state !== 'sound') return skip('the store cannot be read (see the store row)');
    const adapters = store.adapters.size;
    const dispatches = store.dispatch.dispatches.bySub.size;
    if (adapters === 0 && dispatches === 0) return ok('no adapters and no dispatches yet');
    const problems: string[] = [];
    const fixes: string[] = [];
    const missing = missingCommands(store);
    if (missing.length > 0) {
      problems.push(`${plural(missing.length, 'adapter')} whose command is not an executable on this PATH: ${missing.slice(0, NAMED).join(', ')}${missing.length > NAMED ? '…' : ''}`);
      fixes.push('install the command, or point the adapter at it: spl adapter add <did> --command \'/full/path …\'');
    }
    const left = leftWorktrees(store);
    if (left.length > 0) {
      problems.push(`${plural(left.length, 'worktree')} left behind by finished tasks: ${left.slice(0, NAMED).map((w) => `${w.alias} ${w.path}${w.dirty ? ` (${w.dirty} uncommitted — salvage first)` : ''}`).join(', ')}`);
      const clean = left.find((w) => w.dirty === 0);
      fixes.push(clean ? `git worktree remove ${clean.path} (after checking it holds nothing you need)` : 'salvage the uncommitted work (spl task diagnose <alias>), then git worktree remove <path>');
    }
    const now = ctx.now();
    const running = await ctx.running();
    const stuck = unfinished(store.dispatch.dispatches).filter((d) => typeof d.spawn?.deadline_at === 'string' && Date.parse(d.spawn.deadline_at) + STUCK_AFTER_MS < now);
    if (stuck.length > 0) {
      problems.push(`${plural(stuck.length, 'dispatch', 'dispatches')} past their deadline with no completion: ${stuck.slice(0, NAMED).map((d) => `${d.alias} (pid ${String(d.spawn?.pid)})`).join(', ')}`);
      fixes.push(running ? `spl task interrupt ${stuck[0]!.alias}; if it stays, spl restart (the start settles unfinished dispatches)` : 'spl serve (the start stops leftover workers and marks these dispatches failed)');
    }
    if (problems.length > 0) return warn(problems.join('; '), fixes.join('; '));
    return ok(`${plural(adapters, 'adapter')}, every command found; ${plural(dispatches, 'dispatch', 'dispatches')} recorded, none stuck; no worktree left by a finished task`);
  },
};
