// Consistent copies of a store with SQLite's online backup API, verified before they are put in place.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Database } from './database.js';
import { quickCheck } from './integrity.js';
import { recordCounts } from './rows.js';
import { storedSchemaVersion } from './schema.js';

export interface BackupInspection {
  ok: boolean;
  records: number;
  schemaVersion: number;
  bytes: number;
  /** What quick_check (or opening) reported; empty when ok. */
  problems: string[];
}

/** Opens a backup (or any store file) read-only and reports whether it is sound and how many records it holds. */
export async function inspectStoreFile(path: string): Promise<BackupInspection> {
  let bytes = 0;
  try {
    bytes = statSync(path).size;
  } catch (err) {
    return { ok: false, records: 0, schemaVersion: 0, bytes, problems: [`cannot read ${path}: ${(err as Error).message}`] };
  }
  let db: Database;
  try {
    db = await Database.open(path, { readonly: true });
  } catch (err) {
    return { ok: false, records: 0, schemaVersion: 0, bytes, problems: [(err as Error).message] };
  }
  try {
    const problems = await quickCheck(db);
    if (problems.length > 0) return { ok: false, records: 0, schemaVersion: 0, bytes, problems };
    const schemaVersion = await storedSchemaVersion(db);
    const { records } = await recordCounts(db);
    return { ok: true, records, schemaVersion, bytes, problems: [] };
  } catch (err) {
    return { ok: false, records: 0, schemaVersion: 0, bytes, problems: [(err as Error).message] };
  } finally {
    await db.close().catch(() => undefined);
  }
}

/** Pages copied per online-backup step (4 MiB at the default page size). */
export const SNAPSHOT_STEP_PAGES = 1024;

/**
 * Writes a snapshot of `storePath` to `dest` from a connection of its own, while the instance may keep
 * writing. The connection first opens a read transaction and holds it for the whole copy: the online backup
 * API then copies that one snapshot step by step (it only restarts when it has to open a read transaction of
 * its own, and a write through another connection — the instance's — would make it). Copying in steps gives
 * real progress, and each step commits to the copy, so its writes reach the disk a few MiB at a time. Then
 * quick_check, rename into place and fsync the directory. A snapshot that fails verification is deleted and
 * reported, never left where a restore could pick it up.
 */
export async function snapshotStore(
  storePath: string,
  dest: string,
  opts: { onProgress?: (bytesDone: number, bytesTotal: number) => void } = {},
): Promise<BackupInspection & { durationMs: number }> {
  const started = Date.now();
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const db = await Database.open(storePath, { mustExist: true });
  try {
    await db.exec('BEGIN');
    await db.get('SELECT count(*) AS n FROM sqlite_schema'); // the read transaction starts at the first read
    const pageSize = Number((await db.get<{ page_size: number }>('PRAGMA page_size'))?.page_size ?? 4096);
    const backup = await db.startBackup(tmp);
    try {
      while (!(await backup.step(SNAPSHOT_STEP_PAGES))) {
        opts.onProgress?.((backup.pageCount - backup.remaining) * pageSize, backup.pageCount * pageSize);
      }
      opts.onProgress?.(backup.pageCount * pageSize, backup.pageCount * pageSize);
    } finally {
      await backup.finish();
      await db.exec('COMMIT').catch(() => undefined);
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    await db.close();
  }
  return finishSnapshot(tmp, dest, started);
}

/** fsync, verify, then rename into place; a copy that fails verification is removed. */
async function finishSnapshot(tmp: string, dest: string, started: number): Promise<BackupInspection & { durationMs: number }> {
  // The copy inherits the store's WAL mode; a backup file must stand alone (no -wal/-shm beside it when it is
  // opened, copied or restored), so it is switched to a rollback journal before anything else reads it.
  const copy = await Database.open(tmp, { mustExist: true });
  try {
    await copy.get('PRAGMA journal_mode = DELETE');
  } finally {
    await copy.close();
  }
  syncFile(tmp);
  const inspection = await inspectStoreFile(tmp);
  if (!inspection.ok) {
    rmSync(tmp, { force: true });
    return { ...inspection, durationMs: Date.now() - started };
  }
  renameSync(tmp, dest);
  syncFile(dirname(dest));
  return { ...inspection, durationMs: Date.now() - started };
}

export function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
