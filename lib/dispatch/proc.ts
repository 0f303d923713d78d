// One process as /proc/<pid>/stat tells it: its state (R, S, Z, …) and its start time in clock ticks since boot.
// A pid and its start time name one process: a pid reused by another process has another start time.

import { readFileSync } from 'node:fs';

export function procStat(pid: number): { state: string; start: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): 3 (state) onwards; 22 is starttime.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[0] !== undefined && f[19] !== undefined ? { state: f[0], start: f[19] } : null;
  } catch {
    return null;
  }
}
