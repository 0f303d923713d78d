// Host memory, in the bands the dispatch pre-flight logs (SPEC §7): ≥ 4 GiB healthy, 2–4 GiB approaching
// pressure, < 2 GiB OOM-kill risk. Linux only: without /proc/meminfo the check is skipped, as the runbook says.

import { readFileSync } from 'node:fs';
import { fail, ok, skip, warn, type Check } from './check.js';

const GiB = 1024 ** 3;

type MemoryBand = 'healthy' | 'approaching' | 'critical';

function memoryBand(availableBytes: number): MemoryBand {
  return availableBytes >= 4 * GiB ? 'healthy' : availableBytes >= 2 * GiB ? 'approaching' : 'critical';
}

/** MemAvailable from a /proc/meminfo text, in bytes; undefined when the line is missing. */
function memAvailable(meminfo: string): number | undefined {
  const m = /^MemAvailable:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

export const memoryCheck: Check = {
  id: 'memory',
  run() {
    let text: string;
    try {
      text = readFileSync('/proc/meminfo', 'utf8');
    } catch {
      return skip('no /proc/meminfo on this platform; watch the OS process monitor instead');
    }
    const avail = memAvailable(text);
    if (avail === undefined) return skip('/proc/meminfo has no MemAvailable line');
    const gb = `avail_gb=${(avail / GiB).toFixed(1)}`;
    switch (memoryBand(avail)) {
      case 'healthy':
        return ok(`host memory healthy ${gb}`);
      case 'approaching':
        return warn(`host approaching memory pressure ${gb}: consider whether a second parallel worker is worth it`, 'free -h');
      case 'critical':
        return fail(`host under memory pressure — OOM-kill risk ${gb}: drop to sequential dispatch (max_concurrent = 1) and close idle agent sessions`, 'free -h');
    }
  },
};
