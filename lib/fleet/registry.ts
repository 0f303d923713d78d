// The coordinator's instance registry (SPEC §12). Liveness is judged by the coordinator's own receive time, never
// the worker's clock, and kept in memory: `live` within 3 heartbeat intervals, `stale` within 12, `archived`
// after; `left` only from an explicit final heartbeat (health `draining`) — never from silence, and a missed beat
// never evicts. Registry records (LEARN on th_instance_registry) are written on change — join, a status change,
// a new version, endpoint or health — and otherwise as a refresh at most every REFRESH_MS per instance, so the
// log grows by a handful of records per worker per hour, not by one per beat. A coordinator restart rebuilds the
// members from those records (fleetRegistryFold) and converges on the next beats.

import type { StoredRecord } from '../kernel/record.js';
import type { Fold } from '../engine/fold.js';

export const REGISTRY_THREAD = 'th_instance_registry';
export const REGISTRY_TOPIC = 'instance_registry';
export const FLEET_STATUSES = ['live', 'stale', 'archived', 'left'] as const;
export type FleetStatus = (typeof FLEET_STATUSES)[number];
/** A member with nothing new is recorded again at most this often (its last-seen time, for a restart). */
export const REFRESH_MS = 10 * 60_000;
/** Changes of one member are recorded at most once a minute; a change within that is written when it ends. */
export const MIN_RECORD_GAP_MS = 60_000;

export interface Heartbeat {
  did: string;
  endpoint: string | null;
  version: string;
  uptime_secs: number;
  health: string;
  active_dispatches: number;
  store_records: number;
  /** The worker's memory band (healthy | approaching | critical): `--on auto` passes over a critical one. */
  memory_band?: string | null;
}

export interface Member extends Heartbeat {
  first_seen: number;
  /** The coordinator's clock when the latest beat arrived. */
  last_seen: number;
  /** A final heartbeat (health draining) said goodbye. */
  left: boolean;
  /** What the latest registry record says, and when it was written. */
  recorded: { status: FleetStatus; version: string; endpoint: string | null; health: string; at: number } | null;
  /** Why the next record is due (join, status, version, endpoint, health), or null when nothing changed. */
  pending: string | null;
}

/** A registry record to write. */
export interface RegistryEntry {
  did: string;
  status: FleetStatus;
  reason: string;
  member: Member;
}

export function statusAt(m: Pick<Member, 'left' | 'last_seen'>, now: number, intervalMs: number): FleetStatus {
  if (m.left) return 'left';
  const age = now - m.last_seen;
  return age <= 3 * intervalMs ? 'live' : age <= 12 * intervalMs ? 'stale' : 'archived';
}

export class FleetRegistry {
  private readonly members = new Map<string, Member>();

  constructor(private intervalMs: number, private readonly now: () => number) {}

  setInterval(ms: number): void {
    this.intervalMs = ms;
  }

  get interval(): number {
    return this.intervalMs;
  }

  /** A heartbeat arrived: the member as it now stands, and its status. */
  beat(hb: Heartbeat): { member: Member; status: FleetStatus } {
    const at = this.now();
    const m = this.members.get(hb.did);
    const draining = hb.health === 'draining';
    if (!m) {
      const fresh: Member = { ...hb, first_seen: at, last_seen: at, left: draining, recorded: null, pending: 'join' };
      this.members.set(hb.did, fresh);
      return { member: fresh, status: statusAt(fresh, at, this.intervalMs) };
    }
    const changed = m.version !== hb.version ? 'version' : m.endpoint !== hb.endpoint ? 'endpoint' : m.health !== hb.health ? 'health' : null;
    Object.assign(m, hb, { last_seen: at, left: draining });
    if (changed !== null) m.pending ??= changed;
    return { member: m, status: statusAt(m, at, this.intervalMs) };
  }

  /** Restores a member from its latest registry record (start-up): it has a full grace period to beat again. */
  restore(body: Record<string, unknown>, recordedAt: number): void {
    const did = String(body.did);
    const status = (FLEET_STATUSES as readonly string[]).includes(String(body.status)) ? (body.status as FleetStatus) : 'stale';
    const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    const hb: Heartbeat = {
      did, endpoint: typeof body.endpoint === 'string' ? body.endpoint : null, version: String(body.version ?? ''), uptime_secs: num(body.uptime_secs),
      health: String(body.health ?? ''), active_dispatches: num(body.active_dispatches), store_records: num(body.store_records),
    };
    const at = this.now();
    const firstSeen = typeof body.first_seen_at === 'string' ? Date.parse(body.first_seen_at) : recordedAt;
    this.members.set(did, {
      ...hb, first_seen: Number.isFinite(firstSeen) ? firstSeen : recordedAt, last_seen: status === 'archived' ? recordedAt : at, left: status === 'left',
      recorded: { status, version: hb.version, endpoint: hb.endpoint, health: hb.health, at: recordedAt }, pending: null,
    });
  }

  /**
   * The records due now — changes (at most one per member a minute) and refreshes of members with nothing new —
   * of every member, or of one (a heartbeat looks at its sender only; the periodic sweep looks at all).
   */
  due(did?: string): RegistryEntry[] {
    const at = this.now();
    const out: RegistryEntry[] = [];
    const one = did === undefined ? undefined : this.members.get(did);
    for (const m of did === undefined ? this.members.values() : one ? [one] : []) {
      const status = statusAt(m, at, this.intervalMs);
      const rec = m.recorded;
      const reason = rec === null ? 'join' : rec.status !== status ? 'status' : m.pending;
      if (reason !== null && (rec === null || at - rec.at >= MIN_RECORD_GAP_MS || reason === 'join' || (reason === 'status' && status === 'left'))) {
        out.push({ did: m.did, status, reason, member: m });
      } else if (reason === null && rec !== null && status === 'live' && at - rec.at >= REFRESH_MS) {
        out.push({ did: m.did, status, reason: 'refresh', member: m });
      }
    }
    return out;
  }

  /** A due record was written. */
  recorded(e: RegistryEntry, at: number): void {
    const m = e.member;
    m.recorded = { status: e.status, version: m.version, endpoint: m.endpoint, health: m.health, at };
    m.pending = null;
  }

  list(): Array<Member & { status: FleetStatus }> {
    const at = this.now();
    return [...this.members.values()].map((m) => ({ ...m, status: statusAt(m, at, this.intervalMs) })).sort((a, b) => (a.did < b.did ? -1 : 1));
  }

  get(did: string): (Member & { status: FleetStatus }) | undefined {
    const m = this.members.get(did);
    return m ? { ...m, status: statusAt(m, this.now(), this.intervalMs) } : undefined;
  }
}

/** The body of a registry record. */
export function registryBody(e: RegistryEntry): Record<string, unknown> {
  const m = e.member;
  return {
    topic: REGISTRY_TOPIC, did: e.did, status: e.status, reason: e.reason, endpoint: m.endpoint, version: m.version, health: m.health,
    uptime_secs: m.uptime_secs, active_dispatches: m.active_dispatches, store_records: m.store_records,
    first_seen_at: new Date(m.first_seen).toISOString(), last_heartbeat_at: new Date(m.last_seen).toISOString(),
  };
}

/** The latest registry record per instance (what a restarted coordinator starts from). */
export const fleetRegistryFold: Fold<Map<string, StoredRecord>> = {
  name: 'fleet_registry',
  init: () => new Map(),
  apply(state, r) {
    if (r.thread === REGISTRY_THREAD && r.act === 'LEARN' && r.body.topic === REGISTRY_TOPIC && typeof r.body.did === 'string') state.set(r.body.did, r);
    return state;
  },
};
