// The PID file (run/spl.pid) and the test for whether a PID still names a running spl instance.

import { procStat } from '../dispatch/proc.js';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export function readPidFile(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function writePidFile(file: string, pid: number = process.pid): void {
  const tmp = `${file}.tmp-${pid}`;
  writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
  renameSync(tmp, file);
}

/** Removes the PID file only when it still names `pid` (a newer instance may have replaced it). */
export function removePidFile(file: string, pid: number = process.pid): void {
  if (readPidFile(file) === pid) rmSync(file, { force: true });
}

/**
 * Whether `pid` has exited: gone, or a zombie its parent has not reaped yet. A daemon's parent is init, which may
 * reap late (seconds, in some containers); a zombie holds nothing (no lock, no socket, no store), so a stop is
 * over as soon as the process is one.
 */
export function processExited(pid: number): boolean {
  if (!processAlive(pid)) return true;
  const stat = procStat(pid);
  return stat === null || stat.state === 'Z'; // null: gone between the two looks
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and its command line is an `spl serve`. */
export function isSplServe(pid: number): boolean {
  if (!processAlive(pid)) return false;
  const cmd = commandLine(pid);
  if (cmd === undefined) return true; // no /proc: trust liveness alone
  return /\bspl\b/.test(cmd) && /\bserve\b/.test(cmd);
}

export type PidFileState = { state: 'absent' } | { state: 'running'; pid: number } | { state: 'stale'; pid: number; reason: string };

export function inspectPidFile(file: string): PidFileState {
  const pid = readPidFile(file);
  if (pid === undefined) return { state: 'absent' };
  if (!processAlive(pid)) return { state: 'stale', pid, reason: `no process ${pid} exists` };
  if (!isSplServe(pid)) return { state: 'stale', pid, reason: `process ${pid} is ${commandLine(pid) || 'a process with no command line (a zombie or kernel thread)'}, not spl serve` };
  return { state: 'running', pid };
}
