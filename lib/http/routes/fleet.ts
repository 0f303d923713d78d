// The fleet (SPEC §12): workers POST heartbeats here; GET /v1/fleet/status and /v1/fleet/instances/:did answer
// from the coordinator's in-memory registry (liveness by this instance's receive time).

import { SplError } from '../../kernel/errors.js';
import { isDid } from '../../kernel/did.js';
import type { FleetStatusView } from '../../kernel/wire.js';
import type { Heartbeat } from '../../fleet/registry.js';
import type { AssignmentAcks } from '../../fleet/remote.js';
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
    ...(typeof b.memory_band === 'string' ? { memory_band: b.memory_band } : {}),
  };
}

/** The assignments a heartbeat acknowledges (remote dispatch): accepted ids, rejected ids with the reason. */
function acksOf(b: Record<string, unknown>): AssignmentAcks {
  const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(0, 1000) : []);
  const rejected = Array.isArray(b.rejected) ? b.rejected.filter((x): x is { id: string; reason: string } => typeof x?.id === 'string').slice(0, 1000) : [];
  return { accepted: ids(b.accepted), rejected: rejected.map((r) => ({ id: r.id, reason: String(r.reason ?? 'refused').slice(0, 2000) })) };
}

function statusControl(deps: ApiDeps): Pick<FleetStatusView, 'freezes' | 'emergency' | 'emergency_stop'> {
  const w = deps.control?.wire() ?? { freezes: [], emergency: null };
  const src = deps.control?.current();
  return {
    freezes: w.freezes.map((f) => ({ ...f, source: src?.freezes.get(f.namespace)?.source ?? 'local' })),
    emergency: w.emergency !== null,
    emergency_stop: w.emergency ? { ...w.emergency, source: src?.emergency?.source ?? 'local' } : null,
  };
}

/** Over TCP, the sender's DID must be the one its token first beat as (the socket is trusted by its file mode). */
function claimDid(deps: ApiDeps, ctx: { state: { token?: string } }, did: string): void {
  const token = ctx.state.token;
  if (token === undefined || coordinator(deps).bindToken(did, token)) return;
  throw new SplError('PERMISSION_DENIED', `${did} beats with another token; token ${token} may not act as it`, { fix: 'give each worker its own token (spl token create) and keep it in that worker\'s [fleet] token' });
}

export function fleetRoutes(api: Routes, deps: ApiDeps): void {
  api.post('/v1/fleet/heartbeat', 'record_write', async (ctx) => {
    const b = await readJsonObject(ctx, deps.bodyLimit);
    const hb = heartbeatOf(b);
    claimDid(deps, ctx, hb.did);
    const ack = coordinator(deps).beat(hb);
    const assignments = deps.remote ? await deps.remote.exchange(hb.did, acksOf(b)) : [];
    // The freezes and emergency stop in force here travel back with every reply: the whole fleet has them within one
    // interval. So do the tasks dispatched to this worker that it has not acknowledged yet.
    ctx.body = { object: 'heartbeat_ack', ...ack, control: deps.control?.wire() ?? { freezes: [], emergency: null }, assignments };
  });

  // A worker's records of the tasks dispatched to it (remote dispatch): stored as they are, once.
  api.post('/v1/fleet/records', 'record_write', async (ctx) => {
    const b = await readJsonObject(ctx, deps.bodyLimit);
    if (!deps.remote) throw new SplError('UNAVAILABLE', 'this instance takes no remote dispatch records');
    if (typeof b.did !== 'string' || !isDid(b.did)) throw new SplError('INVALID_REQUEST', 'did must be the sending worker\'s DID', { field: 'did' });
    claimDid(deps, ctx, b.did);
    if (!Array.isArray(b.records) || b.records.length > 5000) throw new SplError('INVALID_REQUEST', 'records must be an array of at most 5000 records', { field: 'records' });
    ctx.body = { object: 'forwarded', ...(await deps.remote.accept(b.did, b.records)) };
  });

  api.get('/v1/fleet/status', 'config_read', (ctx) => {
    const f = coordinator(deps);
    const instances = f.members();
    const counts = { live: 0, stale: 0, archived: 0, left: 0 };
    for (const m of instances) counts[m.status]++;
    ctx.body = {
      object: 'fleet_status', coordinator_url: f.url, coordinator_did: deps.instance.did, heartbeat_interval_secs: f.intervalSecs,
      counts, instances, ...statusControl(deps),
    } satisfies FleetStatusView;
  });

  api.get('/v1/fleet/instances/:did', 'config_read', (ctx) => {
    const m = coordinator(deps).member(ctx.params.did!);
    if (!m) throw new SplError('NOT_FOUND', `${ctx.params.did} is not in this coordinator's registry`, { fix: 'spl fleet list shows the instances it knows' });
    ctx.body = { object: 'fleet_instance', ...m };
  });
}
