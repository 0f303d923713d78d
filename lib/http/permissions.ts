// Permission enforcement at the HTTP edge: each route maps to a resource; a denial is a 403 envelope and a
// WARN line containing PERMISSION DENIED with the actor, resource, method, path and deciding rule.

import type { Context, Next } from 'koa';
import { SplError } from '../kernel/errors.js';
import type { CelRecordInput, PermissionResource } from '../engine/cel.js';
import type { ApiDeps } from './context.js';

/** The resource a request touches; null for /health (never gated) and for record writes (checked per record). */
export function resourceFor(method: string, path: string): PermissionResource | null {
  if (path === '/health') return null;
  if (path === '/v1/records' && method === 'POST') return null;
  if (path.startsWith('/v1/records')) return 'record_read';
  if (path.startsWith('/v1/threads')) return 'thread_read';
  if (path.startsWith('/v1/tokens')) return 'config_write';
  if (path.startsWith('/v1/dispatch')) return 'dispatch';
  if (path.startsWith('/v1/config') && method !== 'GET' && method !== 'HEAD') return 'config_write';
  return 'config_read';
}

export function requirePermission(deps: ApiDeps, ctx: Context, resource: PermissionResource, record: CelRecordInput | null): void {
  const perms = deps.engine.permissions;
  if (!perms.enabled) return;
  const actor = ctx.state.actor as string;
  const decision = perms.decide({ actor, resource, method: ctx.method, path: ctx.path, record });
  if (decision.allowed) return;
  const rule = decision.rule ?? '(no rule matched: default deny)';
  deps.logger.child({ target: 'syncropel_http::permissions' }).warn(
    { actor, resource, method: ctx.method, path: ctx.path, rule, ...(record?.thread ? { thread: record.thread } : {}) },
    `PERMISSION DENIED actor=${actor} resource=${resource} method=${ctx.method} path=${ctx.path} rule=${rule}`,
  );
  throw new SplError('PERMISSION_DENIED', `${actor} may not ${resource} (${ctx.method} ${ctx.path}); deciding rule: ${rule}`, {
    fix: 'spl config list-permission-rules shows the rules; if you are locked out: spl stop; spl config permissions-unlock; spl serve',
  });
}

export function authorize(deps: ApiDeps) {
  return async function permissions(ctx: Context, next: Next): Promise<void> {
    const resource = resourceFor(ctx.method, ctx.path);
    if (resource !== null) requirePermission(deps, ctx, resource, null);
    await next();
  };
}
