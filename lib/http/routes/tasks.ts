// Tasks (SPEC §11): list and show from the tasks fold, add (content file + INTEND), transitions, comments and
// content edits. Task writes are taken one at a time, so each is checked against the state the one before it
// left (an append resolves only once the folds hold it); everything is written through RecordLog.append.

import { requireUnfrozen } from '../fleet-control.js';
import { SplError } from '../../kernel/errors.js';
import { mintThreadId } from '../../kernel/id.js';
import { validateRecord } from '../../kernel/record.js';
import { allowedVerbs, CLOSED_STATUSES, findTask, TASK_STATUSES, tasksFold, type Task, type TasksState, type TaskStatus } from '../../engine/folds/tasks.js';
import { commentDraft, editDraft, planTask, planTransition, taskIntend, type TaskDraft, type TaskSpec, type TransitionRequest } from '../../engine/tasks.js';
import type { ListBody, TaskDetail, TaskSummary, TaskTransitionReply } from '../../kernel/wire.js';
import { readJsonObject } from '../body.js';
import type { ApiDeps } from '../context.js';
import { stringParam } from '../params.js';
import { type Routes } from '../route.js';

type Body = Record<string, unknown>;

function summarize(task: Task, nowMs: number): TaskSummary {
  return {
    object: 'task', alias: task.alias, thread: task.thread, title: task.title, status: task.status, priority: task.priority,
    domain: task.domain, labels: task.labels, assigned_to: task.assigned_to, created_by: task.created_by,
    created_at: task.created_at, updated_at: task.updated_at, age_secs: Math.max(0, Math.floor((nowMs - Date.parse(task.created_at)) / 1000)),
  };
}

/** Highest priority first, then by alias prefix and number (keys computed once, not per comparison). */
function byPriority(tasks: Iterable<Task>): Task[] {
  const keyed = [...tasks].map((t) => {
    const dash = t.alias.lastIndexOf('-');
    return { t, prefix: t.alias.slice(0, dash), n: Number(t.alias.slice(dash + 1)) };
  });
  keyed.sort((a, b) => b.t.priority - a.t.priority || (a.prefix === b.prefix ? a.n - b.n : a.prefix < b.prefix ? -1 : 1));
  return keyed.map((k) => k.t);
}

function optString(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new SplError('INVALID_REQUEST', `${key} must be a string`, { field: key });
  return v;
}

function optStrings(b: Body, key: string): string[] | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new SplError('INVALID_REQUEST', `${key} must be a list of strings`, { field: key });
  return v as string[];
}

function optInt(b: Body, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new SplError('INVALID_REQUEST', `${key} must be a whole number`, { field: key });
  return v;
}

function specOf(b: Body): TaskSpec {
  const title = optString(b, 'title');
  if (title === undefined) throw new SplError('INVALID_REQUEST', 'a task needs a title', { field: 'title' });
  const spec: TaskSpec = { title, brief: optString(b, 'body') ?? '' };
  for (const k of ['domain', 'repo', 'assign', 'alias', 'prefix'] as const) {
    const v = optString(b, k);
    if (v !== undefined) spec[k] = v;
  }
  const priority = optInt(b, 'priority');
  if (priority !== undefined) spec.priority = priority;
  for (const k of ['labels', 'criteria'] as const) {
    const v = optStrings(b, k);
    if (v !== undefined) spec[k] = v;
  }
  return spec;
}

function transitionOf(b: Body): TransitionRequest {
  const to = optString(b, 'to');
  if (to === undefined) throw new SplError('INVALID_REQUEST', 'to is required: the status to move the task to', { field: 'to' });
  const req: TransitionRequest = { to };
  for (const k of ['reason', 'summary', 'domain', 'notes', 'commit', 'assign'] as const) {
    const v = optString(b, k);
    if (v !== undefined) req[k] = v;
  }
  if (b.force !== undefined && typeof b.force !== 'boolean') throw new SplError('INVALID_REQUEST', 'force must be true or false', { field: 'force' });
  if (b.force === true) req.force = true;
  const dirty = optStrings(b, 'dirty');
  if (dirty !== undefined) req.dirty = dirty;
  return req;
}

/** What every task route shares: the fold's state, lookups, replies, appends, and the one-at-a-time queue. */
interface TaskApi {
  deps: ApiDeps;
  now: () => number;
  state(): TasksState;
  task(ref: string): Task;
  detail(t: Task): TaskDetail;
  append(draft: TaskDraft): Promise<string>;
  serially<T>(work: () => Promise<T>): Promise<T>;
  log: ApiDeps['logger'];
}

function taskApi(deps: ApiDeps): TaskApi {
  const now = deps.now ?? Date.now;
  const state = (): TasksState => deps.engine.state(tasksFold);
  // One task write at a time: each sees the state the previous one left.
  let queue: Promise<unknown> = Promise.resolve();
  const task = (ref: string): Task => {
    const t = findTask(state(), ref);
    if (!t) throw new SplError('TASK_NOT_FOUND', `no task ${ref}`, { fix: 'spl task list --all shows the tasks this instance holds' });
    return t;
  };
  return {
    deps, now, state, task,
    log: deps.logger.child({ target: 'syncropel_engine::tasks' }),
    detail: (t) => ({
      ...summarize(t, now()), repo: t.repo, criteria: t.criteria, record: t.record, claim: t.claim,
      content: deps.taskFiles.check(t.content), allowed: allowedVerbs(t.status), history: t.history, attempts: t.attempts,
      dispatch: deps.dispatch?.liveOf(t.thread) ?? null, routing: t.routing,
    }),
    append: async (draft) => {
      const record = validateRecord(draft);
      requireUnfrozen(deps, record.actor, record);
      return (await deps.log.append([record]))[0]!.record.id;
    },
    serially<T>(work: () => Promise<T>): Promise<T> {
      const next = queue.then(work, work);
      queue = next.catch(() => undefined);
      return next;
    },
  };
}

export function taskRoutes(api: Routes, deps: ApiDeps): void {
  const ta = taskApi(deps);
  readRoutes(api, ta);
  addRoute(api, ta);
  transitionRoute(api, ta);
  noteRoutes(api, ta);
}

function readRoutes(api: Routes, ta: TaskApi): void {
  api.get('/v1/tasks', 'task_read', (ctx) => {
    const status = stringParam(ctx.query.status, 'status', (s) => (TASK_STATUSES as readonly string[]).includes(s), `one of ${TASK_STATUSES.join(', ')}`) as TaskStatus | undefined;
    const domain = stringParam(ctx.query.domain, 'domain');
    const all = ctx.query.all === 'true';
    const at = ta.now();
    const data: TaskSummary[] = [];
    for (const t of byPriority(ta.state().byThread.values())) {
      if (status !== undefined ? t.status !== status : !all && CLOSED_STATUSES.includes(t.status)) continue;
      if (domain !== undefined && t.domain !== domain) continue;
      data.push(summarize(t, at));
    }
    ctx.body = { object: 'list', data } satisfies ListBody<TaskSummary>;
  });

  api.get('/v1/tasks/:ref', 'task_read', (ctx) => {
    ctx.body = ta.detail(ta.task(ctx.params.ref!));
  });
}

/** Writes the content file and the opening INTEND, one task at a time; the file goes again if the INTEND fails. */
function createTask(ta: TaskApi, actor: string, spec: TaskSpec): Promise<TaskDetail> {
  return ta.serially(async () => {
    const { alias } = planTask(ta.state(), spec);
    const thread = mintThreadId(actor, JSON.stringify({ alias, title: spec.title }));
    const content = ta.deps.taskFiles.write({ alias, thread, title: spec.title.trim() }, spec.brief);
    try {
      await ta.append(taskIntend(thread, actor, alias, spec, content));
    } catch (err) {
      ta.deps.taskFiles.discard(content.path);
      throw err;
    }
    ta.log.info({ actor, thread, alias }, `task ${alias} added${spec.run ? ' by spl run' : ''}`);
    return ta.detail(ta.task(alias));
  });
}

function addRoute(api: Routes, ta: TaskApi): void {
  api.post('/v1/tasks', 'task_write', async (ctx) => {
    const spec = specOf(await readJsonObject(ctx, ta.deps.bodyLimit));
    ctx.body = await createTask(ta, ctx.state.actor, spec);
    ctx.status = 201;
  });

  // spl run: a task whose INTEND the reconciler routes and dispatches (SPEC §11).
  api.post('/v1/runs', 'dispatch', async (ctx) => {
    const b = await readJsonObject(ctx, ta.deps.bodyLimit);
    const goal = optString(b, 'goal');
    if (goal === undefined || goal.trim() === '') throw new SplError('INVALID_REQUEST', 'a run needs a goal', { field: 'goal' });
    const timeout = b.timeout_secs;
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) throw new SplError('INVALID_REQUEST', 'timeout_secs must be a positive number', { field: 'timeout_secs' });
    const to = optString(b, 'to');
    const spec: TaskSpec = { title: goal.split('\n')[0]!.slice(0, 200), brief: goal, prefix: 'RUN', run: { ...(to ? { to } : {}), ...(typeof timeout === 'number' ? { timeoutSecs: timeout } : {}) } };
    for (const k of ['domain', 'repo'] as const) {
      const v = optString(b, k);
      if (v !== undefined) spec[k] = v;
    }
    ctx.body = await createTask(ta, ctx.state.actor, spec);
    ctx.status = 201;
  });
}

function transitionRoute(api: Routes, ta: TaskApi): void {
  api.post('/v1/tasks/:ref/transitions', 'task_write', async (ctx) => {
    const req = transitionOf(await readJsonObject(ctx, ta.deps.bodyLimit));
    const actor = ctx.state.actor;
    ctx.body = await ta.serially(async (): Promise<TaskTransitionReply> => {
      const t = ta.task(ctx.params.ref!);
      const from = t.status;
      const plan = planTransition(t, actor, req);
      const record = await ta.append(plan.draft);
      const after = ta.task(t.thread);
      ta.log.info({ actor, thread: t.thread, record, alias: t.alias }, `task ${t.alias} ${plan.verb}: ${from} → ${after.status}${plan.self ? ' (a self-verdict: stored, decides nothing)' : ''}`);
      return { object: 'task_transition', record, verb: plan.verb, from, to: after.status, self: plan.self, trust: trustOf(plan.draft.body, plan.self), task: ta.detail(after) };
    });
    ctx.status = 201;
  });
}

function noteRoutes(api: Routes, ta: TaskApi): void {
  api.post('/v1/tasks/:ref/comments', 'task_write', async (ctx) => {
    const text = optString(await readJsonObject(ctx, ta.deps.bodyLimit), 'text') ?? '';
    const t = ta.task(ctx.params.ref!);
    ctx.body = { object: 'task_comment', record: await ta.append(commentDraft(t, ctx.state.actor, text)), task: t.alias };
    ctx.status = 201;
  });

  api.post('/v1/tasks/:ref/content', 'task_write', async (ctx) => {
    const b = await readJsonObject(ctx, ta.deps.bodyLimit);
    const actor = ctx.state.actor;
    ctx.body = await ta.serially(async () => {
      const t = ta.task(ctx.params.ref!);
      const brief = optString(b, 'body');
      const title = optString(b, 'title');
      const priority = optInt(b, 'priority');
      const content = brief !== undefined || title !== undefined ? rewrite(ta, t, brief, title) : undefined;
      await ta.append(editDraft(t, actor, { ...(content ? { content } : {}), ...(title !== undefined ? { title } : {}), ...(priority !== undefined ? { priority } : {}) }));
      return ta.detail(ta.task(t.thread));
    });
    ctx.status = 201;
  });
}

/** The content file rewritten with a new brief or title (the other kept from the current file). */
function rewrite(ta: TaskApi, t: Task, brief: string | undefined, title: string | undefined): { path: string; sha256: string; bytes: number } {
  const keep = brief ?? (t.content ? ta.deps.taskFiles.brief(t.content) : '');
  if (keep === undefined) {
    throw new SplError('INVALID_REQUEST', `${t.alias}'s content file cannot be read, so a new title alone cannot keep its brief`, { field: 'body', fix: `spl task edit ${t.alias} --title … --body-file <the brief>` });
  }
  return ta.deps.taskFiles.write({ alias: t.alias, thread: t.thread, title: (title ?? t.title).trim() }, keep);
}

/** The trust observation a transition record adds (SPEC §4), or why it adds none. */
function trustOf(body: Record<string, unknown>, self: boolean): TaskTransitionReply['trust'] {
  if (body.verdict === undefined) return null;
  if (self) return { none: 'a verdict by the actor who claimed done adds no trust' };
  if (typeof body.domain !== 'string') return { none: 'no domain: give --domain (or set the task\'s) for the verdict to count as trust evidence' };
  return { actor: String(body.judged_by), domain: body.domain, verdict: String(body.verdict) };
}
