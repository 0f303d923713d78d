// Tasks (SPEC §4, §11): a task is the thread opened by an INTEND with body.task = true and a body.alias. Its
// status is derived here, never stored: each transition is one record whose body.topic names it, and the
// transition table below is the one the API checks before it writes, so a record the API would refuse (written
// straight to /v1/records, or losing a race) changes nothing here either and shows in the history as such.

import type { StoredRecord } from '../../kernel/record.js';
import type { TaskAttemptView, TaskDetail, TaskHistoryView } from '../../kernel/wire.js';
import type { Fold } from '../fold.js';

export const TASK_STATUSES = ['inbox', 'active', 'review', 'approved', 'blocked', 'deferred', 'rejected', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses `spl task list` leaves out unless --all or --status names them: the work is over. */
export const CLOSED_STATUSES: readonly TaskStatus[] = ['approved', 'cancelled'];

/** What a transition record looks like, which statuses it may leave, and where it goes. */
interface TaskVerb {
  topic: string;
  act: 'DO' | 'KNOW';
  from: readonly TaskStatus[];
  to: TaskStatus;
  /** A reason is required (block, defer, cancel, reject, fail, reopen). */
  reason: boolean;
}

export const TASK_VERBS = {
  start: { topic: 'task_started', act: 'DO', from: ['inbox', 'blocked', 'deferred'], to: 'active', reason: false },
  done: { topic: 'task_done_claim', act: 'KNOW', from: ['inbox', 'active'], to: 'review', reason: false },
  approve: { topic: 'task_verdict', act: 'KNOW', from: ['review'], to: 'approved', reason: false },
  reject: { topic: 'task_verdict', act: 'KNOW', from: ['review'], to: 'rejected', reason: true },
  block: { topic: 'task_blocked', act: 'DO', from: ['inbox', 'active', 'deferred'], to: 'blocked', reason: true },
  defer: { topic: 'task_deferred', act: 'DO', from: ['inbox', 'active', 'blocked'], to: 'deferred', reason: true },
  cancel: { topic: 'task_cancelled', act: 'DO', from: ['inbox', 'active', 'blocked', 'deferred', 'review'], to: 'cancelled', reason: true },
  fail: { topic: 'task_failed', act: 'DO', from: ['inbox', 'active', 'blocked', 'review'], to: 'failed', reason: true },
  reopen: { topic: 'task_reopened', act: 'DO', from: ['failed', 'rejected', 'cancelled'], to: 'inbox', reason: true },
} as const satisfies Record<string, TaskVerb>;
export type TaskVerbName = keyof typeof TASK_VERBS;

/** Records on a task thread that change no status. */
export const TASK_EDITED = 'task_edited';
export const TASK_COMMENT = 'task_comment';
/** A dispatch asked for (its records are on the sub-thread it names), and how spl run's reconciler routed the task. */
export const TASK_DISPATCHED = 'dispatch_requested';
export const TASK_ROUTED = 'task_routed';
export const TASK_NOT_ROUTED = 'task_not_routed';
/** A dispatch's completion (on its sub-thread): one attempt of the task it names. */
const DISPATCH_COMPLETE = 'syncropel.dispatch.complete.v1';

/** `PREFIX-NNNN` (SPEC §1b). */
export const ALIAS = /^([A-Z][A-Z0-9]{0,7})-([0-9]{1,6})$/;
export const DEFAULT_PREFIX = 'TASK';

function formatAlias(prefix: string, n: number): string {
  return `${prefix}-${String(n).padStart(4, '0')}`;
}

export interface TaskContent {
  /** Relative to the task data directory (`tasks/<ALIAS>.md`). */
  path: string;
  sha256: string;
  bytes: number;
  /** The record that set this content. */
  record: string;
}

type TaskClaim = NonNullable<TaskDetail['claim']>;

/** One record on the task's thread, as GET /v1/tasks/:ref shows it; `to` equals `from` when it changed nothing. */
interface TaskHistoryEntry extends TaskHistoryView {
  from: TaskStatus;
  to: TaskStatus;
}

/** A dispatch attempt on the task (the API's shape: the fold keeps exactly what GET /v1/tasks/:ref shows). */
type TaskAttempt = TaskAttemptView;

export interface Task {
  thread: string;
  alias: string;
  title: string;
  domain: string | null;
  priority: number;
  labels: string[];
  repo: string | null;
  criteria: string[];
  status: TaskStatus;
  assigned_to: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  /** The opening INTEND. */
  record: string;
  content: TaskContent | null;
  claim: TaskClaim | null;
  history: TaskHistoryEntry[];
  attempts: TaskAttempt[];
  routing: TaskRouting | null;
  /** Filed by spl run: the reconciler routes it. */
  run: boolean;
}

type TaskRouting = NonNullable<TaskDetail['routing']>;

export interface TasksState {
  byThread: Map<string, Task>;
  byAlias: Map<string, string>;
  /** Highest number used per alias prefix. */
  highest: Map<string, number>;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function contentOf(body: Record<string, unknown>, record: string): TaskContent | null {
  const c = body.content as { path?: unknown; sha256?: unknown; bytes?: unknown } | undefined;
  if (!c || typeof c !== 'object' || typeof c.path !== 'string' || typeof c.sha256 !== 'string') return null;
  return { path: c.path, sha256: c.sha256, bytes: typeof c.bytes === 'number' ? c.bytes : 0, record };
}

/** The verb a record on a task thread performs, or undefined for one that is no transition. */
function verbOf(r: StoredRecord): TaskVerbName | undefined {
  const topic = r.body.topic;
  if (topic === 'task_verdict') return r.body.verdict === 'accept' ? 'approve' : r.body.verdict === 'reject' ? 'reject' : undefined;
  for (const [name, v] of Object.entries(TASK_VERBS)) if (v.topic === topic && v.act === r.act) return name as TaskVerbName;
  return undefined;
}

/** Where `verb` takes a task in `status` (reopen --start goes to active), or why it cannot. */
export function transitionOf(status: TaskStatus, verb: TaskVerbName, start = false): { to: TaskStatus } | { refused: string } {
  const v: TaskVerb = TASK_VERBS[verb];
  if (!v.from.includes(status)) return { refused: `${verb} is not allowed from ${status} (only from ${v.from.join(', ')})` };
  return { to: verb === 'reopen' && start ? 'active' : v.to };
}

/** The verbs a task in `status` allows. */
export function allowedVerbs(status: TaskStatus): TaskVerbName[] {
  return (Object.keys(TASK_VERBS) as TaskVerbName[]).filter((v) => (TASK_VERBS[v].from as readonly TaskStatus[]).includes(status));
}

function open(state: TasksState, r: StoredRecord): void {
  const alias = str(r.body.alias);
  const m = alias === null ? null : ALIAS.exec(alias);
  if (alias === null || m === null || state.byAlias.has(alias) || state.byThread.has(r.thread)) return;
  const priority = typeof r.body.priority === 'number' && Number.isFinite(r.body.priority) ? r.body.priority : 0;
  state.byThread.set(r.thread, {
    thread: r.thread, alias,
    title: str(r.body.title) ?? str(r.body.goal) ?? str(r.body.text) ?? alias,
    domain: str(r.body.domain), priority, labels: strings(r.body.labels), repo: str(r.body.repo), criteria: strings(r.body.criteria),
    status: 'inbox', assigned_to: str(r.body.assign), created_by: r.actor, created_at: r.created_at, updated_at: r.created_at,
    record: r.id, content: contentOf(r.body, r.id), claim: null, attempts: [], routing: null, run: r.body.run === true,
    history: [{ sequence: r.sequence, clock: r.clock, act: r.act, actor: r.actor, topic: str(r.body.topic) ?? 'task_created', record: r.id, at: r.created_at, from: 'inbox', to: 'inbox' }],
  });
  state.byAlias.set(alias, r.thread);
  const n = Number(m[2]);
  if (n > (state.highest.get(m[1]!) ?? 0)) state.highest.set(m[1]!, n);
}

function entry(task: Task, r: StoredRecord, topic: string, to: TaskStatus, note?: string): TaskHistoryEntry {
  return { sequence: r.sequence, clock: r.clock, act: r.act, actor: r.actor, topic, record: r.id, at: r.created_at, from: task.status, to, ...(note ? { note } : {}) };
}

/** Applies one transition record: the status moves only when the table allows it (and a verdict is not the claimant's own). */
function transition(task: Task, r: StoredRecord, verb: TaskVerbName): TaskHistoryEntry {
  const topic = String(r.body.topic);
  const t = transitionOf(task.status, verb, r.body.start === true);
  if ('refused' in t) return entry(task, r, topic, task.status, `no change: ${t.refused}`);
  if ((verb === 'approve' || verb === 'reject') && task.claim?.actor === r.actor) {
    return entry(task, r, topic, task.status, `no change: a ${verb === 'approve' ? 'self-approval' : 'self-rejection'} by the actor who claimed done is stored but decides nothing`);
  }
  const e = entry(task, r, topic, t.to);
  if (verb === 'done') {
    task.claim = { actor: r.actor, record: r.id, summary: str(r.body.summary), domain: str(r.body.domain), commit: str(r.body.commit), forced: r.body.forced === true };
  }
  if (verb === 'start' || (verb === 'reopen' && t.to === 'active')) task.assigned_to = str(r.body.assign) ?? task.assigned_to ?? r.actor;
  if (verb === 'reopen') task.claim = null;
  task.status = t.to;
  return e;
}

function edit(task: Task, r: StoredRecord): TaskHistoryEntry {
  const content = contentOf(r.body, r.id);
  if (content) task.content = content;
  const title = str(r.body.title);
  if (title) task.title = title;
  if (typeof r.body.priority === 'number' && Number.isFinite(r.body.priority)) task.priority = r.body.priority;
  return entry(task, r, TASK_EDITED, task.status);
}

/** A dispatch completion on a sub-thread: one more attempt of the task it names. */
function attempt(state: TasksState, r: StoredRecord): void {
  const task = typeof r.body.task_thread === 'string' ? state.byThread.get(r.body.task_thread) : undefined;
  if (task === undefined) return;
  const cost = typeof r.body.cost_usd === 'number' && Number.isFinite(r.body.cost_usd) ? r.body.cost_usd : null;
  task.attempts.push({ record: r.id, at: r.created_at, success: r.body.success === true, cost_usd: cost, failure_reason: str(r.body.failure_reason) });
}

function routed(task: Task, r: StoredRecord): TaskHistoryEntry {
  task.routing = { routed: r.body.topic === TASK_ROUTED, target: str(r.body.target), via: str(r.body.via) ?? '', reason: str(r.body.reason) ?? '', record: r.id };
  return entry(task, r, String(r.body.topic), task.status);
}

export const tasksFold: Fold<TasksState> = {
  name: 'tasks',
  init: () => ({ byThread: new Map(), byAlias: new Map(), highest: new Map() }),
  apply(state, r: StoredRecord) {
    if (r.act === 'INTEND' && r.body.task === true && !state.byThread.has(r.thread)) {
      open(state, r);
      return state;
    }
    const task = state.byThread.get(r.thread);
    if (task === undefined) {
      if (r.body.kind === DISPATCH_COMPLETE) attempt(state, r);
      return state;
    }
    const topic = r.body.topic;
    const verb = verbOf(r);
    let e: TaskHistoryEntry | undefined;
    if (verb !== undefined) e = transition(task, r, verb);
    else if (topic === TASK_EDITED) e = edit(task, r);
    else if (topic === TASK_COMMENT || topic === TASK_DISPATCHED) e = entry(task, r, topic, task.status);
    else if (topic === TASK_ROUTED || topic === TASK_NOT_ROUTED) e = routed(task, r);
    if (e) {
      task.history.push(e);
      task.updated_at = r.created_at;
    }
    return state;
  },
};

/** A task by alias (any case) or thread id. */
export function findTask(state: TasksState, ref: string): Task | undefined {
  const byThread = state.byThread.get(ref);
  if (byThread) return byThread;
  const thread = state.byAlias.get(ref.toUpperCase());
  return thread === undefined ? undefined : state.byThread.get(thread);
}

/** The next free alias for `prefix`: one past the highest number it has used. */
export function nextAlias(state: TasksState, prefix: string): string {
  return formatAlias(prefix, (state.highest.get(prefix) ?? 0) + 1);
}
