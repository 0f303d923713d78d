// GET /v1/trust: the trust table (actor, domain, success, total, trust) evaluated now.

import { trustFold, trustTable } from '../../engine/folds/trust.js';
import type { ApiDeps } from '../context.js';
import { type Routes } from '../route.js';

export function trustRoutes(api: Routes, deps: ApiDeps): void {
  api.get('/v1/trust', 'config_read', (ctx) => {
    const now = (deps.now ?? Date.now)();
    let data = trustTable(deps.engine.state(trustFold), now);
    if (typeof ctx.query.actor === 'string') data = data.filter((r) => r.actor === ctx.query.actor);
    if (typeof ctx.query.domain === 'string') data = data.filter((r) => r.domain === ctx.query.domain);
    ctx.body = { object: 'list', evaluated_at: new Date(now).toISOString(), data };
  });
}
