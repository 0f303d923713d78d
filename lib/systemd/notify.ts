// sd_notify(3) from the main process (SPEC §8): READY=1 once serving, STATUS= with records and bind,
// WATCHDOG=1 at half of WATCHDOG_USEC, EXTEND_TIMEOUT_USEC= while start-up work runs long, STOPPING=1 on
// shutdown, RELOADING=1 + MONOTONIC_USEC= … READY=1 around a SIGHUP reload.
//
// The datagrams go out of this process itself (through dgram.ts, for a socket path or an abstract "@name"), so
// with NotifyAccess=main systemd accepts them: it checks the sender's pid. Outside systemd (no NOTIFY_SOCKET)
// every call is a no-op.
//
// The watchdog ping is a timer on the event loop: if the loop hangs (a runaway synchronous task, SIGSTOP),
// the pings stop and systemd restarts the unit after WatchdogSec.

import { DatagramAddressError, datagramSender, type DatagramSender } from './dgram.js';

export type Env = Record<string, string | undefined>;

interface NotifyLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface Notifier {
  /** True when NOTIFY_SOCKET names a socket this process can send to. */
  readonly enabled: boolean;
  /** The watchdog ping interval in ms (half of WATCHDOG_USEC), or undefined when the watchdog is off. */
  readonly watchdogIntervalMs: number | undefined;
  /** Sends raw `KEY=value` assignments. Returns false when nothing was sent. */
  send(...assignments: string[]): boolean;
  /** Start-up in progress: STATUS= now, and EXTEND_TIMEOUT_USEC= (with a watchdog ping) every few seconds until ready(). */
  starting(step: string): void;
  /** READY=1 with a STATUS= line; stops the start-up extensions and starts the watchdog pings. */
  ready(status: string): void;
  status(status: string): void;
  /** RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC, as systemd requires). */
  reloading(status?: string): void;
  stopping(status?: string): void;
  /** A shutdown step: STATUS= now and EXTEND_TIMEOUT_USEC= every few seconds until close(). */
  stoppingStep(step: string): void;
  /** Stops the timers and closes the socket. */
  close(): void;
}

/** How far each EXTEND_TIMEOUT_USEC= pushes the start timeout, and how often it is sent. */
const EXTEND_USEC = 30_000_000;
const EXTEND_EVERY_MS = 10_000;

/** CLOCK_MONOTONIC in µs: libuv's hrtime is CLOCK_MONOTONIC on Linux, the clock RELOADING=1 wants. */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * WATCHDOG_USEC applies to this process when WATCHDOG_PID is unset or names it (sd_watchdog_enabled(3)).
 * Returns the ping interval in ms: half the timeout, as systemd recommends.
 */
function watchdogInterval(env: Env, pid = process.pid): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^\d+$/.test(usec) || Number(usec) <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/** A STATUS= value on one line (systemd shows it in `systemctl status`). */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 400);
}

class NoopNotifier implements Notifier {
  readonly enabled = false;
  readonly watchdogIntervalMs = undefined;
  send(): boolean {
    return false;
  }
  starting(): void {}
  ready(): void {}
  status(): void {}
  reloading(): void {}
  stopping(): void {}
  stoppingStep(): void {}
  close(): void {}
}

class SocketNotifier implements Notifier {
  readonly enabled = true;
  readonly watchdogIntervalMs: number | undefined;
  private sender: DatagramSender | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private warned = false;
  private step = '';

  constructor(
    private readonly path: string,
    sender: DatagramSender,
    env: Env,
    private readonly logger?: NotifyLogger,
  ) {
    this.watchdogIntervalMs = watchdogInterval(env);
    this.sender = sender;
  }

  send(...assignments: string[]): boolean {
    if (!this.sender || assignments.length === 0) return false;
    const err = this.sender.send(Buffer.from(assignments.join('\n'), 'utf8'));
    const ok = err === undefined;
    if (err) this.failed(err);
    // Watchdog pings are too frequent to log; everything else is a DEBUG line.
    if (ok && assignments[0] !== 'WATCHDOG=1') this.logger?.debug({ notify: assignments.map((a) => a.split('=')[0]).join(',') }, 'sd_notify sent');
    return ok;
  }

  starting(step: string): void {
    this.step = step;
    if (this.startTimer) {
      this.send(`STATUS=starting: ${oneLine(step)}`);
      return;
    }
    // Each message moves the start timeout to now + EXTEND_USEC, so a long quick_check, startup backup or fold
    // rebuild is not killed by TimeoutStartSec while it makes progress on the event loop; a hung loop stops
    // these, and the unit's own timeout applies again.
    const extend = (): void => {
      const extra = this.watchdogIntervalMs !== undefined ? ['WATCHDOG=1'] : [];
      this.send(`EXTEND_TIMEOUT_USEC=${EXTEND_USEC}`, `STATUS=starting: ${oneLine(this.step)}`, ...extra);
    };
    extend();
    this.startTimer = setInterval(extend, EXTEND_EVERY_MS);
    this.startTimer.unref();
  }

  ready(status: string): void {
    if (this.startTimer) clearInterval(this.startTimer);
    this.startTimer = undefined;
    this.send('READY=1', `STATUS=${oneLine(status)}`);
    if (this.watchdogIntervalMs !== undefined && !this.watchdogTimer) {
      this.watchdogTimer = setInterval(() => this.send('WATCHDOG=1'), this.watchdogIntervalMs);
      this.watchdogTimer.unref();
    }
  }

  status(status: string): void {
    this.send(`STATUS=${oneLine(status)}`);
  }

  reloading(status = 'reloading configuration'): void {
    this.send('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`, `STATUS=${oneLine(status)}`);
  }

  stopping(status = 'stopping: draining requests, checkpointing the WAL'): void {
    if (this.startTimer) clearInterval(this.startTimer);
    this.startTimer = undefined;
    // The watchdog keeps pinging while the drain runs: a long checkpoint is not a hang.
    this.send('STOPPING=1', `STATUS=${oneLine(status)}`);
  }

  /**
   * A shutdown step that may take a while (a service stopping its children, the WAL checkpoint): STATUS= now and
   * EXTEND_TIMEOUT_USEC= every few seconds until close(), so TimeoutStopSec does not cut a shutdown that is
   * making progress.
   */
  stoppingStep(step: string): void {
    this.step = step;
    const extend = (): void => {
      const extra = this.watchdogIntervalMs !== undefined ? ['WATCHDOG=1'] : [];
      this.send(`EXTEND_TIMEOUT_USEC=${EXTEND_USEC}`, `STATUS=stopping: ${oneLine(this.step)}`, ...extra);
    };
    extend();
    if (!this.startTimer) {
      this.startTimer = setInterval(extend, EXTEND_EVERY_MS);
      this.startTimer.unref();
    }
  }

  close(): void {
    if (this.startTimer) clearInterval(this.startTimer);
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.startTimer = this.watchdogTimer = undefined;
    this.sender?.close();
    this.sender = undefined;
  }

  private failed(err: Error): void {
    if (this.warned) return;
    this.warned = true;
    this.logger?.warn({ err: err.message, notify_socket: this.path }, `sd_notify to ${this.path} failed; systemd will not see readiness or watchdog pings`);
  }
}

/**
 * The notifier for this process: a no-op without NOTIFY_SOCKET; otherwise a socket path (`/run/systemd/notify`)
 * or an abstract name (`@name`, as sd_notify(3) accepts). Anything else — or a sender that cannot be set up —
 * is one WARN and a no-op: the instance still serves, systemd just does not hear from it.
 */
export function createNotifier(env: Env = process.env, logger?: NotifyLogger): Notifier {
  const path = env.NOTIFY_SOCKET;
  if (!path) return new NoopNotifier();
  try {
    return new SocketNotifier(path, datagramSender(path), env, logger);
  } catch (err) {
    // A malformed address already says what is wrong with it; a setup failure needs the address in front.
    const why = err instanceof DatagramAddressError ? err.message : `${path} cannot be used: ${(err as Error).message}`;
    logger?.warn({ notify_socket: path }, `NOTIFY_SOCKET ${why}; readiness and watchdog pings are off`);
    return new NoopNotifier();
  }
}
