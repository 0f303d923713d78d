// Permission enforcement at the HTTP edge: each route declares its resource (route.ts); a denial is a 403 envelope and a
// WARN line containing PERMISSION DENIED with the actor, resource, method, path and deciding rule.

import type { Context } from 'koa';
import { SplError } from '../kernel/errors.js';
import type { CelRecordInput, PermissionResource } from '../engine/cel.js';
import type { ApiDeps } from './context.js';

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
