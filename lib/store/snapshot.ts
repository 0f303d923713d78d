// Consistent copies of a store with SQLite's online backup API, verified before they are put in place.

import { chmodSync, closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { freemem } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { temporaryName } from './backup-names.js';
import { Database } from './database.js';
import { inspectStoreFile, type BackupInspection } from './inspect.js';
import { assertStoreExists } from './open.js';
import type { WriterPacer } from './pace.js';

/** Bytes read into the page cache between two pacing pauses. */
const WARM_STEP_BYTES = 4 * 1048576;

/** Size of each read while the store is read into the page cache ahead of the copy. */
const PREFETCH_CHUNK_BYTES = 256 * 1024;

interface SnapshotOptions {
  onProgress?: (bytesDone: number, bytesTotal: number, phase: SnapshotPhase) => void;
  /**
   * The instance keeps serving while this runs: pace every step with this (see WriterPacer). The copy holds a
   * read snapshot, and while it does the instance's WAL cannot start over: every commit appends to it, and the
   * kernel allocates and zeroes fresh page-cache pages for it in the instance's commit path. So the store is
   * first read into the page cache with no snapshot held (see warmStore), and the copy then runs from memory.
   */
  pacer?: WriterPacer;
}

export type SnapshotPhase = 'reading' | 'copying';

/**
 * The reads that bring bytes [from, to) of a file into the page cache: `chunk` bytes each, last chunk first.
 * Read front to back, cache misses look sequential to the kernel, which then reads ahead by up to the
 * disk's read_ahead_kb (8 MiB on virtio disks) per request; the instance's commit (a WAL write, an fsync, a
 * few index pages) waits behind such a burst. Read back to front, every read is a standalone random read that
 * the kernel performs as asked, so no request is larger than one chunk.
 */
export function prefetchReads(from: number, to: number, chunk = PREFETCH_CHUNK_BYTES): Array<{ position: number; length: number }> {
  const reads: Array<{ position: number; length: number }> = [];
  for (let end = to; end > from; end -= chunk) {
    const position = Math.max(from, end - chunk);
    reads.push({ position, length: end - position });
  }
  return reads;
}

async function prefetch(file: FileHandle, chunk: Buffer, from: number, to: number): Promise<void> {
  for (const r of prefetchReads(from, to, chunk.length)) await file.read(chunk, 0, r.length, r.position);
}

/**
 * Reads the whole store file into the page cache, one step's worth of bytes at a time, holding no read
 * transaction. Skipped when the store would not fit comfortably in free memory: the early pages would be
 * evicted before the copy reached them.
 */
async function warmStore(storePath: string, pacer: WriterPacer, onProgress?: (done: number, total: number) => void): Promise<void> {
  const file = await open(storePath, 'r');
  try {
    const size = (await file.stat()).size;
    if (size > freemem() / 2) return;
    const chunk = Buffer.allocUnsafe(PREFETCH_CHUNK_BYTES);
    for (let from = 0; from < size; from += WARM_STEP_BYTES) {
      const to = Math.min(size, from + WARM_STEP_BYTES);
      await prefetch(file, chunk, from, to);
      onProgress?.(to, size);
      await pacer.pause();
    }
  } finally {
    await file.close();
  }
}

/**
 * Writes a snapshot of `storePath` to `dest` while the instance may keep writing, with SQLite's online backup
 * API in a single step: the step holds one read transaction on the store from the first page to the last, so
 * the copy is exactly the store as it was when the step began and never restarts, whatever the instance
 * commits meanwhile. Holding that read transaction is what costs the instance (its WAL cannot start over while
 * it is held, see SnapshotOptions.pacer), so it is held for as short a time as possible: with a pacer the store
 * is read into the page cache beforehand, and the copy is written with neither a journal nor an fsync per
 * commit (a half-written copy is never used: it only becomes `dest` after it is fsynced and passes
 * quick_check). Progress comes from the copy's growing size. A snapshot that fails verification is deleted and
 * reported, never left where a restore could pick it up.
 */
export async function snapshotStore(storePath: string, dest: string, opts: SnapshotOptions = {}): Promise<BackupInspection & { durationMs: number }> {
  const started = Date.now();
  const tmp = temporaryName(dest);
  rmSync(tmp, { force: true });
  assertStoreExists(storePath); // the backup would open (and so create) an empty store at a wrong path
  if (opts.pacer) await warmStore(storePath, opts.pacer, (done, total) => opts.onProgress?.(done, total, 'reading'));

  createPrivateFile(tmp); // SQLite would create it with the umask's mode; a backup is 0600 whatever the umask
  const copy = await Database.open(tmp);
  try {
    await copy.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF');
    const total = statSync(storePath).size;
    const backup = await copy.startBackupFrom(storePath);
    const progress = setInterval(() => {
      const done = statOrZero(tmp);
      opts.onProgress?.(Math.min(done, total), total, 'copying');
    }, 250);
    try {
      // A busy source (rare in WAL mode) returns without completing; the next call tries again.
      while (!(await backup.step(-1))) await sleep(50);
    } finally {
      clearInterval(progress);
      await backup.finish();
    }
    const size = statOrZero(tmp);
    opts.onProgress?.(size, size, 'copying');
  } catch (err) {
    await copy.close().catch(() => undefined);
    rmSync(tmp, { force: true });
    throw err;
  }
  await copy.close();
  return finishSnapshot(tmp, dest, started);
}

/** Pages copied per step of a pinned snapshot (16 MiB of 4 KiB pages): between two steps a shutdown can stop it. */
const PINNED_STEP_PAGES = 4096;

/** A read transaction held on a store: what a deferred snapshot copies, whatever is committed after it began. */
export interface PinnedStore {
  /** Records in the store as pinned (sequences are dense: the highest one). */
  records: number;
  bytes: number;
  release(): Promise<void>;
  /** The connection holding the read transaction (snapshotPinned copies through it). */
  readonly db: Database;
}

/**
 * Opens the store read-only and starts a read transaction on it: from then on that connection sees the store as
 * it is now. The instance pins its store before it serves, so the startup backup can be copied after READY and
 * still hold exactly the store it started on. While the pin is held, the WAL cannot start over (it grows with
 * what is committed meanwhile); release() ends it.
 */
export async function pinStore(storePath: string): Promise<PinnedStore> {
  assertStoreExists(storePath);
  const db = await Database.open(storePath, { readonly: true, mustExist: true });
  try {
    await db.exec('BEGIN');
    // The first read starts the read transaction (BEGIN alone takes no snapshot).
    const row = await db.get<{ n: number | null }>('SELECT max(sequence) AS n FROM records');
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await db.exec('ROLLBACK').catch(() => undefined);
      await db.close().catch(() => undefined);
    };
    return { records: row?.n ?? 0, bytes: statSync(storePath).size, release, db };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Copies a pinned store to `dest` a step at a time through the pinned connection, then fsyncs, verifies and
 * renames it into place like snapshotStore. Resolves undefined when `signal` aborts between two steps (the
 * partial copy is removed). Does not release the pin.
 */
export async function snapshotPinned(pin: PinnedStore, dest: string, signal?: AbortSignal): Promise<(BackupInspection & { durationMs: number }) | undefined> {
  const started = Date.now();
  const tmp = temporaryName(dest);
  const removeTmp = (): void => {
    for (const f of [tmp, `${tmp}-journal`]) rmSync(f, { force: true });
  };
  removeTmp();
  createPrivateFile(tmp);
  let complete = false;
  try {
    const backup = await pin.db.startBackupTo(tmp);
    try {
      while (!signal?.aborted && !complete) complete = await backup.step(PINNED_STEP_PAGES);
    } finally {
      await backup.finish();
    }
  } catch (err) {
    removeTmp();
    throw err;
  }
  if (!complete) {
    removeTmp();
    return undefined;
  }
  return finishSnapshot(tmp, dest, started);
}

function statOrZero(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
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

/** Creates an empty file that only its owner can read, whatever the umask or the directory's defaults. */
function createPrivateFile(path: string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/** Sets a file to 0600 (a copy keeps its source's mode; a backup and a restored store are the owner's only). */
export function makePrivate(path: string): void {
  chmodSync(path, 0o600);
}

export function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
