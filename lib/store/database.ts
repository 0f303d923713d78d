// A promise-shaped handle on one node-sqlite3 connection, opened with the store's pragmas.

import { statfsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type * as Sqlite3 from 'sqlite3';

// Required as CommonJS: importing node-sqlite3 as ESM makes node scan its source for export names first, which
// doubled what loading it costs a short CLI call (spl version, spl backup list).
const sqlite3 = createRequire(import.meta.url)('sqlite3') as typeof Sqlite3;

export type Row = Record<string, unknown>;
type Params = unknown[] | Record<string, unknown>;

export interface RunResult {
  changes: number;
  lastID: number;
}

interface OpenOptions {
  readonly?: boolean;
  /** Refuse to create the file when it does not exist. */
  mustExist?: boolean;
  busyTimeoutMs?: number;
}

/** Prepared statements kept per connection (the most recently used; the group commit's INSERT shapes). */
const STATEMENT_CACHE = 64;

export class Database {
  private readonly statements = new Map<string, Sqlite3.Statement>();

  private constructor(readonly path: string, private readonly db: Sqlite3.Database) {}

  static open(path: string, opts: OpenOptions = {}): Promise<Database> {
    const mode = opts.readonly
      ? sqlite3.OPEN_READONLY
      : opts.mustExist
        ? sqlite3.OPEN_READWRITE
        : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(path, mode | sqlite3.OPEN_FULLMUTEX, (err) => {
        if (err) return reject(err);
        db.configure('busyTimeout', opts.busyTimeoutMs ?? 5000);
        resolve(new Database(path, db));
      });
    });
  }

  run(sql: string, params: Params = []): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: Sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  /**
   * run() through a statement prepared once and kept (up to STATEMENT_CACHE of them, least recently used
   * dropped): for statements run again and again, it saves SQLite compiling the SQL each time.
   */
  runPrepared(sql: string, params: unknown[]): Promise<RunResult> {
    let stmt = this.statements.get(sql);
    if (stmt) this.statements.delete(sql);
    else {
      // A statement that fails to prepare reports it to this callback and to its run's; it is not kept.
      stmt = this.db.prepare(sql, (err: Error | null) => {
        if (err) this.statements.delete(sql);
      });
      if (this.statements.size >= STATEMENT_CACHE) {
        const [oldest, old] = this.statements.entries().next().value as [string, Sqlite3.Statement];
        this.statements.delete(oldest);
        old.finalize();
      }
    }
    this.statements.set(sql, stmt);
    const s = stmt;
    return new Promise((resolve, reject) => {
      s.run(params, function (this: Sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  get<T = Row>(sql: string, params: Params = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      this.db.get(sql, params, (err: Error | null, row: T | undefined) => (err ? reject(err) : resolve(row)));
    });
  }

  all<T = Row>(sql: string, params: Params = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.db.all(sql, params, (err: Error | null, rows: T[]) => (err ? reject(err) : resolve(rows)));
    });
  }

  /**
   * SQLite's online backup of the database file at `source` into this connection's database. The source is
   * opened by the backup itself and each step holds a read transaction on it only while it runs, so a write
   * through another connection between steps restarts the copy: a live store is copied in a single step.
   */
  startBackupFrom(source: string): Promise<OnlineBackup> {
    return new Promise((resolve, reject) => {
      const raw = this.db as unknown as { backup(file: string, destName: string, sourceName: string, fileIsDest: boolean, cb: (err: Error | null) => void): RawBackup };
      const backup = raw.backup(source, 'main', 'main', false, (err) => (err ? reject(err) : resolve(new OnlineBackup(backup))));
    });
  }

  /**
   * Starts an online backup of this connection's store into the file `dest`. The copy reads through this
   * connection: when it holds a read transaction (see snapshot.ts pinStore), every step reads that one
   * snapshot, and writes by other connections neither show in the copy nor restart it.
   */
  startBackupTo(dest: string): Promise<OnlineBackup> {
    return new Promise((resolve, reject) => {
      const raw = this.db as unknown as { backup(file: string, destName: string, sourceName: string, fileIsDest: boolean, cb: (err: Error | null) => void): RawBackup };
      const backup = raw.backup(dest, 'main', 'main', true, (err) => (err ? reject(err) : resolve(new OnlineBackup(backup))));
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  /** Makes the statement running now fail with SQLITE_INTERRUPT (a long quick_check the caller no longer needs). */
  interrupt(): void {
    this.db.interrupt();
  }

  async close(): Promise<void> {
    const kept = [...this.statements.values()];
    this.statements.clear();
    await Promise.all(kept.map((s) => new Promise<void>((resolve) => s.finalize(() => resolve()))));
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}

/**
 * Whether a failed write means the disk is full: SQLITE_FULL, or an I/O error (a WAL or -shm write that hit
 * ENOSPC surfaces as SQLITE_IOERR) while the filesystem holding `path` has no space left.
 */
export function isDiskFull(err: unknown, path?: string): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return true;
  return code === 'SQLITE_IOERR' && path !== undefined && freeBytes(dirname(path)) < 64 * 1024;
}

function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

interface RawBackup {
  step(pages: number, cb: (err: Error | null) => void): void;
  finish(cb?: () => void): void;
  readonly completed: boolean;
}

class OnlineBackup {
  constructor(private readonly raw: RawBackup) {}

  /** Copies up to `pages` pages (-1: all); resolves true once the copy is complete. */
  step(pages: number): Promise<boolean> {
    return new Promise((resolve, reject) => this.raw.step(pages, (err) => (err ? reject(err) : resolve(this.raw.completed))));
  }

  finish(): Promise<void> {
    return new Promise((resolve) => this.raw.finish(() => resolve()));
  }
}
