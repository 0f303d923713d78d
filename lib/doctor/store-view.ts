// A read-only look at the store for the checks that need it (store, engine config, permissions, backups).
// It never creates, migrates or writes the file: RecordLog.open would migrate and opens a read-write
// connection, so this opens its own read-only one and reads the few things doctor reports.

import { existsSync, statSync } from 'node:fs';
import type { StoredRecord } from '../kernel/record.js';
import { ENGINE_CONFIG_THREAD, engineConfigFold, toggleEnabled, type EngineConfigState } from '../engine/folds/engine-config.js';
import { trustFold, type TrustState } from '../engine/folds/trust.js';
import { Database } from '../store/database.js';
import { quickCheck } from '../store/integrity.js';
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

interface Row {
  sequence: number;
  id: string;
  thread: string;
  actor: string;
  act: string;
  clock: number;
  data_type: string;
  parents: string;
  body: string;
  judged_by: string | null;
  created_at: number;
}

const COLUMNS = 'sequence, id, thread, actor, act, clock, data_type, parents, body, judged_by, created_at';

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
    const hasRecords = await db.get(`SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'records'`);
    if (!hasRecords) {
      return { state: 'sound', path, bytes, schemaVersion, records: 0, threads: 0, instanceDid: undefined, engineConfig: engineConfigFold.init(), trust: undefined };
    }
    const counts = await db.get<{ records: number; threads: number }>(`SELECT count(*) AS records, count(DISTINCT thread) AS threads FROM records`);
    const instanceDid = schemaVersion > 0 ? await getMeta(db, 'instance_did') : undefined;
    let engineConfig = engineConfigFold.init();
    await db.each<Row>(`SELECT ${COLUMNS} FROM records WHERE thread = ? ORDER BY sequence`, [ENGINE_CONFIG_THREAD], (row) => {
      engineConfig = engineConfigFold.apply(engineConfig, toRecord(row));
    });
    let trust: TrustState | undefined;
    if (toggleEnabled(engineConfig, 'permissions_enabled')) {
      let t = trustFold.init();
      await db.each<Row>(`SELECT ${COLUMNS} FROM records WHERE act = 'KNOW' ORDER BY sequence`, [], (row) => {
        t = trustFold.apply(t, toRecord(row));
      });
      trust = t;
    }
    return { state: 'sound', path, bytes, schemaVersion, records: counts?.records ?? 0, threads: counts?.threads ?? 0, instanceDid, engineConfig, trust };
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

function toRecord(row: Row): StoredRecord {
  return {
    id: row.id,
    parents: JSON.parse(row.parents) as string[],
    thread: row.thread,
    actor: row.actor,
    act: row.act as StoredRecord['act'],
    body: JSON.parse(row.body) as StoredRecord['body'],
    clock: row.clock,
    data_type: row.data_type as StoredRecord['data_type'],
    judged_by: row.judged_by,
    sequence: row.sequence,
    created_at: new Date(row.created_at).toISOString(),
  };
}
