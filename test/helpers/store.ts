// A full checkpoint from a test, on a RecordLog's own writer connection. The log's background checkpoint
// (lib/store/wal-checkpoint.ts) may hold SQLite's checkpoint lock for a moment after a commit, which makes a
// TRUNCATE answer busy at once; that is retried a few times. A reader holding old frames keeps it busy through
// every try (each waits out the busy timeout), so a leaked snapshot still fails the caller's check.

import type { RecordLog } from '../../lib/store/record-log.js';

export async function truncateWal(log: RecordLog): Promise<{ busy: number; log: number; checkpointed: number }> {
  const writer = (log as unknown as { writer: { get<T>(sql: string): Promise<T> } }).writer;
  let r = await writer.get<{ busy: number; log: number; checkpointed: number }>('PRAGMA wal_checkpoint(TRUNCATE)');
  for (let i = 0; i < 10 && r.busy !== 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    r = await writer.get('PRAGMA wal_checkpoint(TRUNCATE)');
  }
  return r;
}
