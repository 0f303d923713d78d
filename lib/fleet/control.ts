// Freezes and the emergency stop (SPEC §12): LEARN records with topic `freeze` on th_fleet_control, set by
// `spl kill` and lifted by `spl unkill`. The coordinator carries the ones in force to its workers in every
// heartbeat reply, so a freeze reaches the whole fleet within one interval; a worker enforces the union of its own
// and its coordinator's.
//
// A record is in namespace NS when its body's `namespace` (or, failing that, its `domain`) is NS, or its thread is
// the named thread `th_NS` or one under it (`th_NS_…`). A soft freeze refuses INTEND, DO and CALL there; a hard
// freeze, once its grace has run out, refuses every write there. The emergency stop accepts only reads, KNOW and
// LEARN, anywhere.

import type { Fold } from '../engine/fold.js';

export const FLEET_CONTROL_THREAD = 'th_fleet_control';
export const FREEZE_TOPIC = 'freeze';
export const FREEZE_LEVELS = ['soft', 'hard'] as const;
export type FreezeLevel = (typeof FREEZE_LEVELS)[number];
/** The acts a soft freeze refuses; a hard one past its grace refuses every act. */
export const SOFT_FROZEN_ACTS: ReadonlySet<string> = new Set(['INTEND', 'DO', 'CALL']);
/** What the emergency stop still accepts (besides reads). */
export const EMERGENCY_ACTS: ReadonlySet<string> = new Set(['KNOW', 'LEARN']);
/** A namespace is what a named thread may hold after `th_`: lowercase letters, digits and underscores. */
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9_]{0,60}$/;

export interface Freeze {
  namespace: string;
  level: FreezeLevel;
  grace_secs: number;
  reason: string | null;
  actor: string;
  /** When the freeze was recorded (the recording instance's commit time, ms). */
  since_ms: number;
  /** A hard freeze refuses every write from this time on (ms on the enforcing instance's clock); null when soft. */
  hard_at_ms: number | null;
  /** Where it came from: this instance's own record, or the coordinator's heartbeat reply. */
  source: 'local' | 'coordinator';
}

export interface EmergencyStop {
  reason: string | null;
  actor: string;
  since_ms: number;
  source: 'local' | 'coordinator';
}

export interface FleetControlState {
  freezes: Map<string, Freeze>;
  emergency: EmergencyStop | null;
}

/** What the heartbeat reply carries: the freezes with the time left before a hard one bites, and the emergency stop. */
export interface FleetControlWire {
  freezes: Array<{ namespace: string; level: FreezeLevel; grace_secs: number; hard_in_secs: number | null; reason: string | null; actor: string; since_ms: number }>;
  emergency: { reason: string | null; actor: string; since_ms: number } | null;
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

export const fleetControlFold: Fold<FleetControlState> = {
  name: 'fleet_control',
  init: () => ({ freezes: new Map(), emergency: null }),
  apply(state, r) {
    if (r.thread !== FLEET_CONTROL_THREAD || r.act !== 'LEARN' || r.body.topic !== FREEZE_TOPIC) return state;
    const active = r.body.active !== false;
    const since = Date.parse(r.created_at);
    if (r.body.emergency === true) {
      state.emergency = active ? { reason: text(r.body.reason), actor: r.actor, since_ms: since, source: 'local' } : null;
      return state;
    }
    const ns = r.body.namespace;
    if (typeof ns !== 'string' || !NAMESPACE_PATTERN.test(ns)) return state;
    if (!active) {
      state.freezes.delete(ns);
      return state;
    }
    const level: FreezeLevel = r.body.level === 'hard' ? 'hard' : 'soft';
    const grace = typeof r.body.grace_secs === 'number' && r.body.grace_secs >= 0 ? Math.floor(r.body.grace_secs) : 0;
    state.freezes.set(ns, { namespace: ns, level, grace_secs: grace, reason: text(r.body.reason), actor: r.actor, since_ms: since, hard_at_ms: level === 'hard' ? since + grace * 1000 : null, source: 'local' });
    return state;
  },
};

/** The body of a `spl kill` / `spl unkill` record. */
export function freezeBody(o: { namespace?: string; emergency?: boolean; level?: FreezeLevel; graceSecs?: number; reason?: string; active: boolean }): Record<string, unknown> {
  return {
    topic: FREEZE_TOPIC,
    ...(o.emergency ? { emergency: true } : { namespace: o.namespace }),
    active: o.active,
    ...(o.active && !o.emergency ? { level: o.level ?? 'soft', grace_secs: o.graceSecs ?? 0 } : {}),
    ...(o.reason ? { reason: o.reason } : {}),
  };
}

/** The namespaces a record is in (see the header). `taskDomain` gives the domain of the task a thread belongs to. */
export function namespacesOf(r: { thread: string; body: Record<string, unknown> }, taskDomain?: (thread: string) => string | null): string[] {
  // All of them: a body naming one namespace does not take a record on a frozen task's thread out of the task's.
  const out = [text(r.body.namespace), text(r.body.domain), taskDomain?.(r.thread) ?? null].filter((x): x is string => x !== null);
  if (r.thread.startsWith('th_') && !/^th_[0-9a-f]{64}$/.test(r.thread)) out.push(r.thread.slice(3));
  return out;
}

/** Whether a record is a freeze record (spl kill / unkill): never refused by a freeze, or a hard one could not be lifted. */
export function isControlRecord(r: { thread: string; act: string; body: Record<string, unknown> }): boolean {
  return r.thread === FLEET_CONTROL_THREAD && r.act === 'LEARN' && r.body.topic === FREEZE_TOPIC;
}

/** The freezes in `control` that cover namespace `ns` (exact, or `ns` under it: `a_b` is under `a`). */
function freezesCovering(control: FleetControlState, ns: string): Freeze[] {
  return [...control.freezes.values()].filter((f) => ns === f.namespace || ns.startsWith(`${f.namespace}_`));
}

export type ControlVerdict = { allowed: true } | { allowed: false; code: 'NAMESPACE_FROZEN' | 'EMERGENCY_STOP'; message: string; fix: string };

/** Whether a write of `act` on a record in `namespaces` may go ahead under `control` at `now`. */
export function checkWrite(control: FleetControlState, act: string, namespaces: readonly string[], now: number): ControlVerdict {
  const e = control.emergency;
  if (e && !EMERGENCY_ACTS.has(act)) {
    return {
      allowed: false, code: 'EMERGENCY_STOP',
      message: `the fleet's emergency stop is active${e.reason ? ` (${e.reason})` : ''}, set by ${e.actor}${e.source === 'coordinator' ? ' on the coordinator' : ''}: only reads, KNOW and LEARN are accepted (got ${act})`,
      fix: `spl unkill --emergency${e.source === 'coordinator' ? ' on the coordinator' : ''} lifts it`,
    };
  }
  // Every freeze that covers any of its namespaces: the first that refuses it decides.
  for (const ns of namespaces) for (const f of freezesCovering(control, ns)) {
    const hard = f.hard_at_ms !== null && now >= f.hard_at_ms;
    if (!hard && !SOFT_FROZEN_ACTS.has(act)) continue;
    return {
      allowed: false, code: 'NAMESPACE_FROZEN',
      message: `namespace '${f.namespace}' is frozen (${hard ? 'hard: no writes' : 'soft: no INTEND, DO or CALL'})${f.reason ? `: ${f.reason}` : ''}; set by ${f.actor}${f.source === 'coordinator' ? ' on the coordinator' : ''} (got ${act} in '${ns}')`,
      fix: `spl unkill --namespace ${f.namespace}${f.source === 'coordinator' ? ' on the coordinator' : ''} lifts it`,
    };
  }
  return { allowed: true };
}

/** The freezes in force as the heartbeat reply carries them, a hard freeze's remaining grace relative to `now`. */
export function controlWire(control: FleetControlState, now: number): FleetControlWire {
  return {
    freezes: [...control.freezes.values()].map((f) => ({
      namespace: f.namespace, level: f.level, grace_secs: f.grace_secs, reason: f.reason, actor: f.actor, since_ms: f.since_ms,
      hard_in_secs: f.hard_at_ms === null ? null : Math.max(0, Math.ceil((f.hard_at_ms - now) / 1000)),
    })),
    emergency: control.emergency ? { reason: control.emergency.reason, actor: control.emergency.actor, since_ms: control.emergency.since_ms } : null,
  };
}

/** A heartbeat reply's control as a state on this instance's clock (`received` is when the reply came). */
export function controlFromWire(w: FleetControlWire, received: number): FleetControlState {
  const freezes = new Map<string, Freeze>();
  for (const f of w.freezes ?? []) {
    if (typeof f?.namespace !== 'string' || !NAMESPACE_PATTERN.test(f.namespace)) continue;
    const level: FreezeLevel = f.level === 'hard' ? 'hard' : 'soft';
    freezes.set(f.namespace, {
      namespace: f.namespace, level, grace_secs: Number(f.grace_secs) || 0, reason: text(f.reason), actor: String(f.actor ?? ''), since_ms: Number(f.since_ms) || 0,
      hard_at_ms: level === 'hard' ? received + Math.max(0, Number(f.hard_in_secs) || 0) * 1000 : null, source: 'coordinator',
    });
  }
  const e = w.emergency;
  return { freezes, emergency: e ? { reason: text(e.reason), actor: String(e.actor ?? ''), since_ms: Number(e.since_ms) || 0, source: 'coordinator' } : null };
}

/** This instance's own control and its coordinator's, together: the stricter freeze of a namespace wins. */
export function mergeControl(local: FleetControlState, remote: FleetControlState | null): FleetControlState {
  if (remote === null) return local;
  const freezes = new Map(local.freezes);
  for (const [ns, f] of remote.freezes) {
    const mine = freezes.get(ns);
    if (!mine || stricter(f, mine)) freezes.set(ns, f);
  }
  return { freezes, emergency: local.emergency ?? remote.emergency };
}

function stricter(a: Freeze, b: Freeze): boolean {
  if (a.hard_at_ms === null) return false;
  return b.hard_at_ms === null || a.hard_at_ms < b.hard_at_ms;
}

/**
 * The control this instance enforces: its own records (the fold) and, on a worker, what its coordinator's last
 * heartbeat reply carried. `onEmergency` is called when the emergency stop comes into force from either side.
 */
export class FleetControl {
  private remote: FleetControlState | null = null;
  private wasEmergency = false;

  constructor(private readonly local: () => FleetControlState, private readonly now: () => number, private readonly onEmergency: (e: EmergencyStop) => void = () => undefined) {}

  /** What the coordinator's reply carried (null: nothing from a coordinator). */
  setRemote(remote: FleetControlState | null): void {
    this.remote = remote !== null && remote.freezes.size === 0 && remote.emergency === null ? null : remote;
    this.noticeEmergency();
  }

  /** Called after a local control record commits. */
  noticeEmergency(): void {
    const e = this.current().emergency;
    if (e && !this.wasEmergency) this.onEmergency(e);
    this.wasEmergency = e !== null;
  }

  current(): FleetControlState {
    return mergeControl(this.local(), this.remote);
  }

  /** What a heartbeat reply carries to workers. */
  wire(): FleetControlWire {
    return controlWire(this.current(), this.now());
  }

  /** Whether anything is in force: nothing frozen and no emergency stop means no write needs looking at. */
  get active(): boolean {
    const c = this.current();
    return c.emergency !== null || c.freezes.size > 0;
  }

  /** Whether a write of `act` in `namespaces` may go ahead now. */
  check(act: string, namespaces: readonly string[]): ControlVerdict {
    const c = this.current();
    if (c.emergency === null && c.freezes.size === 0) return { allowed: true };
    return checkWrite(c, act, namespaces, this.now());
  }
}
