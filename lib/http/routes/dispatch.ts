// Dispatch (SPEC §11): adapters (LEARN records on th_engine_config, folded by the dispatch module), POST
// /v1/dispatch (permission resource `dispatch`), a task's interrupt and its diagnosis.

import { SplError } from '../../kernel/errors.js';
import { validateRecord } from '../../kernel/record.js';
import type { AdapterView, ListBody } from '../../kernel/wire.js';
import { findTask, tasksFold } from '../../engine/folds/tasks.js';
import { ADAPTER_DEFAULTS, adapterDraft, CLAUDE_COMMAND, commandFound, adapterRemoval, adaptersFold, checkAdapter, type Adapter, type Family } from '../../dispatch/adapters.js';
import { diagnose } from '../../dispatch/diagnose.js';
import type { DispatchRequest } from '../../dispatch/plan.js';
import { dispatchesFold, dispatchesOf } from '../../dispatch/records.js';
import { readJsonObject } from '../body.js';
import type { ApiDeps, DispatchApi, RemoteApi } from '../context.js';
import type { RemoteRequest } from '../../fleet/remote.js';
import { type Routes } from '../route.js';

type Body = Record<string, unknown>;

function view(a: Adapter, dispatch: DispatchApi | undefined): AdapterView {
  const load = dispatch?.load(a.did) ?? { running: 0, queued: 0 };
  return {
    object: 'adapter', did: a.did, family: a.family, command: a.command, argv: a.argv, max_concurrent: a.max_concurrent, timeout_secs: a.timeout_secs,
    line_timeout_secs: a.line_timeout_secs, env: Object.keys(a.env), domains: a.domains, record: a.record, updated_at: a.updated_at,
    command_found: commandFound(a.argv[0]!), ...load,
  };
}

function field<T>(b: Body, key: string, type: 'string' | 'number' | 'boolean'): T | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw new SplError('INVALID_REQUEST', `${key} must be a ${type}`, { field: key });
  return v as T;
}

function dispatcher(deps: ApiDeps): DispatchApi {
  if (!deps.dispatch) throw new SplError('UNAVAILABLE', 'this instance runs no dispatcher');
  return deps.dispatch;
}

function remote(deps: ApiDeps): RemoteApi {
  if (!deps.remote) throw new SplError('UNAVAILABLE', 'this instance dispatches to no fleet workers');
  return deps.remote;
}

/** The options a worker's dispatcher is asked for (--on). */
function remoteRequest(req: DispatchRequest): RemoteRequest {
  return {
    ...(req.actor !== undefined ? { actor: req.actor } : {}), ...(req.timeoutSecs !== undefined ? { timeout_secs: req.timeoutSecs } : {}),
    ...(req.lineTimeoutSecs !== undefined ? { line_timeout_secs: req.lineTimeoutSecs } : {}), ...(req.budgetUsd !== undefined ? { budget_usd: req.budgetUsd } : {}),
    ...(req.repo !== undefined ? { repo: req.repo } : {}), ...(req.resume ? { resume: true } : {}), ...(req.force ? { force: true } : {}),
  };
}

export function dispatchRoutes(api: Routes, deps: ApiDeps): void {
  adapterRoutes(api, deps);
  api.post('/v1/dispatch', 'dispatch', async (ctx) => {
    const b = await readJsonObject(ctx, deps.bodyLimit);
    const ref = field<string>(b, 'task', 'string') ?? field<string>(b, 'thread_id', 'string');
    if (ref === undefined) throw new SplError('INVALID_REQUEST', 'task is required: the alias or thread id of the task to dispatch', { field: 'task' });
    const budget = typeof b.budget === 'object' && b.budget !== null ? (b.budget as Body) : {};
    const req: DispatchRequest = { ref, by: ctx.state.actor };
    const actor = field<string>(b, 'actor_did', 'string');
    const timeout = field<number>(b, 'timeout_secs', 'number') ?? field<number>(budget, 'max_duration_secs', 'number');
    const line = field<number>(b, 'line_timeout_secs', 'number');
    const usd = field<number>(b, 'budget_usd', 'number') ?? field<number>(budget, 'max_cost_usd', 'number');
    const repo = field<string>(b, 'repo', 'string');
    if (actor !== undefined) req.actor = actor;
    if (timeout !== undefined) req.timeoutSecs = timeout;
    if (line !== undefined) req.lineTimeoutSecs = line;
    if (usd !== undefined) req.budgetUsd = usd;
    if (repo !== undefined) req.repo = repo;
    if (field<boolean>(b, 'resume', 'boolean')) req.resume = true;
    if (field<boolean>(b, 'force', 'boolean')) req.force = true;
    const on = field<string>(b, 'on', 'string');
    ctx.body = on === undefined ? await dispatcher(deps).request(req) : await remote(deps).assign(ref, on, ctx.state.actor, remoteRequest(req));
    ctx.status = 201;
  });

  api.post('/v1/tasks/:ref/interrupt', 'dispatch', async (ctx) => {
    ctx.body = { object: 'interrupt', ...(await dispatcher(deps).interrupt(ctx.params.ref!, ctx.state.actor)) };
  });

  api.get('/v1/tasks/:ref/diagnose', 'task_read', async (ctx) => {
    const task = findTask(deps.engine.state(tasksFold), ctx.params.ref!);
    if (!task) throw new SplError('TASK_NOT_FOUND', `no task ${ctx.params.ref}`, { fix: 'spl task list --all shows the tasks this instance holds' });
    ctx.body = await diagnose(task, dispatchesOf(deps.engine.state(dispatchesFold), task.thread), deps.dispatch?.liveOf(task.thread) ?? null);
  });
}

function adapterSpec(b: Body): Parameters<typeof checkAdapter>[0] {
  const did = field<string>(b, 'did', 'string');
  if (did === undefined) throw new SplError('INVALID_REQUEST', 'did is required: the actor this adapter reaches', { field: 'did' });
  const family = (field<string>(b, 'family', 'string') ?? 'exec') as Family | 'cli';
  const env = typeof b.env === 'object' && b.env !== null && !Array.isArray(b.env) ? (b.env as Record<string, unknown>) : {};
  if (Object.values(env).some((v) => typeof v !== 'string')) throw new SplError('INVALID_REQUEST', 'env values must be strings', { field: 'env' });
  const domains = Array.isArray(b.domains) ? b.domains : [];
  if (domains.some((d) => typeof d !== 'string')) throw new SplError('INVALID_REQUEST', 'domains must be a list of strings', { field: 'domains' });
  const fam: Family = family === 'cli' ? 'exec' : family;
  return {
    did, family: fam, command: field<string>(b, 'command', 'string') ?? (fam === 'claude' ? CLAUDE_COMMAND : ''),
    max_concurrent: field<number>(b, 'max_concurrent', 'number') ?? ADAPTER_DEFAULTS.max_concurrent,
    timeout_secs: field<number>(b, 'timeout_secs', 'number') ?? ADAPTER_DEFAULTS.timeout_secs,
    line_timeout_secs: field<number>(b, 'line_timeout_secs', 'number') ?? ADAPTER_DEFAULTS.line_timeout_secs,
    env: env as Record<string, string>, domains: domains as string[],
  };
}

function adapterRoutes(api: Routes, deps: ApiDeps): void {
  const adapters = (): Map<string, Adapter> => deps.engine.state(adaptersFold);
  const one = (did: string): Adapter => {
    const a = adapters().get(did);
    if (!a) throw new SplError('ADAPTER_NOT_FOUND', `no adapter for ${did}`, { fix: 'spl adapter list shows the adapters' });
    return a;
  };
  api.get('/v1/adapters', 'config_read', (ctx) => {
    ctx.body = { object: 'list', data: [...adapters().values()].sort((a, b) => (a.did < b.did ? -1 : 1)).map((a) => view(a, deps.dispatch)) } satisfies ListBody<AdapterView>;
  });
  api.get('/v1/adapters/:did', 'config_read', (ctx) => {
    ctx.body = view(one(ctx.params.did!), deps.dispatch);
  });
  api.post('/v1/adapters', 'config_write', async (ctx) => {
    const spec = checkAdapter(adapterSpec(await readJsonObject(ctx, deps.bodyLimit)));
    const existed = adapters().has(spec.did);
    await deps.log.append([validateRecord(adapterDraft(ctx.state.actor, spec))]);
    const a = view(one(spec.did), deps.dispatch);
    deps.logger.child({ target: 'syncropel_engine::dispatch' }).info({ actor: ctx.state.actor, adapter: spec.did }, `adapter ${spec.did} ${existed ? 'replaced' : 'added'} (${spec.family}: ${spec.command})${a.command_found ? '' : `; ${spec.argv[0]} is not on the instance's PATH`}`);
    ctx.body = { ...a, replaced: existed };
    ctx.status = 201;
  });
  api.delete('/v1/adapters/:did', 'config_write', async (ctx) => {
    const a = one(ctx.params.did!);
    const [o] = await deps.log.append([validateRecord(adapterRemoval(ctx.state.actor, a.did))]);
    ctx.body = { object: 'adapter_removed', did: a.did, record: o!.record.id };
  });
}
