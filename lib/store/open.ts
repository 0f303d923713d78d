// Opening the store: refuse what is missing, corrupt or too new; then set the durability pragmas and migrate.

import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { SplError, isSplError } from '../kernel/errors.js';
import { Database } from './database.js';
import { earlyVerdict, type EarlyCheck } from './early-check.js';
import { quickCheck } from './integrity.js';
import { migrate } from './schema.js';

/** Bytes the WAL file is cut back to when it starts over (a WAL without long readers stays far below: ~4 MiB). */
export const WAL_SIZE_LIMIT = 64 * 1048576;

export interface OpenStoreOptions {
  /** Create the file when it does not exist (spl init, first serve). */
  create?: boolean;
  readonly?: boolean;
  /** A quick_check of this store begun earlier (early-check.ts): its verdict is used if the files have not changed since. */
  checked?: EarlyCheck;
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

/**
 * Why this process could not write the store at `path` (or create it there), or undefined when it can:
 * read-only filesystem, a file or directory it may not write, or a file owned by someone else.
 */
export function writeProblem(path: string): { reason: string; fix: string } | undefined {
  const dir = dirname(path);
  const user = `uid ${process.getuid?.() ?? '?'}`;
  const test = (p: string): NodeJS.ErrnoException | undefined => {
    try {
      accessSync(p, constants.W_OK);
      return undefined;
    } catch (err) {
      return err as NodeJS.ErrnoException;
    }
  };
  for (const p of [path, `${path}-wal`, `${path}-shm`, dir]) {
    if (p !== dir && !existsSync(p)) continue;
    const err = test(p);
    if (!err) continue;
    if (err.code === 'EROFS') return { reason: `${p} is on a read-only filesystem`, fix: `remount it read-write (mount -o remount,rw …), or set [store] path to a writable disk` };
    if (err.code === 'EACCES' || err.code === 'EPERM') {
      const st = statSync(p);
      const owner = st.uid === process.getuid?.() ? 'this user' : `uid ${st.uid}`;
      const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
      return p === dir
        ? { reason: `its directory ${dir} is not writable by ${user} (owner ${owner}, mode 0${mode}); SQLite creates the WAL beside the store`, fix: `chown ${process.getuid?.() ?? ''} ${dir} && chmod 700 ${dir} (or run spl as ${owner})` }
        : { reason: `${p} is not writable by ${user} (owner ${owner}, mode 0${mode})`, fix: st.uid === process.getuid?.() ? `chmod 600 ${p}` : `run spl as its owner (${owner}), or: chown ${process.getuid?.() ?? ''} ${p} && chmod 600 ${p}` };
    }
  }
  return undefined;
}

export function readonlyStoreError(path: string, reason: string, fix: string, cause?: unknown): SplError {
  return new SplError('STORE_READONLY', `the store ${path} cannot be written: ${reason}; spl will not serve a store it cannot write`, { fix, ...(cause === undefined ? {} : { cause }) });
}

/** A store path SQLite cannot open at all (no such directory, not a regular file, /proc): not corruption. */
function cantOpenError(path: string, err: unknown): SplError {
  const dir = dirname(path);
  let reason = (err as Error).message;
  try {
    const st = statSync(path);
    if (!st.isFile()) reason = `${path} is not a regular file`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') reason = existsSync(dir) ? `${path} does not exist and cannot be created in ${dir}` : `its directory ${dir} does not exist`;
    else if (code === 'EACCES') reason = `${path} cannot be read by uid ${process.getuid?.() ?? '?'}`;
    else if (code === 'ENOTDIR') reason = `a part of ${dir} is not a directory`;
  }
  return new SplError('STORE_UNAVAILABLE', `cannot open the store ${path}: ${reason} (${(err as { code?: string }).code ?? 'error'}); the file is not damaged, it cannot be reached`, {
    cause: err,
    fix: `set [store] path in config.toml to a file on a local disk this user can write (default: hub.db in the home)`,
  });
}

/** Opens a connection on a sound store with WAL and synchronous=FULL, migrated to the current schema. */
export async function openStore(path: string, opts: OpenStoreOptions = {}): Promise<Database> {
  if (!opts.create) assertStoreExists(path);
  if (!opts.readonly) {
    const problem = writeProblem(path);
    if (problem) throw readonlyStoreError(path, problem.reason, problem.fix);
  }
  let db: Database;
  try {
    db = await Database.open(path, { readonly: opts.readonly ?? false });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') throw cantOpenError(path, err);
    throw corruptStoreError(path, `cannot be opened: ${(err as Error).message}`, err);
  }
  try {
    const problems = (await earlyVerdict(opts.checked, path)) ?? (await quickCheck(db));
    if (problems.length > 0) throw corruptStoreError(path, problems.slice(0, 3).join('; '));
    if (!opts.readonly) {
      await db.get('PRAGMA journal_mode = WAL');
      // A bigger page cache keeps the random id index's hot pages in memory on large stores. While a reader holds
      // an old snapshot (a backup's copy) the WAL cannot start over and grows with every commit; once it does
      // start over, SQLite cuts the file back to WAL_SIZE_LIMIT instead of keeping its largest size until shutdown.
      await db.exec(`PRAGMA synchronous = FULL; PRAGMA cache_size = -65536; PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
      await migrate(db);
      await probeWrite(db, path);
    }
    return db;
  } catch (err) {
    await db.close().catch(() => undefined);
    if (isSplError(err)) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw corruptStoreError(path, (err as Error).message, err);
    if (code === 'SQLITE_CANTOPEN') throw cantOpenError(path, err);
    throw err;
  }
}

/**
 * One real write, rolled back by nothing: SQLite opens a file it may not write read-only without saying so, and
 * every append would then fail. Rewriting the schema_version row is a committed no-op on a writable store.
 */
async function probeWrite(db: Database, path: string): Promise<void> {
  try {
    await db.run(`UPDATE meta SET value = value WHERE key = 'schema_version'`);
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_CANTOPEN') {
      const p = writeProblem(path);
      throw readonlyStoreError(path, p?.reason ?? `SQLite refused a write (${(err as Error).message})`, p?.fix ?? `check the mode and owner of ${path} and of its directory`, err);
    }
    if (code === 'SQLITE_FULL') {
      throw new SplError('STORAGE_FULL', `the disk holding ${path} is full: the store cannot take a write`, { cause: err, fix: `free space on it: df -h ${dirname(path)}` });
    }
    throw err;
  }
}
