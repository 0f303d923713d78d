// A full checkpoint from a test, on a RecordLog's own writer connection. The log's background checkpoint
// (lib/store/wal-checkpoint.ts) may hold SQLite's checkpoint lock for a moment after a commit; a TRUNCATE that
// meets it answers at once with busy 1 and log -1 (it could not start), and is tried again. A reader holding old
// frames answers busy 1 with the real frame counts, which is returned as it is: the caller's check fails.

import type { RecordLog } from '../../lib/store/record-log.js';

type Result = { busy: number; log: number; checkpointed: number };

export async function truncateWal(log: RecordLog): Promise<Result> {
  const writer = (log as unknown as { writer: { get<T>(sql: string): Promise<T> } }).writer;
  let r = await writer.get<Result>('PRAGMA wal_checkpoint(TRUNCATE)');
  for (let i = 0; i < 50 && r.log === -1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    r = await writer.get<Result>('PRAGMA wal_checkpoint(TRUNCATE)');
  }
  return r;
}
