// One instance per home: an exclusive SQLite lock on run/spl.lock. The kernel drops the lock when the
// holder dies (even by SIGKILL), so it can never go stale the way a PID file can.

import { Database } from '../store/database.js';

export class HomeLock {
  private constructor(private readonly db: Database) {}

  /** Takes the lock, or returns undefined when another process holds it. */
  static async acquire(file: string): Promise<HomeLock | undefined> {
    const db = await Database.open(file, { busyTimeoutMs: 0 });
    try {
      await db.exec('PRAGMA journal_mode = OFF; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;');
      return new HomeLock(db);
    } catch (err) {
      await db.close().catch(() => undefined);
      if ((err as { code?: string }).code === 'SQLITE_BUSY' || (err as { code?: string }).code === 'SQLITE_LOCKED') return undefined;
      throw err;
    }
  }

  async release(): Promise<void> {
    await this.db.exec('ROLLBACK').catch(() => undefined);
    await this.db.close();
  }
}
