// GET /health: liveness and readiness for probes; never auth- or permission-gated.

import type Router from '@koa/router';
import type { ApiDeps } from '../context.js';

export function healthRoutes(router: Router, deps: ApiDeps): void {
  router.get('/health', (ctx) => {
    const phase = deps.instance.phase();
    const now = deps.now ?? Date.now;
    ctx.status = phase === 'serving' ? 200 : 503;
    ctx.body = {
      status: phase === 'serving' ? 'ok' : phase,
      version: deps.instance.version,
      records: deps.log.recordCount,
      threads: deps.engine.threadCount,
      instance_did: deps.instance.did,
      uptime_secs: Math.floor((now() - deps.instance.startedAt) / 1000),
    };
  });
}
