// The quick_check of a store begun before the instance has loaded its modules and taken its home lock, so the
// check (a scan of every page: about a second at 1M records) runs on SQLite's thread while the main thread loads
// the rest of the instance. Its verdict stands in for the open's own quick_check only when the store's files are
// exactly as they were while it ran (the same file, size and time, and no WAL frame added); otherwise the open
// checks again, as it always did. Whatever goes wrong here only means the open checks for itself.

import { statSync } from 'node:fs';
import { Database } from './database.js';
import { quickCheck } from './integrity.js';

export interface EarlyCheck {
  path: string;
  /** The problems found (empty: sound) with the files' state they hold for; undefined when the check did not finish. */
  result: Promise<{ problems: string[]; files: string } | undefined>;
  /** Set once the open has used its verdict (for the log line that says which check it relied on). */
  used?: boolean;
}

/**
 * What changes when anything is committed to the store or checkpointed into it: the main file's identity,
 * size and time, and the WAL's size (and time, once it holds frames). A read-only connection creates an empty
 * WAL; an absent one counts as empty.
 */
export function storeFiles(path: string): string | undefined {
  try {
    const main = statSync(path);
    let wal = '0';
    try {
      const w = statSync(`${path}-wal`);
      if (w.size > 0) wal = `${w.size}:${w.mtimeMs}`;
    } catch {
      // no WAL: nothing committed beyond the main file
    }
    return `${main.dev}:${main.ino}:${main.size}:${main.mtimeMs}|${wal}`;
  } catch {
    return undefined;
  }
}

/** Starts a read-only quick_check of `path`; undefined when there is no file there to check. */
export function startEarlyCheck(path: string): EarlyCheck | undefined {
  const before = storeFiles(path);
  if (before === undefined) return undefined;
  const run = async (): Promise<{ problems: string[]; files: string } | undefined> => {
    const db = await Database.open(path, { readonly: true, mustExist: true });
    let problems: string[];
    try {
      problems = await quickCheck(db);
    } finally {
      await db.close();
    }
    const after = storeFiles(path);
    return after === before ? { problems, files: after } : undefined;
  };
  return { path, result: run().catch(() => undefined) };
}

/** The early check's problems when they hold for `path` as it is now; undefined: check it again. */
export async function earlyVerdict(check: EarlyCheck | undefined, path: string): Promise<string[] | undefined> {
  if (!check || check.path !== path) return undefined;
  const r = await check.result;
  if (!r || r.files !== storeFiles(path)) return undefined;
  check.used = true;
  return r.problems;
}
