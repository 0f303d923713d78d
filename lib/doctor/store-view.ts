// A read-only look at the store for the checks that need it (store, engine config, permissions, backups).
// It never creates, migrates or writes the file: RecordLog.open would migrate and opens a read-write
// connection, so this opens its own read-only one and reads through store/rows.

import { existsSync, statSync } from 'node:fs';
import { ENGINE_CONFIG_THREAD, engineConfigFold, toggleEnabled, type EngineConfigState } from '../engine/folds/engine-config.js';
import { trustFold, type TrustState } from '../engine/folds/trust.js';
import { Database } from '../store/database.js';
import { quickCheck } from '../store/integrity.js';
import { recordCounts, scanWhere } from '../store/rows.js';
import { getMeta, SCHEMA_VERSION, storedSchemaVersion } from '../store/schema.js';

export type StoreView =
  | { state: 'missing'; path: string }
  /** quick_check failed, or SQLite says the file is not a database or is malformed. */
  | { state: 'corrupt'; path: string; bytes: number; detail: string }
  /** Could not be read for another reason (permissions, a lock): nothing is known about its soundness. */
  | { state: 'unreadable'; path: string; detail: string }
  | { state: 'too-new'; path: string; bytes: number; schemaVersion: number }
  | {
      state: 'sound';
      path: string;
      bytes: number;
      schemaVersion: number;
      records: number;
      threads: number;
      instanceDid: string | undefined;
      engineConfig: EngineConfigState;
      /** Folded only when permission enforcement is on (the lockout check needs it then). */
      trust: TrustState | undefined;
    };

const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

export async function readStoreView(path: string): Promise<StoreView> {
  if (!existsSync(path)) return { state: 'missing', path };
  let bytes: number;
  try {
    bytes = statSync(path).size;
  } catch (err) {
    return { state: 'unreadable', path, detail: (err as Error).message };
  }
  let db: Database;
  try {
    db = await Database.open(path, { readonly: true, busyTimeoutMs: 2000 });
  } catch (err) {
    return classify(path, bytes, err);
  }
  try {
    const problems = await quickCheck(db);
    if (problems.length > 0) return { state: 'corrupt', path, bytes, detail: problems.slice(0, 3).join('; ') };
    const schemaVersion = await storedSchemaVersion(db);
    if (schemaVersion > SCHEMA_VERSION) return { state: 'too-new', path, bytes, schemaVersion };
    const counts = await recordCounts(db);
    if (schemaVersion === 0 || counts.records === 0) {
      return { state: 'sound', path, bytes, schemaVersion, records: 0, threads: 0, instanceDid: schemaVersion > 0 ? await getMeta(db, 'instance_did') : undefined, engineConfig: engineConfigFold.init(), trust: undefined };
    }
    const instanceDid = await getMeta(db, 'instance_did');
    let engineConfig = engineConfigFold.init();
    await scanWhere(db, { thread: ENGINE_CONFIG_THREAD }, (r) => {
      engineConfig = engineConfigFold.apply(engineConfig, r);
    });
    let trust: TrustState | undefined;
    if (toggleEnabled(engineConfig, 'permissions_enabled')) {
      let t = trustFold.init();
      await scanWhere(db, { act: 'KNOW' }, (r) => {
        t = trustFold.apply(t, r);
      });
      trust = t;
    }
    return { state: 'sound', path, bytes, schemaVersion, records: counts.records, threads: counts.threads, instanceDid, engineConfig, trust };
  } catch (err) {
    return classify(path, bytes, err);
  } finally {
    await db.close().catch(() => undefined);
  }
}

function classify(path: string, bytes: number, err: unknown): StoreView {
  const code = (err as { code?: string }).code;
  const detail = (err as Error).message;
  return code !== undefined && CORRUPT_CODES.has(code) ? { state: 'corrupt', path, bytes, detail } : { state: 'unreadable', path, detail };
}
