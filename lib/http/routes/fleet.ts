// The fleet (SPEC §12): workers POST heartbeats here; GET /v1/fleet/status and /v1/fleet/instances/:did answer
// from the coordinator's in-memory registry (liveness by this instance's receive time).

import { SplError } from '../../kernel/errors.js';
import { isDid } from '../../kernel/did.js';
import type { FleetStatusView } from '../../kernel/wire.js';
import type { Heartbeat } from '../../fleet/registry.js';
import { readJsonObject } from '../body.js';
import type { ApiDeps, FleetApi } from '../context.js';
import { type Routes } from '../route.js';

function coordinator(deps: ApiDeps): FleetApi {
  if (!deps.fleet) throw new SplError('UNAVAILABLE', 'this instance keeps no fleet registry');
  return deps.fleet;
}

function heartbeatOf(b: Record<string, unknown>): Heartbeat {
  if (typeof b.did !== 'string' || !isDid(b.did)) throw new SplError('INVALID_REQUEST', 'did must be the sending instance\'s DID', { field: 'did' });
  if (b.endpoint !== undefined && b.endpoint !== null && typeof b.endpoint !== 'string') throw new SplError('INVALID_REQUEST', 'endpoint must be a URL or null', { field: 'endpoint' });
  const count = (k: string): number => {
    const v = b[k];
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new SplError('INVALID_REQUEST', `${k} must be a number ≥ 0`, { field: k });
    return v;
  };
  return {
    did: b.did, endpoint: typeof b.endpoint === 'string' ? b.endpoint : null, version: typeof b.version === 'string' ? b.version : '',
    uptime_secs: count('uptime_secs'), health: typeof b.health === 'string' && b.health !== '' ? b.health : 'healthy',
    active_dispatches: count('active_dispatches'), store_records: count('store_records'),
  };
}

export function fleetRoutes(api: Routes, deps: ApiDeps): void {
  api.post('/v1/fleet/heartbeat', 'record_write', async (ctx) => {
    const hb = heartbeatOf(await readJsonObject(ctx, deps.bodyLimit));
    ctx.body = { object: 'heartbeat_ack', ...coordinator(deps).beat(hb) };
  });

  api.get('/v1/fleet/status', 'config_read', (ctx) => {
    const f = coordinator(deps);
    const instances = f.members();
    const counts = { live: 0, stale: 0, archived: 0, left: 0 };
    for (const m of instances) counts[m.status]++;
    ctx.body = {
      object: 'fleet_status', coordinator_url: f.url, coordinator_did: deps.instance.did, heartbeat_interval_secs: f.intervalSecs,
      counts, instances, freezes: [], emergency: false,
    } satisfies FleetStatusView;
  });

  api.get('/v1/fleet/instances/:did', 'config_read', (ctx) => {
    const m = coordinator(deps).member(ctx.params.did!);
    if (!m) throw new SplError('NOT_FOUND', `${ctx.params.did} is not in this coordinator's registry`, { fix: 'spl fleet list shows the instances it knows' });
    ctx.body = { object: 'fleet_instance', ...m };
  });
}
