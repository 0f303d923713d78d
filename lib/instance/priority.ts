// Background work (spl backup create) yields the CPU to the instance it runs beside.
//
// Ingest is latency-bound: each group commit waits for the previous one, so every wakeup of the instance's
// threads that has to wait for a CPU costs throughput. A nice-19 process still delays those wakeups (measured:
// ingest fell to about half during a niced backup); a SCHED_IDLE one is preempted at once (ingest stayed at
// about 0.9). Node has no sched_setscheduler, so util-linux's chrt sets it for every thread of this process;
// threads created later (libuv's pool, where SQLite and hashing run) inherit it.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

type Yielded = 'idle' | 'nice' | 'unchanged';

/**
 * Puts this whole process at the lowest CPU priority: SCHED_IDLE through `chrt --all-tasks --idle`, else
 * niceness 19 on every thread. Only lowers priority, which needs no privilege; a sandbox that filters the
 * calls (spl-backup.service, which sets CPUSchedulingPolicy=idle itself) leaves things as they are.
 */
export function yieldCpu(): Yielded {
  const r = spawnSync('chrt', ['--all-tasks', '--idle', '--pid', '0', String(process.pid)], { stdio: 'ignore', timeout: 5000 });
  if (r.status === 0) return 'idle';
  return lowerPriority(19) > 0 ? 'nice' : 'unchanged';
}

/**
 * Sets every thread of this process to `nice` (Linux niceness is per thread: setpriority(PRIO_PROCESS, pid)
 * changes only the main thread). Returns how many threads were changed.
 */
function lowerPriority(nice = 19): number {
  let changed = 0;
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    tids = [String(process.pid)];
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
      changed++;
    } catch {
      // a thread that exited, or setpriority filtered: nothing to do
    }
  }
  return changed;
}
