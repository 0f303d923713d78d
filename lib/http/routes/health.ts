// GET /health: liveness and readiness for probes; never auth- or permission-gated.

import type { HealthBody, LogState } from '../../kernel/wire.js';
import type { ApiDeps, LogDropped } from '../context.js';
import { OPEN, type Routes } from '../route.js';

export function healthRoutes(api: Routes, deps: ApiDeps): void {
  api.get('/health', OPEN, (ctx) => {
    const phase = deps.instance.phase();
    const now = deps.now ?? Date.now;
    ctx.status = phase === 'serving' ? 200 : 503;
    ctx.body = {
      status: phase === 'serving' ? 'ok' : phase,
      version: deps.instance.version,
      records: deps.log.recordCount,
      threads: deps.log.threadCount,
      instance_did: deps.instance.did,
      uptime_secs: Math.floor((now() - deps.instance.startedAt) / 1000),
      ...(deps.instance.logDropped ? { log: logState(deps.instance.logDropped()) } : {}),
      // Present only when a fold threw on a record: the instance serves, but that fold's state lacks the record.
      ...brokenFolds(deps),
    } satisfies HealthBody;
  });
}

/** `{"writing":true,"dropped_lines":0}`; while the log disk is full, writing is false and the count grows. */
function logState(d: LogDropped): LogState {
  return { writing: d.pending === 0, dropped_lines: d.total, ...(d.total > 0 ? { last_dropped_at: d.last_at, last_error: d.last_error } : {}) };
}

function brokenFolds(deps: ApiDeps): Pick<HealthBody, 'folds'> {
  const broken = deps.engine.brokenFolds();
  return broken.length > 0 ? { folds: { broken } } : {};
}
