// The worker side of the fleet (SPEC §12): with `[fleet] coordinator_url` set, the instance POSTs a heartbeat to
// the coordinator every heartbeat_interval_secs (its DID, advertised endpoint, version, uptime, health, active
// dispatches and store records), with `[fleet] token` as its bearer. On a graceful stop it sends one final beat
// with health `draining`, which the coordinator records as `left`. A failed beat is logged once per outage (and
// once when it recovers), never retried in a burst: the next one is an interval later.

import type { Logger } from 'pino';
import type { Heartbeat } from './registry.js';

export interface HeartbeatOptions {
  coordinatorUrl: string;
  intervalSecs: number;
  token: string | undefined;
  logger: Logger;
  beat(): Heartbeat;
  /** How long one POST may take. */
  timeoutMs?: number;
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

  private async post(hb: Heartbeat): Promise<void> {
    const url = new URL('/v1/fleet/heartbeat', this.o.coordinatorUrl).toString();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}) },
        body: JSON.stringify(hb),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000),
      });
      const body = (await res.json().catch(() => ({}))) as { status?: string; message?: string };
      if (!res.ok) throw new Error(`HTTP ${res.status}${body.message ? `: ${body.message}` : ''}`);
      this.lastStatus = body.status ?? null;
      if (this.failing !== null) this.log.info({ coordinator: this.o.coordinatorUrl }, `heartbeats reach ${this.o.coordinatorUrl} again (${this.lastStatus ?? '?'})`);
      this.failing = null;
    } catch (err) {
      const why = (err as Error).message;
      if (this.failing === null) this.log.warn({ coordinator: this.o.coordinatorUrl }, `heartbeat to ${this.o.coordinatorUrl} failed: ${why}; retrying every ${this.o.intervalSecs}s`);
      this.failing = why;
    }
  }
}
