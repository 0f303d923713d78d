// The worker side of the fleet (SPEC §12): with `[fleet] coordinator_url` set, the instance POSTs a heartbeat to
// the coordinator every heartbeat_interval_secs (its DID, advertised endpoint, version, uptime, health, active
// dispatches and store records), with `[fleet] token` as its bearer. On a graceful stop it sends one final beat
// with health `draining`, which the coordinator records as `left`. A failed beat is logged once per outage (and
// once when it recovers), never retried in a burst: the next one is an interval later.

import type { Logger } from 'pino';
import type { Heartbeat } from './registry.js';
import type { FleetControlWire } from './control.js';
import { fleetRequest } from './client.js';
import type { AssignmentWire } from './remote.js';

export interface HeartbeatOptions {
  coordinatorUrl: string;
  intervalSecs: number;
  token: string | undefined;
  /** `[fleet] ca_file`: the CA an https:// coordinator's certificate must chain to. */
  caFile?: string | undefined;
  logger: Logger;
  /** This instance's heartbeat, plus anything it acknowledges (remote dispatch). */
  beat(): Heartbeat & Record<string, unknown>;
  /** How long one POST may take. */
  timeoutMs?: number;
  /** The freezes and emergency stop each reply carries (kept while the coordinator cannot be reached). */
  onControl?: (control: FleetControlWire) => void;
  /** The tasks the coordinator dispatched here, until they are acknowledged. */
  onAssignments?: (assignments: AssignmentWire[]) => void;
}

export class HeartbeatService {
  readonly name = 'fleet-heartbeat';
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private failing: string | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  /** The last answer: the status the coordinator gives this instance. */
  lastStatus: string | null = null;

  constructor(private o: HeartbeatOptions) {
    this.log = o.logger.child({ target: 'syncropel_fleet::heartbeat' });
  }

  start(): void {
    this.log.info({ coordinator: this.o.coordinatorUrl }, `heartbeats to ${this.o.coordinatorUrl} every ${this.o.intervalSecs}s`);
    this.send();
    this.timer = setInterval(() => this.send(), this.o.intervalSecs * 1000);
    this.timer.unref();
  }

  reload(config: { fleet: { heartbeatIntervalSecs: number } }): void {
    if (config.fleet.heartbeatIntervalSecs === this.o.intervalSecs || !this.timer) return;
    this.o = { ...this.o, intervalSecs: config.fleet.heartbeatIntervalSecs };
    clearInterval(this.timer);
    this.timer = setInterval(() => this.send(), this.o.intervalSecs * 1000);
    this.timer.unref();
  }

  /** The final beat: health draining, so the coordinator records this instance as left (not stale). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
    await this.post({ ...this.o.beat(), health: 'draining' });
  }

  private send(): void {
    // One beat at a time: a slow coordinator delays the next, it never piles them up.
    this.inFlight = this.inFlight.then(() => this.post(this.o.beat()));
  }

  /** A request to the coordinator with this instance's fleet credentials and CA (also the remote dispatch's channel). */
  request(path: string, body: unknown, timeoutMs = this.o.timeoutMs ?? 5000): Promise<{ status: number; body: unknown }> {
    return fleetRequest(new URL(path, this.o.coordinatorUrl), { method: 'POST', body, timeoutMs, ...(this.o.token ? { token: this.o.token } : {}), ...(this.o.caFile ? { caFile: this.o.caFile } : {}) });
  }

  private async post(hb: Heartbeat & Record<string, unknown>): Promise<void> {
    try {
      const res = await this.request('/v1/fleet/heartbeat', hb);
      const body = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as { status?: string; message?: string; control?: FleetControlWire; assignments?: AssignmentWire[] };
      if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}${body.message ? `: ${body.message}` : ''}`);
      this.lastStatus = body.status ?? null;
      if (body.control && typeof body.control === 'object') this.o.onControl?.(body.control);
      if (Array.isArray(body.assignments) && body.assignments.length > 0) this.o.onAssignments?.(body.assignments);
      if (this.failing !== null) this.log.info({ coordinator: this.o.coordinatorUrl }, `heartbeats reach ${this.o.coordinatorUrl} again (${this.lastStatus ?? '?'})`);
      this.failing = null;
    } catch (err) {
      const why = (err as Error).message;
      if (this.failing === null) this.log.warn({ coordinator: this.o.coordinatorUrl }, `heartbeat to ${this.o.coordinatorUrl} failed: ${why}; retrying every ${this.o.intervalSecs}s`);
      this.failing = why;
    }
  }
}
