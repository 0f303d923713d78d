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
import { inspectStoreFile, makePrivate, snapshotStore, syncFile, type BackupInspection, type SnapshotPhase } from '../store/snapshot.js';
import type { HomePaths } from './home.js';
import { removeLeftovers } from './backup-catalog.js';
import { generationName } from './startup-backup.js';

export interface BackupSet {
  stamp: string;
  store: { file: string; sha256: string; records: number; schema_version: number; bytes: number };
  data: { file: string; sha256: string; entries: number } | null;
  manifest: string;
  duration_ms: number;
  pruned: string[];
}

export interface CreateBackupOptions {
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
export async function sha256File(path: string, pacer?: WriterPacer): Promise<string> {
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
  try {
    mkdirSync(o.dest, { recursive: true, mode: 0o700 });
    accessSync(o.dest, constants.W_OK);
  } catch (err) {
    throw new SplError('INVALID_REQUEST', `cannot write backups to ${o.dest}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
      fix: `pick a directory this user (${userInfo().username}) can write, or grant it: install -d -m 0700 -o ${userInfo().username} ${o.dest}`,
    });
  }
  // A backup killed midway leaves its temporary copy (`*.tmp-<pid>`); the next one removes it.
  removeLeftovers(o.dest);
  const stamp = generationName(started).slice('hub.db.'.length, -'.bak'.length);
  const storeFile = join(o.dest, `hub.db.${stamp}.bak`);
  if (existsSync(storeFile)) throw new SplError('ALREADY_EXISTS', `${storeFile} already exists; wait a second and retry`);

  // Progress every half second, for a snapshot that takes longer than that (and its completion, once shown).
  let shownAt = now();
  let shown = false;
  // The instance usually keeps serving while this runs: reading the store beforehand and checksumming the
  // copy yield to it while it commits, and the copy itself is kept short (see snapshotStore).
  const pacer = new WriterPacer(o.storePath);
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

  let data: BackupSet['data'] = null;
  if (existsSync(o.paths.dataDir)) {
    const dataFile = join(o.dest, `syncro-data.${stamp}.tar.gz`);
    // Written under a temporary name, so a backup killed midway never leaves a truncated tarball that looks whole.
    const dataTmp = `${dataFile}.tmp-${process.pid}`;
    try {
      await tar.c({ gzip: true, file: dataTmp, mode: 0o600, cwd: dirname(o.paths.dataDir), portable: true }, [basename(o.paths.dataDir)]);
      makePrivate(dataTmp);
      syncFile(dataTmp);
      renameSync(dataTmp, dataFile);
    } catch (err) {
      rmSync(dataTmp, { force: true });
      throw err;
    }
    let entries = 0;
    await tar.t({ file: dataFile, onReadEntry: () => void entries++ });
    data = { file: dataFile, sha256: await sha256File(dataFile), entries };
  }

  const set = {
    stamp,
    created_at: new Date(started).toISOString(),
    instance_did: o.instanceDid ?? null,
    store: { file: storeFile, sha256: await sha256File(storeFile, pacer), records: snap.records, schema_version: snap.schemaVersion, bytes: snap.bytes },
    data,
    secrets: `not included: provider keys and token hashes stay in ${o.paths.secretsDir}; keep them in a password manager or vault`,
  };
  const manifest = join(o.dest, `manifest.${stamp}.json`);
  writeFileSync(manifest, JSON.stringify(set, null, 2) + '\n', { mode: 0o600 });
  makePrivate(manifest);
  syncFile(manifest);
  syncFile(o.dest);
  const pruned = pruneBackups(o.dest, now(), o.keepDays, stamp);
  return { stamp, store: set.store, data, manifest, duration_ms: now() - started, pruned };
}

const SET_FILE = /^(?:hub\.db\.(\d{8}-\d{6})\.bak|syncro-data\.(\d{8}-\d{6})\.tar\.gz|manifest\.(\d{8}-\d{6})\.json)$/;

/** Removes backup files older than keepDays, except the newest set, which always survives. */
export function pruneBackups(dest: string, now: number, keepDays: number, newest: string): string[] {
  const pruned: string[] = [];
  for (const name of readdirSync(dest)) {
    const m = SET_FILE.exec(name);
    if (!m || (m[1] ?? m[2] ?? m[3]) === newest) continue;
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
  const m = /hub\.db\.(\d{8}-\d{6})\.bak$/.exec(file);
  const manifest = m ? join(dirname(file), `manifest.${m[1]}.json`) : null;
  if (!manifest || !existsSync(manifest)) return { ...inspection, sha256, manifest: null, checksum: 'no manifest' };
  const expected = (JSON.parse(readFileSync(manifest, 'utf8')) as { store?: { sha256?: string } }).store?.sha256;
  return { ...inspection, sha256, manifest, checksum: expected === sha256 ? 'match' : 'mismatch' };
}

export interface RestoreResult {
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
