// The coordinator side of the fleet (SPEC §12): receives heartbeats into the registry, counts itself as a member,
// writes the registry records that are due (on change, at most once a minute per instance, and a refresh every
// ten minutes), and answers the fleet status. Every instance can be a coordinator; it is one as soon as workers
// send it heartbeats (config, not code). A service: started after the listeners, its timer stopped before the store.

import type { Logger } from 'pino';
import { validateRecord } from '../kernel/record.js';
import type { FleetMemberView } from '../kernel/wire.js';
import type { Engine } from '../engine/engine.js';
import type { RecordLog } from '../store/record-log.js';
import { FleetRegistry, fleetRegistryFold, registryBody, REGISTRY_THREAD, type FleetStatus, type Heartbeat, type Member } from './registry.js';

export interface FleetCoordinatorOptions {
  did: string;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  now: () => number;
  intervalSecs: number;
  /** This instance's own heartbeat (it is a member of the fleet it coordinates). */
  self(): Heartbeat;
  /** The URL workers are told to use, as this instance sees itself. */
  url: string;
}


export class FleetCoordinator {
  readonly name = 'fleet-coordinator';
  private readonly registry: FleetRegistry;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** The status each member was last logged with: a change is logged once. */
  private readonly logged = new Map<string, FleetStatus>();
  private readonly tokens = new Map<string, string>();

  constructor(private readonly o: FleetCoordinatorOptions) {
    this.registry = new FleetRegistry(o.intervalSecs * 1000, o.now);
    this.log = o.logger.child({ target: 'syncropel_fleet::registry' });
  }

  /** Restores the members from their latest records, counts itself in, and looks again every interval. */
  start(): void {
    for (const r of this.o.engine.state(fleetRegistryFold).values()) this.registry.restore(r.body, Date.parse(r.created_at));
    for (const m of this.registry.list()) this.logged.set(m.did, m.status);
    this.tick();
    this.timer = setInterval(() => this.tick(), this.registry.interval);
    this.timer.unref();
  }

  reload(config: { fleet: { heartbeatIntervalSecs: number } }): void {
    this.registry.setInterval(config.fleet.heartbeatIntervalSecs * 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.flush();
    await this.flushing;
  }

  /**
   * A DID belongs to the token it first beat with (until this coordinator restarts): a holder of another token
   * cannot beat, take assignments or forward records in its name. Workers sharing one token trust each other.
   */
  bindToken(did: string, token: string): boolean {
    const bound = this.tokens.get(did);
    if (bound === undefined) this.tokens.set(did, token);
    return bound === undefined || bound === token;
  }

  /** A worker's heartbeat: its status as the coordinator now sees it, and how often to beat. */
  beat(hb: Heartbeat): { status: FleetStatus; interval_secs: number; coordinator: string } {
    const { status } = this.registry.beat(hb);
    this.note(hb.did, status, hb.endpoint);
    this.flush(hb.did);
    return { status, interval_secs: this.registry.interval / 1000, coordinator: this.o.did };
  }

  /** One log line per status change of a member, by the coordinator's clock. */
  private note(did: string, status: FleetStatus, endpoint: string | null): void {
    const before = this.logged.get(did);
    if (before === status) return;
    this.logged.set(did, status);
    if (before === undefined) this.log.info({ actor: did, endpoint }, `${did} joined the fleet (${endpoint ?? 'no endpoint'}): ${status}`);
    else this.log[status === 'stale' || status === 'archived' ? 'warn' : 'info']({ actor: did, endpoint }, `${did}: ${before} → ${status}`);
  }

  members(): FleetMemberView[] {
    this.registry.beat(this.o.self()); // itself, as of now
    return this.registry.list().map((m) => this.view(m));
  }

  member(did: string): FleetMemberView | undefined {
    const m = this.registry.get(did);
    return m ? this.view(m) : undefined;
  }

  get intervalSecs(): number {
    return this.registry.interval / 1000;
  }

  get url(): string {
    return this.o.url;
  }

  private view(m: Member & { status: FleetStatus }): FleetMemberView {
    const { recorded: _r, pending: _p, first_seen, last_seen, ...rest } = m;
    return { ...rest, first_seen: new Date(first_seen).toISOString(), last_heartbeat: new Date(last_seen).toISOString(), coordinator: m.did === this.o.did };
  }

  private tick(): void {
    this.registry.beat(this.o.self());
    for (const m of this.registry.list()) this.note(m.did, m.status, m.endpoint);
    this.flush();
  }

  /** Writes the records that are due (of one member, or of all), one batch at a time. */
  private flush(did?: string): void {
    // Most beats change nothing: they cost no promise, no batch, no record.
    if (did !== undefined && this.registry.due(did).length === 0) return;
    this.flushing = this.flushing.then(async () => {
      const at = this.o.now();
      // The coordinator is a member of its own list, from memory: a lone instance writes no registry records.
      const due = this.registry.due(did).filter((e) => {
        if (e.did !== this.o.did) return true;
        this.registry.recorded(e, at);
        return false;
      });
      if (due.length === 0) return;
      try {
        await this.o.log.append(due.map((e) => validateRecord({ thread: REGISTRY_THREAD, actor: this.o.did, act: 'LEARN', body: registryBody(e) })));
        for (const e of due) this.registry.recorded(e, at);
      } catch (err) {
        this.log.error({ members: due.length }, `registry records not written (retried on the next beat): ${(err as Error).message}`);
      }
    });
  }
}
