// Controlling a running instance from outside it: finding it (PID file, then the socket, then the port's owner),
// stopping it with SIGTERM and waiting, and a synchronous SIGHUP reload. The CLI's stop, restart, reload,
// permissions-unlock and backup restore use these and only print what they return.

import { existsSync, rmSync } from 'node:fs';
import { SplError } from '../kernel/errors.js';
import type { InstanceInfo } from '../kernel/wire.js';
import type { HomePaths } from './home.js';
import { inspectPidFile, isSplServe, processExited, readPidFile } from './pidfile.js';
import { holdsFile, tcpPortHolder } from './port-owner.js';

export interface FoundInstance {
  pid: number;
  via: 'pid file' | 'socket' | 'port';
}

/** How to ask the instance who it is over its own API (the caller's client: socket first, else TCP). */
interface InstanceProbe {
  info(): Promise<InstanceInfo>;
  /** What the probe talks to: the socket or a TCP address. */
  via: 'socket' | 'port';
}

/** The running instance's pid: PID file first, then ask over the socket, then the owner of the port. */
export async function findInstance(paths: HomePaths, port: number, probe: InstanceProbe): Promise<{ found?: FoundInstance; notes: string[] }> {
  const notes: string[] = [];
  const pidState = inspectPidFile(paths.pidFile);
  if (pidState.state === 'running') return { found: { pid: pidState.pid, via: 'pid file' }, notes };
  if (pidState.state === 'stale') notes.push(`stale PID file ${paths.pidFile}: ${pidState.reason}`);
  try {
    const info = await probe.info();
    if (isSplServe(info.pid)) return { found: { pid: info.pid, via: probe.via }, notes };
  } catch {
    // not answering; try the port
  }
  const holder = tcpPortHolder(port);
  if (holder) {
    // Only an instance holding this home's lock is ours: another home's instance may own the port.
    if (isSplServe(holder.pid) && holdsFile(holder.pid, paths.lockFile)) return { found: { pid: holder.pid, via: 'port' }, notes };
    notes.push(`port ${port} is held by pid ${holder.pid} (${holder.command}), which is not this home's spl serve; not touching it`);
  }
  return { notes };
}

/**
 * SIGTERM to `found`, then wait for it to exit. The instance removes its socket and PID file on the way out; one
 * that died instead (SIGKILL, a crash) leaves them, and they must not stay behind looking like a live instance:
 * they are removed under the home lock, and returned so the caller can say so.
 */
export async function stopRunning(paths: HomePaths, found: FoundInstance, timeoutSecs: number): Promise<{ leftovers: string[] }> {
  process.kill(found.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutSecs * 1000;
  while (!processExited(found.pid)) {
    if (Date.now() > deadline) {
      throw new SplError('UNAVAILABLE', `pid ${found.pid} is still running ${timeoutSecs}s after SIGTERM`, { fix: `check logs/spl.log; as a last resort: kill -9 ${found.pid}` });
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  let leftovers: string[] = [];
  // The lock module loads the store driver: only a stop pays for it, not every command that finds the instance.
  const { HomeLock } = await import('./lock.js');
  const lock = await HomeLock.acquire(paths.lockFile).catch(() => undefined); // free: no instance started since
  if (lock) {
    leftovers = [paths.pidFile, paths.socket].filter((f) => (f === paths.pidFile ? readPidFile(f) === found.pid : existsSync(f)));
    for (const f of leftovers) rmSync(f, { force: true });
    await lock.release();
  }
  return { leftovers };
}

type ReloadOutcome = { pid: number } & NonNullable<InstanceInfo['reloads']>;

/**
 * Synchronous reload: note the instance's reload count, send SIGHUP, wait until the count moves, and return how
 * it went (`ok: false` when the instance kept its settings: an invalid config.toml).
 */
export async function reloadRunning(paths: HomePaths, info: () => Promise<InstanceInfo>, pidFlag: number | undefined, timeoutSecs: number): Promise<ReloadOutcome> {
  if (pidFlag !== undefined && !(Number.isInteger(pidFlag) && pidFlag > 0)) throw new SplError('USAGE', `--pid must be a process id (got ${String(pidFlag)})`);
  const before = await info();
  if (pidFlag !== undefined && before.pid !== pidFlag) {
    throw new SplError('UNAVAILABLE', `pid ${pidFlag} is not the instance serving ${paths.home} (that is pid ${before.pid})`, { fix: 'spl status shows the running instance' });
  }
  if (!before.reloads) throw new SplError('UNAVAILABLE', `the instance (pid ${before.pid}, spl ${before.version}) does not report reloads`, { fix: 'restart it to run this version: spl restart' });
  const count = before.reloads.count;
  try {
    process.kill(before.pid, 'SIGHUP');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SplError('UNAVAILABLE', `cannot signal the instance (pid ${before.pid}): ${code ?? (err as Error).message}`, {
      fix: code === 'EPERM' ? `run spl reload as the user the instance runs as (systemd: sudo systemctl reload spl)` : 'spl status',
    });
  }
  const deadline = Date.now() + timeoutSecs * 1000;
  let after = before.reloads;
  while (after.count === count) {
    if (Date.now() > deadline) throw new SplError('UNAVAILABLE', `pid ${before.pid} did not finish reloading within ${timeoutSecs}s`, { fix: `spl logs -n 50 --target syncropel_instance` });
    await new Promise((r) => setTimeout(r, 50));
    after = (await info()).reloads ?? after;
  }
  return { pid: before.pid, ...after };
}
