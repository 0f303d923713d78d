// GET /v1/trust: the trust table (actor, domain, success, total, trust) evaluated now.

import type Router from '@koa/router';
import { trustTable } from '../../engine/folds/trust.js';
import type { ApiDeps } from '../context.js';

export function trustRoutes(router: Router, deps: ApiDeps): void {
  router.get('/v1/trust', (ctx) => {
    const now = (deps.now ?? Date.now)();
    let data = trustTable(deps.engine.trust, now);
    if (typeof ctx.query.actor === 'string') data = data.filter((r) => r.actor === ctx.query.actor);
    if (typeof ctx.query.domain === 'string') data = data.filter((r) => r.domain === ctx.query.domain);
    ctx.body = { object: 'list', evaluated_at: new Date(now).toISOString(), data };
  });
}
