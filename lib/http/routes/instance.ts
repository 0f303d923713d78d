// GET /v1/instance: what `spl status` and `spl stop` need to know about the running process.

import type { InstanceInfo } from '../../kernel/wire.js';
import type { ApiDeps } from '../context.js';
import { type Routes } from '../route.js';

/** What the runbook asks operators to capture when memory grows: RSS, the heap, and each fold's size. */
function memoryReport(deps: ApiDeps): NonNullable<InstanceInfo['memory']> {
  const m = process.memoryUsage();
  return { rss_bytes: m.rss, heap_used_bytes: m.heapUsed, heap_total_bytes: m.heapTotal, external_bytes: m.external, fold_entries: deps.engine.foldSizes() };
}

export function instanceRoutes(api: Routes, deps: ApiDeps): void {
  api.get('/v1/instance', 'config_read', (ctx) => {
    const i = deps.instance;
    const now = deps.now ?? Date.now;
    ctx.body = {
      object: 'instance',
      status: i.phase() === 'serving' ? 'running' : i.phase(),
      version: i.version,
      pid: i.pid,
      instance_did: i.did,
      uptime_secs: Math.floor((now() - i.startedAt) / 1000),
      started_at: new Date(i.startedAt).toISOString(),
      records: deps.log.recordCount,
      threads: deps.log.threadCount,
      home: i.home,
      store: i.storePath,
      bind: i.bind,
      socket: i.socket,
      ...(i.reloads ? { reloads: i.reloads() } : {}),
      ...(deps.authGuard ? { auth: deps.authGuard.tally() } : {}),
      ...(deps.dispatch ? { dispatches: deps.dispatch.totals() } : {}),
      memory: memoryReport(deps),
    } satisfies InstanceInfo;
  });
}
