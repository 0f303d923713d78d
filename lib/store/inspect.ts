// A read-only look at a store file (the live store, a backup, a copy just restored): whether it can be used,
// which schema it has and how much it holds. It never creates, migrates or writes the file.

import { statSync } from 'node:fs';
import { Database } from './database.js';
import { quickCheck } from './integrity.js';
import { highestSequence, recordCounts } from './rows.js';
import { getMeta, SCHEMA_VERSION, storedSchemaVersion } from './schema.js';

type StoreState =
  /** stat fails: nothing at the path, or a directory on the way cannot be searched. */
  | 'missing'
  /** quick_check failed, or SQLite says the file is not a database or is malformed. */
  | 'corrupt'
  /** Could not be read for another reason (permissions, a lock, no records table): nothing is known about its soundness. */
  | 'unreadable'
  /** Written by a newer release: its schema version is above SCHEMA_VERSION. Counted all the same. */
  | 'too-new'
  | 'sound';

export interface StoreInspection<T = never> {
  state: StoreState;
  path: string;
  /** The file's size; 0 when it is missing. */
  bytes: number;
  /** 0 for a file never migrated, and when the file could not be read. */
  schemaVersion: number;
  /** Exact with verify; otherwise the highest sequence (the same number for any log spl wrote). */
  records: number;
  /** Counted only with verify (it reads every record). */
  threads: number | undefined;
  instanceDid: string | undefined;
  /** What quick_check, opening or reading reported; empty for a sound or too-new store. */
  problems: string[];
  /** What `read` returned; only for a sound store. */
  extra?: T;
}

interface InspectOptions<T> {
  /**
   * Run quick_check first and count records and threads exactly: every page is read. Without it only the
   * highest sequence is read, cheap enough to run over every backup file in a directory.
   */
  verify?: boolean;
  /** Read the schema version and nothing more (records stay 0): what `spl version` reports, at the least cost. */
  schemaOnly?: boolean;
  busyTimeoutMs?: number;
  /** Aborting it interrupts what runs on the file (the file is then reported unreadable: nothing is known). */
  signal?: AbortSignal;
  /** Further reads on the open read-only connection of a sound store; the result comes back as `extra`. */
  read?: (db: Database, found: StoreInspection) => Promise<T>;
}

const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

export async function inspectStore<T = never>(path: string, opts: InspectOptions<T> = {}): Promise<StoreInspection<T>> {
  let bytes: number;
  try {
    bytes = statSync(path).size;
  } catch (err) {
    return { ...nothingKnown(path, 0), state: 'missing', problems: [`cannot read ${path}: ${(err as Error).message}`] };
  }
  let db: Database;
  try {
    db = await Database.open(path, { readonly: true, busyTimeoutMs: opts.busyTimeoutMs });
  } catch (err) {
    return failed(path, bytes, err);
  }
  const interrupt = (): void => db.interrupt();
  opts.signal?.addEventListener('abort', interrupt, { once: true });
  try {
    if (opts.signal?.aborted) throw new Error('interrupted before it began');
    return await inspectOpen(db, path, bytes, opts);
  } catch (err) {
    return failed(path, bytes, err);
  } finally {
    opts.signal?.removeEventListener('abort', interrupt);
    await db.close().catch(() => undefined);
  }
}

/** Sound, or from a newer release but read all the same: a file whose records can be counted and copied. */
export function readable(s: StoreInspection<unknown>): boolean {
  return s.state === 'sound' || s.state === 'too-new';
}

async function inspectOpen<T>(db: Database, path: string, bytes: number, opts: InspectOptions<T>): Promise<StoreInspection<T>> {
  if (opts.verify) {
    const problems = await quickCheck(db);
    if (problems.length > 0) return { ...nothingKnown(path, bytes), state: 'corrupt', problems };
  }
  const schemaVersion = await storedSchemaVersion(db);
  const state = schemaVersion > SCHEMA_VERSION ? 'too-new' : 'sound';
  if (opts.schemaOnly && !opts.verify) return { ...nothingKnown(path, bytes), state, schemaVersion, problems: [] };
  const counts = opts.verify ? await recordCounts(db) : { records: await highestSequence(db), threads: undefined };
  const instanceDid = schemaVersion > 0 ? await getMeta(db, 'instance_did') : undefined;
  const found: StoreInspection = { state, path, bytes, schemaVersion, ...counts, instanceDid, problems: [] };
  return state === 'sound' && opts.read ? { ...found, extra: await opts.read(db, found) } : found;
}

function nothingKnown(path: string, bytes: number): Omit<StoreInspection, 'state' | 'problems'> {
  return { path, bytes, schemaVersion: 0, records: 0, threads: undefined, instanceDid: undefined };
}

function failed(path: string, bytes: number, err: unknown): StoreInspection {
  const code = (err as { code?: string }).code;
  const state = code !== undefined && CORRUPT_CODES.has(code) ? 'corrupt' : 'unreadable';
  return { ...nothingKnown(path, bytes), state, problems: [(err as Error).message] };
}

/** What verifying a backup reports (the shape `spl backup verify -o json` prints). */
export interface BackupInspection {
  ok: boolean;
  records: number;
  schemaVersion: number;
  bytes: number;
  /** What quick_check (or opening) reported; empty when ok. */
  problems: string[];
}

/** Opens a backup (or any store file) read-only and reports whether it is sound and how many records it holds. */
export async function inspectStoreFile(path: string, signal?: AbortSignal): Promise<BackupInspection> {
  const s = await inspectStore(path, { verify: true, ...(signal ? { signal } : {}) });
  return { ok: readable(s), records: s.records, schemaVersion: s.schemaVersion, bytes: s.bytes, problems: s.problems };
}
