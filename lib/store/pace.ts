// Pacing for work that shares the machine with a running instance (an off-host backup while it serves).

import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the store's WAL looks like now; a change between two looks means something committed. */
function walStamp(storePath: string): string {
  try {
    const st = statSync(`${storePath}-wal`, { bigint: true });
    return `${st.size}:${st.mtimeNs}`;
  } catch {
    return 'none';
  }
}

/**
 * Call `pause()` after each unit of work (a few MiB read, copied or hashed). While the instance commits —
 * the store's WAL changed since the last call — it sleeps long enough that the work takes no more than
 * `share` of the time; when nothing commits it returns at once, so an idle instance gets a full-speed backup.
 * Priority alone is not enough: on a small VM even an idle-priority backup slows the instance's commits by
 * sharing the CPU's caches, memory bandwidth and the disk queue, and every page it touches for the first time
 * costs the hypervisor work; pacing bounds that share.
 */
export class WriterPacer {
  private last = performance.now();
  private wal: string;
  /** Milliseconds spent waiting for the instance so far. */
  waitedMs = 0;

  constructor(
    private readonly storePath: string,
    private readonly share = 0.5,
  ) {
    this.wal = walStamp(storePath);
  }

  async pause(): Promise<void> {
    const worked = performance.now() - this.last;
    const wal = walStamp(this.storePath);
    const busy = wal !== this.wal;
    this.wal = wal;
    if (busy) {
      const wait = worked * (1 / this.share - 1);
      this.waitedMs += wait;
      await sleep(wait);
    }
    this.last = performance.now();
  }
}
