// The quick_check of a store begun before the instance has loaded its modules and taken its home lock, so the
// check (a scan of every page: about a second at 1M records) runs on SQLite's thread while the main thread loads
// the rest of the instance. Its verdict stands in for the open's own quick_check only when the store's files are
// exactly as they were while it ran (the same file, size and time, and no WAL frame added); otherwise the open
// checks again, as it always did. Whatever goes wrong here only means the open checks for itself.

import { statSync } from 'node:fs';
import { Database } from './database.js';
import { quickCheck } from './integrity.js';

/** The early check's page cache, in pages. */
const CHECK_CACHE_PAGES = 64;

/** The problems a check found (empty: sound) with the state of the store's files they hold for. */
export interface EarlyResult {
  problems: string[];
  files: string;
}

export interface EarlyCheck {
  path: string;
  /** Who began it, for the log line: `begun while the instance loaded`, or by the launching `spl serve`. */
  began: string;
  /** The verdict; undefined when the check did not finish (or the files changed while it ran). */
  result: Promise<EarlyResult | undefined>;
  /** Set once the open has used its verdict (for the log line that says which check it relied on). */
  used?: boolean;
  /** Stops a check nobody will use (its result is then undefined). */
  abort?: () => void;
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
  let db: Database | undefined;
  let aborted = false;
  const run = async (): Promise<EarlyResult | undefined> => {
    const open = await Database.open(path, { readonly: true, mustExist: true });
    db = open;
    let problems: string[];
    try {
      if (aborted) return undefined;
      // A page cache that fits the CPU's cache: the check reads each page once, and goes ~4% faster than with
      // the default 2 MB (measured on a 937 MB store).
      await open.exec(`PRAGMA cache_size = ${CHECK_CACHE_PAGES}`);
      problems = await quickCheck(open);
    } finally {
      db = undefined;
      await open.close();
    }
    const after = storeFiles(path);
    return after === before && !aborted ? { problems, files: after } : undefined;
  };
  const abort = (): void => {
    aborted = true;
    db?.interrupt();
  };
  return { path, began: 'begun while the instance loaded', result: run().catch(() => undefined), abort };
}

/** The early check's problems when they hold for `path` as it is now; undefined: check it again. */
export async function earlyVerdict(check: EarlyCheck | undefined, path: string): Promise<string[] | undefined> {
  if (!check || check.path !== path) return undefined;
  const r = await check.result;
  if (!r || r.files !== storeFiles(path)) return undefined;
  check.used = true;
  return r.problems;
}
