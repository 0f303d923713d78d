// What a dispatch request becomes before anything runs: the adapter (--actor, else the task's assignee, else the
// only one), the repository and the task's worktree in it (created or, with --resume, reused; never reset), the
// brief (the task's content file, with a "prior commits" notice in front when resuming work), the limits, and the
// status move the task needs (start, or a reopen for a failed or rejected task being tried again). Every refusal
// names the problem and the command that fixes it, and is raised before any record is written.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { SplError } from '../kernel/errors.js';
import type { TaskContentState } from '../kernel/wire.js';
import type { Task } from '../engine/folds/tasks.js';
import { CLAUDE_COMMAND, type Adapter, type AdaptersState } from './adapters.js';
import { gitAsync, prepareWorktree, type PreparedWorktree } from './worktree.js';

export interface DispatchRequest {
  /** Task alias or thread id. */
  ref: string;
  /** The adapter's DID; default the task's assignee when it has an adapter, else the only adapter. */
  actor?: string;
  resume?: boolean;
  timeoutSecs?: number;
  lineTimeoutSecs?: number;
  budgetUsd?: number;
  repo?: string;
  /** Start even in the critical memory band. */
  force?: boolean;
  /** Who asked. */
  by: string;
}

export interface DispatchPlan {
  task: Task;
  adapter: Adapter;
  sub: string;
  attempt: number;
  repo: string;
  worktree: string;
  branch: string;
  prepared: PreparedWorktree;
  resume: boolean;
  force: boolean;
  timeoutSecs: number;
  lineTimeoutSecs: number;
  budgetUsd: number | null;
  /** What the agent reads on stdin, and the file {brief} names. */
  brief: string;
  briefPath: string;
  by: string;
  notes: string[];
  /** The status move the request record goes with. */
  move: { to: 'active'; reason?: string } | null;
}

interface PlanContext {
  adapters: AdaptersState;
  attempts: number;
  briefOf(task: Task): string | undefined;
  contentOf(task: Task): TaskContentState;
  dataDir: string;
  mint(purpose: string): string;
}

function pickAdapter(req: DispatchRequest, task: Task, adapters: AdaptersState): Adapter {
  if (req.actor !== undefined) {
    const a = adapters.get(req.actor);
    if (!a) throw new SplError('ADAPTER_NOT_FOUND', `no adapter for ${req.actor}`, { fix: `spl adapter add ${req.actor} --command '…' (spl adapter list shows the adapters)` });
    return a;
  }
  if (task.assigned_to !== null && adapters.has(task.assigned_to)) return adapters.get(task.assigned_to)!;
  if (adapters.size === 1) return [...adapters.values()][0]!;
  if (adapters.size === 0) throw new SplError('NO_ADAPTER', 'no adapter is configured, so there is nothing to dispatch to', { fix: `spl adapter add did:sync:agent:claude --family claude --command '${CLAUDE_COMMAND}'` });
  throw new SplError('NO_ADAPTER', `${adapters.size} adapters are configured and ${task.alias} is assigned to none of them`, { fix: `give one: spl task dispatch ${task.alias} --actor <${[...adapters.keys()].join('|')}>` });
}

/** The status move a dispatch needs, or why the task cannot be dispatched in its status. */
function moveFor(task: Task, attempt: number): DispatchPlan['move'] {
  switch (task.status) {
    case 'inbox':
    case 'blocked':
    case 'deferred':
      return { to: 'active' };
    case 'active':
      return null;
    case 'failed':
    case 'rejected':
      return { to: 'active', reason: `dispatched again (attempt ${attempt})` };
    default:
      throw new SplError('TASK_STATE', `${task.alias} is ${task.status}, and only a task that is not yet done is dispatched`, {
        fix: task.status === 'cancelled' ? `spl task reopen ${task.alias} --reason "…" first` : `spl task show ${task.alias}`,
      });
  }
}

async function repoOf(req: DispatchRequest, task: Task): Promise<string> {
  const given = req.repo ?? task.repo;
  if (given === undefined || given === null) throw new SplError('INVALID_REQUEST', `${task.alias} names no repository to work in`, { field: 'repo', fix: `spl task dispatch ${task.alias} --repo /path/to/repo` });
  if (!isAbsolute(given)) throw new SplError('INVALID_REQUEST', `repo must be an absolute path (got ${given})`, { field: 'repo' });
  if (!existsSync(given)) throw new SplError('INVALID_REQUEST', `repository ${given} does not exist`, { field: 'repo' });
  const top = await gitAsync(given, ['rev-parse', '--show-toplevel']);
  if (!top.ok) throw new SplError('INVALID_REQUEST', `${given} is not in a git repository: ${top.err}`, { field: 'repo', fix: `git -C ${given} init, or give --repo the repository's path` });
  return top.out.trim();
}

function briefFor(task: Task, ctx: PlanContext): string {
  const state = ctx.contentOf(task);
  const text = state.state === 'ok' ? ctx.briefOf(task) : undefined;
  if (text === undefined) {
    throw new SplError('INVALID_REQUEST', `${task.alias}'s brief cannot be used: ${state.state === 'ok' ? 'unreadable' : `${state.state}${state.detail ? ` — ${state.detail}` : ''}`}`, {
      fix: `spl task edit ${task.alias} --body-file <brief.md> writes it again (and records its sha256)`,
    });
  }
  return text;
}

/** The notice a resumed worker reads first: what earlier attempts committed, and what they left uncommitted. */
function resumeNotice(p: PreparedWorktree): string {
  const lines = [`## Resuming ${p.branch}`, ''];
  if (p.prior.length > 0) lines.push('Prior commits on this branch (from earlier attempts; this work is done — do not redo it):', '', ...p.prior.map((c) => `- ${c}`), '');
  if (p.dirty.length > 0) lines.push(`Uncommitted changes an earlier attempt left in the worktree (${p.dirty.length} file(s); review them and keep what is right):`, '', ...p.dirty.slice(0, 50).map((f) => `- ${f}`), '');
  lines.push('Continue from there, and finish with a normal commit on this branch.', '', '---', '');
  return lines.join('\n');
}

const limit = (v: number | undefined, name: string, fallback: number): number => {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0) throw new SplError('INVALID_REQUEST', `${name} must be a positive number of seconds (got ${v})`, { field: name });
  return v;
};

export async function planDispatch(req: DispatchRequest, task: Task, ctx: PlanContext): Promise<DispatchPlan> {
  const adapter = pickAdapter(req, task, ctx.adapters);
  const attempt = ctx.attempts + 1;
  const move = moveFor(task, attempt);
  const timeoutSecs = limit(req.timeoutSecs, 'timeout', adapter.timeout_secs);
  const lineTimeoutSecs = limit(req.lineTimeoutSecs, 'line_timeout', adapter.line_timeout_secs);
  if (req.budgetUsd !== undefined && !(Number.isFinite(req.budgetUsd) && req.budgetUsd > 0)) throw new SplError('INVALID_REQUEST', `budget must be a positive number of USD (got ${req.budgetUsd})`, { field: 'budget' });
  let brief = briefFor(task, ctx);
  const repo = await repoOf(req, task);
  const resume = req.resume === true;
  const prepared = await prepareWorktree(repo, task.alias, resume);
  const notes: string[] = [];
  let briefPath = join(ctx.dataDir, task.content!.path);
  if (resume && prepared.prior.length === 0 && prepared.dirty.length === 0) notes.push(`--resume: ${prepared.path} holds no earlier work (no commits beyond the repository's HEAD, nothing uncommitted); the brief goes as it is`);
  if (resume && (prepared.prior.length > 0 || prepared.dirty.length > 0)) {
    brief = resumeNotice(prepared) + brief;
    const dir = join(ctx.dataDir, 'dispatch');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    briefPath = join(dir, `${task.alias}.attempt-${attempt}.md`);
    writeFileSync(briefPath, brief, { mode: 0o600 });
    notes.push(`--resume: the brief starts with ${prepared.prior.length} prior commit(s) and ${prepared.dirty.length} uncommitted file(s) (${briefPath})`);
  }
  return {
    task, adapter, attempt, sub: ctx.mint(`dispatch:${task.thread}:${attempt}`), repo, worktree: prepared.path, branch: prepared.branch, prepared,
    resume, force: req.force === true, timeoutSecs, lineTimeoutSecs, budgetUsd: req.budgetUsd ?? null, brief, briefPath, by: req.by, notes, move,
  };
}
