// Every store backup this instance can be restored from, with its record count: the startup backup
// (`hub.db.bak`), its kept generations, and the off-host sets of `spl backup create`. The "best" copy is the
// one holding the most records (the newest among equals); pruning never removes it, `spl backup list` marks
// it, and a missing store names it. Temporary files a killed backup left in such a directory are removed here too.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FRESH_STARTUP_BACKUP, GENERATION, OFFHOST_STORE, STARTUP_BACKUP, temporaryOwner } from '../store/backup-names.js';
import { inspectStore, inspectStoreFile, readable, type BackupInspection } from '../store/inspect.js';
import { processExited } from './pidfile.js';

type BackupKind = 'startup' | 'generation' | 'off-host';

export interface CatalogEntry {
  file: string;
  kind: BackupKind;
  bytes: number;
  mtimeMs: number;
  /** Records the file holds (its highest sequence); undefined when it cannot be read as a store. */
  records: number | undefined;
}

/** The record count of a store file, read cheaply (no integrity check, no full read): its highest sequence. */
async function countRecords(path: string): Promise<number | undefined> {
  const s = await inspectStore(path);
  return readable(s) ? s.records : undefined;
}

/** Store backups in one directory whose names `kind` recognises, newest first, each with its record count. */
export async function scanBackups(dir: string, kind: (name: string) => BackupKind | undefined): Promise<CatalogEntry[]> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: CatalogEntry[] = [];
  for (const name of names) {
    const k = kind(name);
    if (!k) continue;
    const file = join(dir, name);
    let st;
    try {
      st = statSync(file);
    } catch {
      continue; // removed while we looked
    }
    if (!st.isFile()) continue;
    out.push({ file, kind: k, bytes: st.size, mtimeMs: st.mtimeMs, records: await countRecords(file) });
  }
  return out.sort(newestFirst);
}

export const startupKind = (n: string): BackupKind | undefined => (n === STARTUP_BACKUP ? 'startup' : GENERATION.test(n) ? 'generation' : undefined);
export const offhostKind = (n: string): BackupKind | undefined => (OFFHOST_STORE.test(n) ? 'off-host' : undefined);

/** The startup backup and its generations, plus the off-host sets in `dest` when one is configured. */
export async function catalog(startupDir: string, dest?: string): Promise<CatalogEntry[]> {
  const entries = await scanBackups(startupDir, startupKind);
  if (dest !== undefined && dest !== startupDir) entries.push(...(await scanBackups(dest, offhostKind)));
  return entries.sort(newestFirst);
}

function newestFirst(a: { mtimeMs: number; file: string }, b: { mtimeMs: number; file: string }): number {
  return b.mtimeMs - a.mtimeMs || (a.file < b.file ? 1 : -1);
}

/** The entry holding the most records; the newest among equals. */
export function bestOf<T extends CatalogEntry>(entries: T[]): T | undefined {
  let best: T | undefined;
  for (const e of entries) {
    if (e.records === undefined) continue;
    if (!best || e.records > (best.records ?? -1) || (e.records === best.records && e.mtimeMs > best.mtimeMs)) best = e;
  }
  return best;
}

/** The best entry that also passes quick_check (a file that only looks big is skipped), with its inspection. */
export async function bestVerified(entries: CatalogEntry[]): Promise<{ entry: CatalogEntry; inspection: BackupInspection } | undefined> {
  const candidates = entries.filter((e) => e.records !== undefined).sort((a, b) => (b.records ?? 0) - (a.records ?? 0) || b.mtimeMs - a.mtimeMs);
  for (const entry of candidates) {
    const inspection = await inspectStoreFile(entry.file);
    if (inspection.ok) return { entry, inspection };
  }
  return undefined;
}

/** Temporary files a backup leaves when killed midway: `hub.db.bak.new`, `*.tmp-<pid>` (and its SQLite -journal, -wal, -shm) of a pid no longer alive. */
export function removeLeftovers(dir: string): Array<{ file: string; bytes: number }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: Array<{ file: string; bytes: number }> = [];
  for (const name of names) {
    const owner = temporaryOwner(name);
    // A killed writer may linger as a zombie until init reaps it; it writes nothing more, so its files are leftovers.
    const isLeftover = name === FRESH_STARTUP_BACKUP || (owner !== undefined && owner !== process.pid && processExited(owner));
    if (!isLeftover) continue;
    const file = join(dir, name);
    let bytes = 0;
    try {
      bytes = statSync(file).size;
    } catch {
      continue;
    }
    rmSync(file, { force: true });
    removed.push({ file, bytes });
  }
  return removed;
}
