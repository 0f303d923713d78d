// The startup backup (SPEC §9), built so that it cannot destroy the good copy it exists to keep:
// the new snapshot must pass quick_check, and when it holds fewer records than the backup it would replace,
// that backup is kept as a timestamped generation and a WARN names both counts.

import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { inspectStoreFile, snapshotStore } from '../store/snapshot.js';

export const STARTUP_BACKUP = 'hub.db.bak';
const GENERATION = /^hub\.db\.\d{8}-\d{6}(-\d+)?\.bak$/;

export interface StartupBackupOptions {
  storePath: string;
  dir: string;
  logger: Logger;
  now?: () => number;
  /** Generations beyond this many, or older than maxAgeDays, are pruned — never the newest. */
  keepGenerations?: number;
  maxAgeDays?: number;
}

export interface StartupBackupResult {
  path: string;
  records: number;
  durationMs: number;
  keptGeneration: string | null;
  pruned: string[];
}

export function generationName(at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `hub.db.${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.bak`;
}

export async function startupBackup(o: StartupBackupOptions): Promise<StartupBackupResult | undefined> {
  const now = o.now ?? Date.now;
  const log = o.logger;
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const target = join(o.dir, STARTUP_BACKUP);
  const fresh = join(o.dir, `${STARTUP_BACKUP}.new`);
  rmSync(fresh, { force: true });
  const snap = await snapshotStore(o.storePath, fresh);
  if (!snap.ok) {
    log.warn({ problems: snap.problems.slice(0, 3) }, `startup backup skipped: the snapshot of ${o.storePath} failed quick_check; ${target} is left as it was`);
    return undefined;
  }

  let keptGeneration: string | null = null;
  const previous = statOrUndefined(target) ? await inspectStoreFile(target) : undefined;
  if (previous && previous.ok && previous.records > snap.records) {
    keptGeneration = join(o.dir, uniqueGeneration(o.dir, now()));
    renameSync(target, keptGeneration);
    log.warn(
      { records: snap.records, previous_records: previous.records, kept: keptGeneration },
      `startup backup holds fewer records (${snap.records}) than the previous one (${previous.records}); the previous backup is kept as ${keptGeneration}`,
    );
  } else if (previous && !previous.ok) {
    log.warn({ problems: previous.problems.slice(0, 3) }, `the previous startup backup ${target} failed quick_check; replacing it`);
  }
  renameSync(fresh, target);
  const pruned = pruneGenerations(o.dir, now(), o.keepGenerations ?? 10, o.maxAgeDays ?? 30);
  for (const p of pruned) log.info({ file: p }, 'pruned an old backup generation');
  log.info({ records: snap.records, bytes: snap.bytes, duration_ms: snap.durationMs, path: target }, 'startup backup written and verified');
  return { path: target, records: snap.records, durationMs: snap.durationMs, keptGeneration, pruned };
}

function uniqueGeneration(dir: string, at: number): string {
  const base = generationName(at);
  if (!statOrUndefined(join(dir, base))) return base;
  for (let i = 1; ; i++) {
    const name = base.replace(/\.bak$/, `-${i}.bak`);
    if (!statOrUndefined(join(dir, name))) return name;
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

function pruneGenerations(dir: string, now: number, keep: number, maxAgeDays: number): string[] {
  const gens = listGenerations(dir);
  const pruned: string[] = [];
  gens.forEach((g, i) => {
    if (i === 0) return; // the newest generation always survives
    if (i >= keep || now - g.mtimeMs > maxAgeDays * 86_400_000) {
      rmSync(g.path, { force: true });
      pruned.push(g.path);
    }
  });
  return pruned;
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
