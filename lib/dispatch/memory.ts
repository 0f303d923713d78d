// The dispatch memory pre-flight (SPEC §7, the runbook's "Dispatch under memory pressure"): how much memory a new
// worker can have, from /proc/meminfo's MemAvailable or from the instance's cgroup (limit − usage) when that is
// tighter (a unit with MemoryMax=), classified into the runbook's three bands; and the cgroup's OOM-kill counter,
// read before a worker starts and after it dies, so a SIGKILL can be told apart from the OOM killer's.
//
// The source is injectable: tests hand in meminfo and cgroup text; the instance reads /proc and /sys/fs/cgroup.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const GIB = 1024 ** 3;

export type MemoryBand = 'healthy' | 'approaching' | 'critical';

/** Where the numbers come from: file contents, or undefined where a file does not exist (not Linux, no cgroup). */
export interface MemorySource {
  /** /proc/meminfo. */
  meminfo(): string | undefined;
  /** The instance's cgroup memory files, by name (memory.max, memory.current, memory.events; v1 names too). */
  cgroupFile(name: string): string | undefined;
}

export interface MemoryReading {
  /** Bytes a new worker can use: the tighter of MemAvailable and the cgroup's limit − usage; null when unknown. */
  availBytes: number | null;
  /** Which figure decided: MemAvailable, or the cgroup. */
  source: 'meminfo' | 'cgroup' | 'none';
  /** The cgroup's limit and usage when it has a limit. */
  cgroup: { limit: number; usage: number } | null;
  memAvailable: number | null;
}

export interface Preflight {
  band: MemoryBand | null;
  avail_gb: number | null;
  source: MemoryReading['source'];
  /** The line logged (without the level), as the runbook prints it. */
  line: string;
  level: 'debug' | 'info' | 'warn';
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The memory cgroup directory of this process: the v2 unified path, else the v1 memory controller's. */
function ownCgroupDirs(procCgroup: string | undefined, root = '/sys/fs/cgroup'): string[] {
  if (procCgroup === undefined) return [];
  const dirs: string[] = [];
  for (const line of procCgroup.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    if (controllers === '') dirs.push(join(root, path), join(root, 'unified', path));
    else if (controllers!.split(',').includes('memory')) dirs.push(join(root, 'memory', path));
  }
  return dirs;
}

/** The host's /proc and /sys/fs/cgroup (the directory of the first memory cgroup file found). */
export function systemMemory(): MemorySource {
  const dirs = ownCgroupDirs(read('/proc/self/cgroup'));
  return {
    meminfo: () => read('/proc/meminfo'),
    cgroupFile(name) {
      for (const d of dirs) {
        const text = read(join(d, name));
        if (text !== undefined) return text;
      }
      return undefined;
    },
  };
}

function memAvailable(meminfo: string | undefined): number | null {
  const m = meminfo === undefined ? null : /^MemAvailable:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : null;
}

/** A number from a cgroup file; null for `max`, a v1 "no limit" (≥ 2^60) or a missing file. */
function bytesOf(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim();
  if (t === 'max' || !/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= 2 ** 60 ? null : n;
}

export function readMemory(src: MemorySource): MemoryReading {
  const avail = memAvailable(src.meminfo());
  // v1: a parent's limit applies too, and memory.stat's hierarchical_memory_limit is the tightest one.
  const hierarchical = /^hierarchical_memory_limit (\d+)$/m.exec(src.cgroupFile('memory.stat') ?? '')?.[1];
  const limit = bytesOf(src.cgroupFile('memory.max')) ?? bytesOf(hierarchical) ?? bytesOf(src.cgroupFile('memory.limit_in_bytes'));
  const usage = bytesOf(src.cgroupFile('memory.current')) ?? bytesOf(src.cgroupFile('memory.usage_in_bytes'));
  const cgroup = limit !== null && usage !== null ? { limit, usage } : null;
  const left = cgroup ? Math.max(0, cgroup.limit - cgroup.usage) : null;
  if (left !== null && (avail === null || left < avail)) return { availBytes: left, source: 'cgroup', cgroup, memAvailable: avail };
  return { availBytes: avail, source: avail === null ? 'none' : 'meminfo', cgroup, memAvailable: avail };
}

/** The runbook's bands: healthy ≥ 4 GiB, approaching 2–4 GiB, critical < 2 GiB. */
export function bandOf(availBytes: number): MemoryBand {
  return availBytes >= 4 * GIB ? 'healthy' : availBytes >= 2 * GIB ? 'approaching' : 'critical';
}

/** GiB to one decimal, rounded down, so a figure just under a band's edge never prints as the edge itself. */
export function availGb(bytes: number): number {
  return Math.floor((bytes / GIB) * 10) / 10;
}

/** One pre-flight: the band and exactly the runbook's line for it. */
export function preflight(src: MemorySource): Preflight {
  const m = readMemory(src);
  if (m.availBytes === null) {
    return { band: null, avail_gb: null, source: 'none', level: 'debug', line: 'dispatch pre-flight: no /proc/meminfo or cgroup memory figures on this host; skipped' };
  }
  const gb = availGb(m.availBytes);
  const band = bandOf(m.availBytes);
  const avail = `avail_gb=${gb.toFixed(1)}`;
  if (band === 'healthy') return { band, avail_gb: gb, source: m.source, level: 'debug', line: `dispatch pre-flight: host memory healthy ${avail}` };
  if (band === 'approaching') return { band, avail_gb: gb, source: m.source, level: 'info', line: `dispatch pre-flight: host approaching memory pressure ${avail}` };
  return { band, avail_gb: gb, source: m.source, level: 'warn', line: `dispatch pre-flight: host under memory pressure — OOM-kill risk; consider sequential dispatch ${avail}` };
}

/** The cgroup's OOM-kill count (v2 memory.events `oom_kill`, v1 memory.oom_control `oom_kill`); null when unreadable. */
export function oomKills(src: MemorySource): number | null {
  for (const name of ['memory.events', 'memory.oom_control']) {
    const m = /^oom_kill (\d+)$/m.exec(src.cgroupFile(name) ?? '');
    if (m) return Number(m[1]);
  }
  return null;
}
