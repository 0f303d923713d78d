// Routes declare what they touch. Every route is registered with its gate — the permission resource it
// needs, `open` (never authenticated or gated: /health), or `per_record` (the handler checks each record it
// writes) — so the resource a request is checked against is always the one of the route that matched, compared
// exactly as the router compares paths. Nothing is inferred from the path and nothing defaults.

import type { Router, RouterContext, RouterMiddleware } from '@koa/router';
import type { Middleware, Next } from 'koa';
import { PERMISSION_RESOURCES, type PermissionResource } from '../engine/cel.js';
import type { ApiDeps, ApiState } from './context.js';
import { authenticate } from './auth.js';
import { requirePermission } from './permissions.js';
import { SplError } from '../kernel/errors.js';

/**
 * Writes that go on during the fleet's emergency stop besides KNOW and LEARN records: the heartbeat (it is how the
 * stop reaches workers and how their liveness is judged), a worker's records of its dispatches (the exits of the
 * workers the stop interrupted), interrupting a worker, turning permissions on or off, and queries.
 */
const EMERGENCY_EXEMPT: ReadonlySet<string> = new Set(['POST /v1/fleet/heartbeat', 'POST /v1/fleet/records', 'POST /v1/tasks/:ref/interrupt', 'POST /v1/tasks/:ref/comments', 'POST /v1/config/permissions/enable', 'POST /v1/config/permissions/disable', 'POST /v1/records/query', 'POST /v1/engine/expr']);

export const OPEN = 'open';
export const PER_RECORD = 'per_record';
type Gate = PermissionResource | typeof OPEN | typeof PER_RECORD;
type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteSpec {
  method: Method;
  path: string;
  gate: Gate;
}

type Ctx = RouterContext<ApiState>;
type Handler = (ctx: Ctx, next: Next) => unknown;

export function isGate(v: unknown): v is Gate {
  return v === OPEN || v === PER_RECORD || (PERMISSION_RESOURCES as readonly unknown[]).includes(v);
}

/** The API's route table: registration through here is the only way onto the router. */
export class Routes {
  readonly specs: RouteSpec[] = [];
  private readonly authn: Middleware;

  constructor(private readonly router: Router<ApiState>, private readonly deps: ApiDeps) {
    this.authn = authenticate(deps);
  }

  get(path: string, gate: Gate, handler: Handler): void {
    this.add('GET', path, gate, handler);
  }

  post(path: string, gate: Gate, handler: Handler): void {
    this.add('POST', path, gate, handler);
  }

  delete(path: string, gate: Gate, handler: Handler): void {
    this.add('DELETE', path, gate, handler);
  }

  /**
   * OPTIONS, which the router answers itself (with the Allow list), is answered only to a caller who passes the
   * gate of that path's GET route (or, without one, of its first route): runs before the router.
   */
  optionsGate(): Middleware<ApiState> {
    return (ctx, next) => {
      if (ctx.method !== 'OPTIONS') return next();
      const matched = this.router.match(ctx.path, 'GET');
      const layer = matched.pathAndMethod[0] ?? matched.path[0];
      if (layer === undefined) return next();
      const specs = this.specs.filter((s) => s.path === layer.path);
      const gate = (specs.find((s) => s.method === 'GET') ?? specs[0])?.gate;
      if (gate === undefined) return next();
      return this.guard(gate === PER_RECORD ? 'record_write' : gate)(ctx, next);
    };
  }

  private add(method: Method, path: string, gate: Gate, handler: Handler): void {
    // The type already requires a gate; this catches a route added from untyped code.
    if (!isGate(gate)) throw new Error(`route ${method} ${path} declares no permission resource (got ${String(gate)}); every route must`);
    this.specs.push({ method, path, gate });
    const verb = method === 'GET' ? 'get' : method === 'POST' ? 'post' : 'delete';
    const refuse = method !== 'GET' && gate !== PER_RECORD && !EMERGENCY_EXEMPT.has(`${method} ${path}`) ? this.emergencyGate() : undefined;
    if (refuse) this.router[verb](path, this.guard(gate), refuse, handler as RouterMiddleware<ApiState>);
    else this.router[verb](path, this.guard(gate), handler as RouterMiddleware<ApiState>);
  }

  /** During the emergency stop only reads, KNOW and LEARN (checked per record) and the exempt writes go on. */
  private emergencyGate(): Middleware<ApiState> {
    const deps = this.deps;
    return (ctx, next) => {
      const e = deps.control?.current().emergency;
      if (!e) return next();
      deps.logger.child({ target: 'syncropel_fleet::control' }).warn({ actor: ctx.state.actor, method: ctx.method, path: ctx.path }, `EMERGENCY_STOP actor=${ctx.state.actor} method=${ctx.method} path=${ctx.path}: refused`);
      throw new SplError('EMERGENCY_STOP', `the fleet's emergency stop is active${e.reason ? ` (${e.reason})` : ''}: only reads, KNOW and LEARN are accepted (${ctx.method} ${ctx.path} refused)`, {
        fix: `spl unkill --emergency${e.source === 'coordinator' ? ' on the coordinator' : ''} lifts it`,
      });
    };
  }

  /** Authenticates (unless open) and, for a resource gate, checks the permission before the handler runs. */
  private guard(gate: Gate): Middleware<ApiState> {
    const deps = this.deps;
    const authn = this.authn;
    if (gate === OPEN) return (_ctx, next) => next();
    return (ctx, next) =>
      authn(ctx, async () => {
        if (gate !== PER_RECORD) requirePermission(deps, ctx, gate, null);
        await next();
      });
  }
}
