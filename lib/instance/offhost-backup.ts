// `spl backup create`: a verified, consistent snapshot of the store plus a tarball of the task data, with a
// manifest of checksums; old sets are pruned by age, never the newest. secrets/ is never included.

import { createHash } from 'node:crypto';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as tar from 'tar';
import { SplError } from '../kernel/errors.js';
import { WriterPacer } from '../store/pace.js';
import { backupStamp, dataArchiveName, manifestName, offhostStoreName, setStamp, storeCopyStamp, temporaryName } from '../store/backup-names.js';
import { inspectStoreFile, type BackupInspection } from '../store/inspect.js';
import { makePrivate, snapshotStore, syncFile, type SnapshotPhase } from '../store/snapshot.js';
import type { HomePaths } from './home.js';
import { removeLeftovers } from './backup-catalog.js';

interface BackupSet {
  stamp: string;
  store: { file: string; sha256: string; records: number; schema_version: number; bytes: number };
  data: { file: string; sha256: string; entries: number } | null;
  manifest: string;
  duration_ms: number;
  pruned: string[];
}

interface CreateBackupOptions {
  paths: HomePaths;
  storePath: string;
  dest: string;
  keepDays: number;
  instanceDid: string | undefined;
  now?: () => number;
  /** Called about twice a second while the store is read and while the snapshot is written, with bytes so far. */
  onProgress?: (done: number, total: number, phase: SnapshotPhase) => void;
}

/** The file's sha256, read 4 MiB at a time; with a pacer, each read waits its turn behind the instance. */
async function sha256File(path: string, pacer?: WriterPacer): Promise<string> {
  const h = createHash('sha256');
  const file = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 * 1048576);
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      await pacer?.pause();
    }
  } finally {
    await file.close();
  }
  return h.digest('hex');
}

export async function createBackup(o: CreateBackupOptions): Promise<BackupSet> {
  const now = o.now ?? Date.now;
  const started = now();
  prepareDest(o.dest);
  const stamp = backupStamp(started);
  const storeFile = join(o.dest, offhostStoreName(stamp));
  if (existsSync(storeFile)) throw new SplError('ALREADY_EXISTS', `${storeFile} already exists; wait a second and retry`);
  // The instance usually keeps serving while this runs: reading the store beforehand and checksumming the
  // copy yield to it while it commits, and the copy itself is kept short (see snapshotStore).
  const pacer = new WriterPacer(o.storePath);
  const snap = await snapshotForSet(o, storeFile, pacer, now);
  const data = existsSync(o.paths.dataDir) ? await archiveTaskData(o.paths.dataDir, join(o.dest, dataArchiveName(stamp))) : null;
  const set = {
    stamp,
    created_at: new Date(started).toISOString(),
    instance_did: o.instanceDid ?? null,
    store: { file: storeFile, sha256: await sha256File(storeFile, pacer), records: snap.records, schema_version: snap.schemaVersion, bytes: snap.bytes },
    data,
    secrets: `not included: provider keys and token hashes stay in ${o.paths.secretsDir}; keep them in a password manager or vault`,
  };
  const manifest = join(o.dest, manifestName(stamp));
  writeManifest(manifest, set);
  syncFile(o.dest);
  const pruned = pruneBackups(o.dest, now(), o.keepDays, stamp);
  return { stamp, store: set.store, data, manifest, duration_ms: now() - started, pruned };
}

/** Creates `dest` (0700) when needed, refuses one this user cannot write, and removes what a killed backup left there. */
function prepareDest(dest: string): void {
  try {
    mkdirSync(dest, { recursive: true, mode: 0o700 });
    accessSync(dest, constants.W_OK);
  } catch (err) {
    throw new SplError('INVALID_REQUEST', `cannot write backups to ${dest}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
      fix: `pick a directory this user (${userInfo().username}) can write, or grant it: install -d -m 0700 -o ${userInfo().username} ${dest}`,
    });
  }
  // A backup killed midway leaves its temporary copy (`*.tmp-<pid>`); the next one removes it.
  removeLeftovers(dest);
}

/** The verified snapshot of the store at `storeFile`, with progress at most every half second; throws when it fails quick_check. */
async function snapshotForSet(o: CreateBackupOptions, storeFile: string, pacer: WriterPacer, now: () => number): Promise<BackupInspection> {
  // Progress every half second, for a snapshot that takes longer than that (and its completion, once shown).
  let shownAt = now();
  let shown = false;
  const snap: BackupInspection = await snapshotStore(o.storePath, storeFile, {
    pacer,
    onProgress: (done, total, phase) => {
      if (!o.onProgress) return;
      if (now() - shownAt < 500 && !(shown && done === total)) return;
      shownAt = now();
      shown = true;
      o.onProgress(done, total, phase);
    },
  });
  if (!snap.ok) {
    throw new SplError('STORE_CORRUPT', `the snapshot of ${o.storePath} failed quick_check (${snap.problems.slice(0, 2).join('; ')}); nothing was written to ${o.dest}`, {
      fix: 'spl doctor; the store itself may be damaged — see the runbook\'s recovery procedure',
    });
  }
  return snap;
}

/** Tars the task data directory into `dataFile` (0600), then counts its entries and checksums it. */
async function archiveTaskData(dataDir: string, dataFile: string): Promise<NonNullable<BackupSet['data']>> {
  // Written under a temporary name, so a backup killed midway never leaves a truncated tarball that looks whole.
  const dataTmp = temporaryName(dataFile);
  try {
    await tar.c({ gzip: true, file: dataTmp, mode: 0o600, cwd: dirname(dataDir), portable: true }, [basename(dataDir)]);
    makePrivate(dataTmp);
    syncFile(dataTmp);
    renameSync(dataTmp, dataFile);
  } catch (err) {
    rmSync(dataTmp, { force: true });
    throw err;
  }
  let entries = 0;
  await tar.t({ file: dataFile, onReadEntry: () => void entries++ });
  return { file: dataFile, sha256: await sha256File(dataFile), entries };
}

function writeManifest(manifest: string, set: object): void {
  writeFileSync(manifest, JSON.stringify(set, null, 2) + '\n', { mode: 0o600 });
  makePrivate(manifest);
  syncFile(manifest);
}

/** Removes backup files older than keepDays, except the newest set, which always survives. */
function pruneBackups(dest: string, now: number, keepDays: number, newest: string): string[] {
  const pruned: string[] = [];
  for (const name of readdirSync(dest)) {
    const stamp = setStamp(name);
    if (stamp === undefined || stamp === newest) continue;
    const path = join(dest, name);
    if (now - statSync(path).mtimeMs > keepDays * 86_400_000) {
      rmSync(path, { force: true });
      pruned.push(path);
    }
  }
  return pruned;
}

/** Verifies a store backup: quick_check, counts, and the manifest's checksum when one sits beside it. */
export async function verifyBackup(file: string): Promise<BackupInspection & { sha256: string; manifest: string | null; checksum: 'match' | 'mismatch' | 'no manifest' }> {
  const inspection = await inspectStoreFile(file);
  const sha256 = existsSync(file) ? await sha256File(file) : '';
  const stamp = storeCopyStamp(file);
  const manifest = stamp !== undefined ? join(dirname(file), manifestName(stamp)) : null;
  if (!manifest || !existsSync(manifest)) return { ...inspection, sha256, manifest: null, checksum: 'no manifest' };
  const expected = (JSON.parse(readFileSync(manifest, 'utf8')) as { store?: { sha256?: string } }).store?.sha256;
  return { ...inspection, sha256, manifest, checksum: expected === sha256 ? 'match' : 'mismatch' };
}

interface RestoreResult {
  records: number;
  movedAside: string[];
}

/**
 * Replaces the store with a verified backup. The current store and its -wal/-shm are moved aside as
 * `*.corrupt.<epoch>` (never deleted); the copy is written beside the store, fsynced, renamed into place and
 * checked again. The caller makes sure no instance is running.
 */
export async function restoreBackup(file: string, storePath: string, now: () => number = Date.now): Promise<RestoreResult> {
  const source = await inspectStoreFile(file);
  if (!source.ok) {
    throw new SplError('STORE_CORRUPT', `${file} is not a sound store (${source.problems.slice(0, 2).join('; ')}); nothing was changed`, { fix: 'spl backup list shows other backups' });
  }
  const epoch = Math.floor(now() / 1000);
  const movedAside: string[] = [];
  for (const suffix of ['', '-wal', '-shm']) {
    const p = storePath + suffix;
    if (existsSync(p)) {
      const aside = `${p}.corrupt.${epoch}`;
      renameSync(p, aside);
      movedAside.push(aside);
    }
  }
  const tmp = `${storePath}.restore-${process.pid}`;
  copyFileSync(file, tmp);
  makePrivate(tmp); // a copy keeps its source's mode; the store is the service user's only
  syncFile(tmp);
  renameSync(tmp, storePath);
  syncFile(dirname(storePath));
  const result = await inspectStoreFile(storePath);
  if (!result.ok || result.records !== source.records) {
    throw new SplError('STORE_CORRUPT', `the restored store does not match ${file} (${result.records} of ${source.records} records); the previous store is at ${movedAside[0] ?? '(none)'}`);
  }
  return { records: result.records, movedAside };
}
