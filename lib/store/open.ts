// Opening the store: refuse what is missing, corrupt or too new; then set the durability pragmas and migrate.

import { existsSync } from 'node:fs';
import { SplError, isSplError } from '../kernel/errors.js';
import { Database } from './database.js';
import { quickCheck } from './integrity.js';
import { migrate } from './schema.js';

export interface OpenStoreOptions {
  /** Create the file when it does not exist (spl init, first serve). */
  create?: boolean;
  readonly?: boolean;
}

export function corruptStoreError(path: string, detail: string, cause?: unknown): SplError {
  return new SplError(
    'STORE_CORRUPT',
    `the store ${path} failed its integrity check (${detail}); spl will not serve it and will not back it up over a good copy`,
    {
      cause,
      fix:
        `spl stop; mv ${path} ${path}.corrupt.$(date +%s); ` +
        `mv ${path}-wal ${path}-wal.corrupt.$(date +%s) 2>/dev/null; mv ${path}-shm ${path}-shm.corrupt.$(date +%s) 2>/dev/null; ` +
        `then copy your newest off-host backup to ${path} and run spl serve`,
    },
  );
}

/** Refuses a store path with no file behind it (SQLite would create an empty store there). */
export function assertStoreExists(path: string): void {
  if (!existsSync(path)) throw new SplError('NOT_FOUND', `no store at ${path}`, { fix: 'spl init (or spl serve) creates it' });
}

/** Opens a connection on a sound store with WAL and synchronous=FULL, migrated to the current schema. */
export async function openStore(path: string, opts: OpenStoreOptions = {}): Promise<Database> {
  if (!opts.create) assertStoreExists(path);
  let db: Database;
  try {
    db = await Database.open(path, { readonly: opts.readonly ?? false });
  } catch (err) {
    throw corruptStoreError(path, `cannot be opened: ${(err as Error).message}`, err);
  }
  try {
    const problems = await quickCheck(db);
    if (problems.length > 0) throw corruptStoreError(path, problems.slice(0, 3).join('; '));
    if (!opts.readonly) {
      await db.get('PRAGMA journal_mode = WAL');
      // A bigger page cache keeps the random id index's hot pages in memory on large stores.
      await db.exec('PRAGMA synchronous = FULL; PRAGMA cache_size = -65536');
      await migrate(db);
    }
    return db;
  } catch (err) {
    await db.close().catch(() => undefined);
    if (isSplError(err)) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw corruptStoreError(path, (err as Error).message, err);
    throw err;
  }
}
