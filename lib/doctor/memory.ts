// Host memory, in the bands the dispatch pre-flight logs (SPEC §7): ≥ 4 GiB healthy, 2–4 GiB approaching
// pressure, < 2 GiB OOM-kill risk — from MemAvailable, or the cgroup's limit − usage when that is tighter (the
// same reading the pre-flight takes). Linux only: without /proc/meminfo the check is skipped, as the runbook says.

import { availGb, bandOf, readMemory, systemMemory } from '../dispatch/memory.js';
import { fail, ok, skip, warn, type Check } from './check.js';

export const memoryCheck: Check = {
  id: 'memory',
  run() {
    const m = readMemory(systemMemory());
    if (m.availBytes === null) return skip('no /proc/meminfo (or no MemAvailable line) on this platform; watch the OS process monitor instead');
    const gb = `avail_gb=${availGb(m.availBytes).toFixed(1)}${m.source === 'cgroup' ? ' (the cgroup limit, tighter than MemAvailable)' : ''}`;
    switch (bandOf(m.availBytes)) {
      case 'healthy':
        return ok(`host memory healthy ${gb}`);
      case 'approaching':
        return warn(`host approaching memory pressure ${gb}: consider whether a second parallel worker is worth it`, 'free -h');
      case 'critical':
        return fail(`host under memory pressure — OOM-kill risk ${gb}: drop to sequential dispatch (max_concurrent = 1) and close idle agent sessions`, 'free -h');
    }
  },
};
