// The startup backup (SPEC §9), built so that it cannot destroy the good copy it exists to keep: `hub.db.bak`
// only ever gets better. The new snapshot must pass quick_check; when it holds fewer records than
// `hub.db.bak`, `hub.db.bak` stays where it is and the new snapshot is written beside it as a generation
// (`hub.db.<YYYYMMDD-HHMMSS>.bak`), with a WARN naming both counts — so the runbook's literal
// `cp …/hub.db.bak ~/.syncro/hub.db` always restores the most complete good copy. Pruning never removes the
// newest generation or the copy holding the most records. Every file here is 0600 in a 0700 directory.

import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FRESH_STARTUP_BACKUP, GENERATION, generationName, STARTUP_BACKUP } from '../store/backup-names.js';
import { inspectStore, inspectStoreFile, readable, type BackupInspection } from '../store/inspect.js';
import { pinStore, snapshotPinned, snapshotStore, type PinnedStore } from '../store/snapshot.js';
import { bestOf, removeLeftovers, scanBackups, startupKind } from './backup-catalog.js';

interface StartupBackupOptions {
  storePath: string;
  dir: string;
  logger: Logger;
  now?: () => number;
  /** Generations beyond this many, or older than maxAgeDays, are pruned — never the newest, never the best. */
  keepGenerations?: number;
  maxAgeDays?: number;
  /**
   * Skip the snapshot when hub.db.bak already holds exactly this store (same schema, same last sequence, same
   * record there): the copy is then re-checked with quick_check by `verify`, after READY, and replaced by a
   * fresh snapshot if that fails — so READY does not wait for a copy that would be identical.
   */
  skipUnchanged?: boolean;
  /**
   * A store file larger than this many bytes is not copied before READY: a read transaction is started on it now
   * (pinStore), and `deferred` copies exactly that snapshot once the instance serves, whatever is committed
   * meanwhile. Unset: the copy is always taken before returning.
   */
  deferAbove?: number;
}

interface StartupBackupResult {
  /** Where the new snapshot went: hub.db.bak, or a generation beside it. */
  path: string;
  records: number;
  durationMs: number;
  /** The generation the new snapshot was written to because hub.db.bak holds more records; null when it replaced hub.db.bak. */
  generation: string | null;
  pruned: string[];
  /** Temporary files of an earlier, interrupted backup that were removed. */
  leftovers: string[];
  /**
   * Set when the snapshot was skipped (the store is unchanged since hub.db.bak): re-checks hub.db.bak, never
   * throws. Aborting `signal` (a shutdown) interrupts the check; the next start checks again.
   */
  verify?: (signal?: AbortSignal) => Promise<void>;
  /**
   * Set when the copy was deferred (deferAbove): writes the pinned snapshot, judges it against hub.db.bak as a
   * copy taken before READY would be, and releases the pin; never throws. Aborting `signal` stops the copy
   * between two steps and leaves hub.db.bak as it was; the next start takes it again.
   */
  deferred?: (signal?: AbortSignal) => Promise<void>;
}

export async function startupBackup(o: StartupBackupOptions): Promise<StartupBackupResult | undefined> {
  const now = o.now ?? Date.now;
  const log = o.logger;
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  chmodSync(o.dir, 0o700);
  const leftovers = removeLeftovers(o.dir);
  for (const l of leftovers) log.info({ file: l.file, bytes: l.bytes }, `removed ${l.file} (${l.bytes} bytes), left by a backup that was interrupted`);
  tightenModes(o.dir, log);

  const target = join(o.dir, STARTUP_BACKUP);
  if (o.skipUnchanged) {
    const same = await unchangedSince(o.storePath, target);
    if (same) {
      const pruned = await pruneGenerations(o.dir, now(), o.keepGenerations ?? 10, o.maxAgeDays ?? 30);
      for (const p of pruned) log.info({ file: p }, 'pruned an old backup generation');
      log.info({ records: same.records, sequence: same.records, path: target }, `startup backup not needed: ${target} already holds this store's ${same.records} records (same last record); it is re-checked with quick_check after start-up`);
      return { path: target, records: same.records, durationMs: 0, generation: null, pruned, leftovers: leftovers.map((l) => l.file), verify: (signal) => recheck(o, target, signal) };
    }
  }
  const fresh = join(o.dir, FRESH_STARTUP_BACKUP);
  if (o.deferAbove !== undefined && statSync(o.storePath).size > o.deferAbove) {
    const pin = await pinStore(o.storePath);
    log.info(
      { records: pin.records, bytes: pin.bytes, path: target },
      `startup backup of ${pin.records} records: the store as it is now is held by a read snapshot and copied to ${target} once the instance serves`,
    );
    return { path: target, records: pin.records, durationMs: 0, generation: null, pruned: [], leftovers: leftovers.map((l) => l.file), deferred: (signal) => copyPinned(o, pin, target, signal) };
  }
  const snap = await snapshotStore(o.storePath, fresh);
  return place(o, snap, target, leftovers.map((l) => l.file));
}

/** The deferred startup backup: the pinned snapshot written, verified and put in place; the pin released. */
async function copyPinned(o: StartupBackupOptions, pin: PinnedStore, target: string, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return pin.release(); // the start failed before the instance served: nothing to copy
  try {
    const snap = await snapshotPinned(pin, join(o.dir, FRESH_STARTUP_BACKUP), signal);
    await pin.release(); // the WAL can start over again: the copy is whole
    if (!snap) {
      o.logger.info({ path: target }, `the startup backup was interrupted by the shutdown; ${target} is left as it was, and the next start takes it again`);
      return;
    }
    await place(o, snap, target, []);
  } catch (err) {
    o.logger.warn(
      { error: (err as Error).message, path: target },
      `startup backup failed: ${(err as Error).message}; ${target} is left as it was and the next start takes the copy again (for a copy now: spl backup create --dest DIR)`,
    );
  } finally {
    await pin.release();
  }
}

/** A verified snapshot at hub.db.bak.new put in place: over hub.db.bak, or beside it when that holds more records. */
async function place(o: StartupBackupOptions, snap: BackupInspection & { durationMs: number }, target: string, leftovers: string[]): Promise<StartupBackupResult | undefined> {
  const now = o.now ?? Date.now;
  const log = o.logger;
  const fresh = join(o.dir, FRESH_STARTUP_BACKUP);
  if (!snap.ok) {
    log.warn({ problems: snap.problems.slice(0, 3) }, `startup backup skipped: the snapshot of ${o.storePath} failed quick_check; ${target} is left as it was`);
    return undefined;
  }

  let generation: string | null = null;
  const previous = existsSync(target) ? await inspectStoreFile(target) : undefined;
  if (previous && previous.ok && previous.records > snap.records) {
    generation = join(o.dir, uniqueGeneration(o.dir, now()));
    renameSync(fresh, generation);
    log.warn(
      { records: snap.records, previous_records: previous.records, kept: target, file: generation },
      `startup backup holds fewer records (${snap.records}) than ${target} (${previous.records}): ${target} is kept as the best copy, the new snapshot is written beside it as ${generation}`,
    );
  } else {
    if (previous && !previous.ok) log.warn({ problems: previous.problems.slice(0, 3) }, `the previous startup backup ${target} failed quick_check; replacing it`);
    renameSync(fresh, target);
  }
  const pruned = await pruneGenerations(o.dir, now(), o.keepGenerations ?? 10, o.maxAgeDays ?? 30);
  for (const p of pruned) log.info({ file: p }, 'pruned an old backup generation');
  const path = generation ?? target;
  log.info({ records: snap.records, bytes: snap.bytes, duration_ms: snap.durationMs, path }, 'startup backup written and verified');
  return { path, records: snap.records, durationMs: snap.durationMs, generation, pruned, leftovers };
}

/** The last record of a store file (schema version, highest sequence, its id, the instance), read-only and without quick_check. */
async function tipOf(path: string): Promise<{ key: string; records: number } | undefined> {
  if (!existsSync(path)) return undefined;
  const s = await inspectStore(path, { read: async (db, found) => (await db.get<{ id: string }>('SELECT id FROM records WHERE sequence = ?', [found.records]))?.id });
  return readable(s) && s.records > 0 && s.extra !== undefined ? { key: `${s.schemaVersion}:${s.records}:${s.extra}:${s.instanceDid ?? ''}`, records: s.records } : undefined;
}

async function unchangedSince(storePath: string, backup: string): Promise<{ records: number } | undefined> {
  const [store, bak] = await Promise.all([tipOf(storePath), tipOf(backup)]);
  return store && bak && store.key === bak.key ? { records: store.records } : undefined;
}

/** After a skipped snapshot: hub.db.bak must still pass quick_check, or a fresh startup backup replaces it. */
async function recheck(o: StartupBackupOptions, target: string, signal?: AbortSignal): Promise<void> {
  try {
    const v = await inspectStoreFile(target, signal);
    if (signal?.aborted) {
      o.logger.info({ path: target }, `the re-check of ${target} was interrupted by the shutdown; the next start checks it again`);
      return;
    }
    if (v.ok) {
      // It is as good as a snapshot taken now: its time says so (spl doctor reads the age of hub.db.bak).
      const at = new Date((o.now ?? Date.now)());
      utimesSync(target, at, at);
      o.logger.info({ records: v.records, path: target }, `${target} re-checked: quick_check ok, ${v.records} records`);
      return;
    }
    o.logger.warn({ problems: v.problems.slice(0, 3), path: target }, `${target} failed quick_check after start-up; taking a fresh startup backup`);
    await startupBackup({ ...o, skipUnchanged: false, deferAbove: undefined });
  } catch (err) {
    o.logger.warn({ error: (err as Error).message, path: target }, `could not re-check ${target}: ${(err as Error).message}`);
  }
}

function uniqueGeneration(dir: string, at: number): string {
  for (let copy = 0; ; copy++) {
    const name = generationName(at, copy);
    if (!existsSync(join(dir, name))) return name;
  }
}

/** Generations, newest first. */
export function listGenerations(dir: string): Array<{ path: string; mtimeMs: number }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => GENERATION.test(n))
    .map((n) => ({ path: join(dir, n), mtimeMs: statSync(join(dir, n)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs || (a.path < b.path ? 1 : -1));
}

/**
 * Prunes generations beyond `keep` or older than `maxAgeDays`. Two always survive whatever their age: the
 * newest generation, and the copy holding the most records (hub.db.bak or a generation).
 */
async function pruneGenerations(dir: string, now: number, keep: number, maxAgeDays: number): Promise<string[]> {
  const gens = listGenerations(dir);
  const candidates = gens.filter((g, i) => i > 0 && (i >= keep || now - g.mtimeMs > maxAgeDays * 86_400_000));
  if (candidates.length === 0) return [];
  const best = bestOf(await scanBackups(dir, startupKind))?.file; // hub.db.bak and every generation, counted
  const pruned: string[] = [];
  for (const g of candidates) {
    if (g.path === best) continue;
    rmSync(g.path, { force: true });
    pruned.push(g.path);
  }
  return pruned;
}

/** Backup files are 0600 whatever the umask they were written under (earlier releases wrote 0644). */
function tightenModes(dir: string, log: Logger): void {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    try {
      const st = statSync(file);
      if (st.isFile() && (st.mode & 0o077) !== 0) {
        chmodSync(file, 0o600);
        log.info({ file }, `${file} was readable by others (mode ${(st.mode & 0o777).toString(8)}); set to 0600`);
      }
    } catch {
      // gone meanwhile
    }
  }
}
