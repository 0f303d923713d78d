// Task operations as records: what `spl task add` and each transition write, checked against the same table the
// tasks fold applies (folds/tasks.ts), so a transition the fold would ignore is refused before it is written —
// 409 TASK_STATE naming the current status and what it allows.

import { SplError } from '../kernel/errors.js';
import { isDid } from '../kernel/did.js';
import type { CelTask, CelTaskLookup } from './cel.js';
import { ALIAS, allowedVerbs, DEFAULT_PREFIX, findTask, nextAlias, TASK_COMMENT, TASK_EDITED, TASK_VERBS, transitionOf, type Task, type TaskStatus, type TaskVerbName, type TasksState } from './folds/tasks.js';

/** A record a task operation writes, before validateRecord fills in its defaults. */
export interface TaskDraft {
  thread: string;
  actor: string;
  act: 'INTEND' | 'DO' | 'KNOW' | 'LEARN';
  body: Record<string, unknown>;
}

/** What a task is created with (POST /v1/tasks). */
export interface TaskSpec {
  title: string;
  brief: string;
  domain?: string;
  priority?: number;
  labels?: string[];
  repo?: string;
  criteria?: string[];
  assign?: string;
  alias?: string;
  prefix?: string;
  /** Filed by spl run: the reconciler routes it (to `to` when given) and dispatches it. */
  run?: { to?: string; timeoutSecs?: number };
}

/** The targets POST /v1/tasks/:ref/transitions accepts, and the verb each one is. */
const TARGETS: Record<string, TaskVerbName> = {
  active: 'start', review: 'done', approved: 'approve', rejected: 'reject', blocked: 'block', deferred: 'defer', cancelled: 'cancel', failed: 'fail', inbox: 'reopen',
};

export interface TransitionRequest {
  to: string;
  reason?: string;
  summary?: string;
  domain?: string;
  notes?: string;
  force?: boolean;
  /** The HEAD commit of the task's working tree when done was claimed. */
  commit?: string;
  /** The files that made the tree dirty, when done was forced. */
  dirty?: string[];
  assign?: string;
}

const PREFIX = /^[A-Z][A-Z0-9]{0,7}$/;

/** Checks a new task's fields and picks its alias (the next one for its prefix unless one is given). */
export function planTask(state: TasksState, spec: TaskSpec): { alias: string } {
  if (typeof spec.title !== 'string' || spec.title.trim() === '') throw new SplError('INVALID_REQUEST', 'a task needs a title', { field: 'title' });
  if (spec.assign !== undefined && !isDid(spec.assign)) throw new SplError('INVALID_REQUEST', `assign must be a DID (got ${spec.assign})`, { field: 'assign' });
  if (spec.run?.to !== undefined && !isDid(spec.run.to)) throw new SplError('INVALID_REQUEST', `to must be a DID (got ${spec.run.to})`, { field: 'to' });
  if (spec.priority !== undefined && !Number.isInteger(spec.priority)) throw new SplError('INVALID_REQUEST', `priority must be a whole number (got ${String(spec.priority)})`, { field: 'priority' });
  if (spec.alias !== undefined) {
    const alias = spec.alias.toUpperCase();
    if (!ALIAS.test(alias)) throw new SplError('INVALID_REQUEST', `alias ${spec.alias} is not PREFIX-NNNN (a capital letter, up to 7 more letters or digits, a dash, 1–6 digits)`, { field: 'alias' });
    if (state.byAlias.has(alias)) throw new SplError('ALREADY_EXISTS', `alias ${alias} is taken by ${state.byAlias.get(alias)}`, { field: 'alias', fix: 'leave --alias out to get the next free one' });
    return { alias };
  }
  const prefix = (spec.prefix ?? DEFAULT_PREFIX).toUpperCase();
  if (!PREFIX.test(prefix)) throw new SplError('INVALID_REQUEST', `prefix ${spec.prefix} is not a capital letter and up to 7 more letters or digits`, { field: 'prefix' });
  return { alias: nextAlias(state, prefix) };
}

/** The INTEND that opens a task's thread. */
export function taskIntend(thread: string, actor: string, alias: string, spec: TaskSpec, content: { path: string; sha256: string; bytes: number }): TaskDraft {
  return {
    thread, actor, act: 'INTEND',
    body: {
      task: true, topic: 'task_created', alias, title: spec.title.trim(),
      ...(spec.domain ? { domain: spec.domain } : {}),
      priority: spec.priority ?? 0,
      ...(spec.labels?.length ? { labels: spec.labels } : {}),
      ...(spec.repo ? { repo: spec.repo } : {}),
      ...(spec.criteria?.length ? { criteria: spec.criteria } : {}),
      ...(spec.assign ? { assign: spec.assign } : {}),
      ...(spec.run ? { run: true, goal: spec.title.trim(), ...(spec.run.to ? { to: spec.run.to } : {}), ...(spec.run.timeoutSecs ? { timeout_secs: spec.run.timeoutSecs } : {}) } : {}),
      content,
    },
  };
}

/** The verb a transition request performs on `task` (`to: active` on a failed task is a reopen that starts it). */
function verbFor(task: Task, to: string): { verb: TaskVerbName; start: boolean } {
  const verb = TARGETS[to];
  if (verb === undefined) throw new SplError('INVALID_REQUEST', `to must be one of ${Object.keys(TARGETS).join(', ')} (got ${to})`, { field: 'to' });
  if (verb === 'start' && (TASK_VERBS.reopen.from as readonly TaskStatus[]).includes(task.status)) return { verb: 'reopen', start: true };
  return { verb, start: false };
}

function refuse(task: Task, why: string): SplError {
  const allowed = allowedVerbs(task.status);
  return new SplError('TASK_STATE', `${task.alias} is ${task.status}: ${why}`, {
    fix: allowed.length ? `from ${task.status} a task may: ${allowed.join(', ')} (spl task show ${task.alias})` : `${task.alias} is ${task.status}, which is final`,
  });
}

/**
 * The record a transition writes, after checking it is allowed, has its reason, and (for a verdict) whose claim
 * it judges. `self` is true for a verdict by the actor who claimed done: stored, but it decides nothing.
 */
export function planTransition(task: Task, actor: string, req: TransitionRequest): { draft: TaskDraft; verb: TaskVerbName; self: boolean } {
  const { verb, start } = verbFor(task, req.to);
  const t = transitionOf(task.status, verb, start);
  if ('refused' in t) throw refuse(task, t.refused);
  const spec = TASK_VERBS[verb];
  const reason = typeof req.reason === 'string' ? req.reason.trim() : '';
  if (spec.reason && reason === '') throw new SplError('INVALID_REQUEST', `${verb} needs a reason`, { field: 'reason', fix: `spl task ${verb} ${task.alias} --reason "…"` });
  if (req.assign !== undefined && !isDid(req.assign)) throw new SplError('INVALID_REQUEST', `assign must be a DID (got ${req.assign})`, { field: 'assign' });
  const body: Record<string, unknown> = { topic: spec.topic, alias: task.alias, ...(reason ? { reason } : {}) };
  const verdict = verb === 'approve' || verb === 'reject';
  const self = verdict && task.claim?.actor === actor;
  if (verb === 'done') Object.assign(body, doneBody(task, req));
  if (verdict) Object.assign(body, verdictBody(task, actor, verb, req));
  if (verb === 'reopen' && start) body.start = true;
  if ((verb === 'start' || start) && req.assign) body.assign = req.assign;
  const draft: TaskDraft = { thread: task.thread, actor, act: spec.act, body };
  return { draft, verb, self };
}

function doneBody(task: Task, req: TransitionRequest): Record<string, unknown> {
  const domain = req.domain ?? task.domain ?? undefined;
  return {
    ...(req.summary ? { summary: req.summary } : {}),
    ...(domain ? { domain } : {}),
    ...(req.commit ? { commit: req.commit } : {}),
    ...(req.force ? { forced: true, ...(req.dirty?.length ? { dirty: req.dirty.slice(0, 50) } : {}) } : {}),
  };
}

/**
 * A verdict on the latest done claim. From another actor it is trust evidence (SPEC §4): body.verdict,
 * body.domain and body.judged_by (the claimant), which the trust fold reads; from the claimant itself it is
 * marked self and the trust fold ignores it too.
 */
function verdictBody(task: Task, actor: string, verb: 'approve' | 'reject', req: TransitionRequest): Record<string, unknown> {
  const claim = task.claim;
  if (claim === null) throw refuse(task, 'there is no done claim to judge');
  const domain = req.domain ?? claim.domain ?? task.domain ?? undefined;
  const self = claim.actor === actor;
  return {
    verdict: verb === 'approve' ? 'accept' : 'reject',
    judged_by: claim.actor,
    reviews: claim.record,
    ...(domain ? { domain } : {}),
    ...(req.notes ? { review_notes: req.notes } : {}),
    ...(verb === 'approve' && !self ? { fulfills: task.record } : {}),
    ...(self ? { self: true } : {}),
  };
}

/** A comment on the task's thread. */
export function commentDraft(task: Task, actor: string, text: string): TaskDraft {
  if (typeof text !== 'string' || text.trim() === '') throw new SplError('INVALID_REQUEST', 'a comment needs text', { field: 'text' });
  return { thread: task.thread, actor, act: 'KNOW', body: { topic: TASK_COMMENT, alias: task.alias, text } };
}

/** New content (and optionally title or priority) for a task. */
export function editDraft(task: Task, actor: string, edit: { content?: { path: string; sha256: string; bytes: number }; title?: string; priority?: number }): TaskDraft {
  if (edit.priority !== undefined && !Number.isInteger(edit.priority)) throw new SplError('INVALID_REQUEST', `priority must be a whole number (got ${String(edit.priority)})`, { field: 'priority' });
  if (edit.title !== undefined && edit.title.trim() === '') throw new SplError('INVALID_REQUEST', 'the title cannot be empty', { field: 'title' });
  if (!edit.content && edit.title === undefined && edit.priority === undefined) throw new SplError('INVALID_REQUEST', 'nothing to edit: give a body, a title or a priority');
  return {
    thread: task.thread, actor, act: 'LEARN',
    body: { topic: TASK_EDITED, alias: task.alias, ...(edit.content ? { content: edit.content } : {}), ...(edit.title !== undefined ? { title: edit.title.trim() } : {}), ...(edit.priority !== undefined ? { priority: edit.priority } : {}) },
  };
}

/** The tasks as rules see them at `atMs` (SPEC §4): `task(alias)` looks one up, `tasks` lists all. */
export function taskLookupAt(state: TasksState, atMs: number): CelTaskLookup {
  const view = (t: Task): CelTask => ({
    alias: t.alias, status: t.status, priority: t.priority, assigned_to: t.assigned_to, domain: t.domain, title: t.title,
    age_secs: Math.max(0, Math.floor((atMs - Date.parse(t.created_at)) / 1000)),
  });
  return {
    get: (alias) => {
      const t = findTask(state, alias);
      return t ? view(t) : undefined;
    },
    all: () => [...state.byThread.values()].map(view),
  };
}
