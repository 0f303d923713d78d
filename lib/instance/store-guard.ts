// No silent empty start (SPEC §9): when the store is missing but the home shows it had one — the instance
// key exists, or a backup for this instance holds records — spl serve (and spl init) refuse, name the best
// backup and print the restore commands. `spl serve --new-store` starts empty on purpose. The first start of
// a new home (no key, no backups) is unaffected.

import { existsSync, statSync } from 'node:fs';
import { SplError } from '../kernel/errors.js';
import { formatAge, plural, shellQuote } from '../kernel/text.js';
import { startupBackupDir } from './backup-paths.js';
import { bestVerified, catalog, offhostKind, scanBackups, type CatalogEntry } from './backup-catalog.js';
import type { Env, HomePaths } from './home.js';
import { loadIdentity } from './identity.js';

export interface MissingStore {
  storePath: string;
  /** Why the home looks like it had data; empty for a new home. */
  evidence: string[];
  /** The backup holding the most records that passes quick_check. */
  best: (CatalogEntry & { records: number }) | undefined;
}

/** undefined when the store exists; otherwise what the home says about the data it had. */
export async function inspectMissingStore(paths: HomePaths, storePath: string, backupDest: string | undefined, env: Env): Promise<MissingStore | undefined> {
  if (existsSync(storePath)) return undefined;
  const evidence: string[] = [];
  let did: string | undefined;
  if (existsSync(paths.instanceKey)) {
    evidence.push(`its instance key ${paths.instanceKey} exists (written ${new Date(statSync(paths.instanceKey).mtimeMs).toISOString()})`);
    try {
      did = loadIdentity(paths.instanceKey)?.did;
    } catch {
      // an unreadable key still shows the home was used; its backups cannot be located by DID
    }
  }
  const dirs = [startupBackupDir(paths.home, did, env)];
  if (did !== undefined) dirs.push(startupBackupDir(paths.home, undefined, env)); // backups taken before the key existed
  const entries: CatalogEntry[] = [];
  for (const d of dirs) entries.push(...(await catalog(d)));
  if (backupDest !== undefined) entries.push(...(await scanBackups(backupDest, offhostKind)));
  const found = await bestVerified(entries.filter((e) => (e.records ?? 0) > 0));
  const best = found ? { ...found.entry, records: found.inspection.records } : undefined;
  if (best) evidence.push('a backup of it holds records');
  return { storePath, evidence, best };
}

/** The refusal: what is missing, why it must have held data, the best backup, and the commands to restore it. */
export function missingStoreError(m: MissingStore, now: number): SplError {
  const best = m.best;
  const about = best ? `; the best backup is ${best.file}: ${plural(best.records, 'record')}, taken ${formatAge(now - best.mtimeMs)} ago` : '; no backup of it was found';
  const restore = best
    ? `spl backup restore ${shellQuote(best.file)} && spl serve   (or the runbook's: cp ${shellQuote(best.file)} ${shellQuote(m.storePath)}); to start empty on purpose: spl serve --new-store`
    : `copy your newest off-host backup to ${shellQuote(m.storePath)} (spl backup verify FILE checks it first); to start empty on purpose: spl serve --new-store`;
  return new SplError(
    'STORE_MISSING',
    `the store ${m.storePath} is missing, but this home had data (${m.evidence.join('; ')})${about}; spl will not start an empty store in its place`,
    { fix: restore },
  );
}

/** Throws the refusal when the store is missing from a home that had data; returns what was found otherwise. */
export async function refuseEmptyStart(paths: HomePaths, storePath: string, backupDest: string | undefined, env: Env, now: number): Promise<MissingStore | undefined> {
  const m = await inspectMissingStore(paths, storePath, backupDest, env);
  if (m && m.evidence.length > 0) throw missingStoreError(m, now);
  return m;
}
