// A read-only look at the store for the checks that need it (store, engine config, permissions, backups).
// It never creates, migrates or writes the file: RecordLog.open would migrate and opens a read-write
// connection, so this looks through store/inspect's read-only one and folds what the checks need from it.

import { ENGINE_CONFIG_THREAD, engineConfigFold, toggleEnabled, type EngineConfigState } from '../engine/folds/engine-config.js';
import { trustFold, type TrustState } from '../engine/folds/trust.js';
import { tasksFold, type TasksState } from '../engine/folds/tasks.js';
import { adaptersFold, type AdaptersState } from '../dispatch/adapters.js';
import { dispatchesFold, KIND, type DispatchesState } from '../dispatch/records.js';
import type { Database } from '../store/database.js';
import { inspectStore, type StoreInspection } from '../store/inspect.js';
import { scanPaged, scanWhere } from '../store/rows.js';

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
      /** Tasks folded from their INTENDs and edits only: aliases and content hashes are right, statuses are not. */
      tasks: TasksState;
      adapters: AdaptersState;
      /** Dispatched tasks (every record of their threads: statuses are right) and their dispatches. */
      dispatch: { tasks: TasksState; dispatches: DispatchesState };
    };

export async function readStoreView(path: string): Promise<StoreView> {
  const s = await inspectStore(path, { verify: true, busyTimeoutMs: 2000, read: readFolds });
  switch (s.state) {
    case 'missing':
      return { state: 'missing', path };
    case 'corrupt':
      return { state: 'corrupt', path, bytes: s.bytes, detail: s.problems.slice(0, 3).join('; ') };
    case 'unreadable':
      return { state: 'unreadable', path, detail: s.problems.join('; ') };
    case 'too-new':
      return { state: 'too-new', path, bytes: s.bytes, schemaVersion: s.schemaVersion };
    case 'sound': {
      // A file never migrated (schema 0) is shown as empty, whatever tables it has.
      const empty = s.schemaVersion === 0;
      const { engineConfig, trust, tasks, adapters, dispatch } = s.extra ?? noFolds();
      return { state: 'sound', path, bytes: s.bytes, schemaVersion: s.schemaVersion, records: empty ? 0 : s.records, threads: empty ? 0 : (s.threads ?? 0), instanceDid: s.instanceDid, engineConfig, trust, tasks, adapters, dispatch };
    }
  }
}

interface DoctorFolds {
  engineConfig: EngineConfigState;
  trust: TrustState | undefined;
  tasks: TasksState;
  adapters: AdaptersState;
  dispatch: { tasks: TasksState; dispatches: DispatchesState };
}

const noFolds = (): DoctorFolds => ({ engineConfig: engineConfigFold.init(), trust: undefined, tasks: tasksFold.init(), adapters: adaptersFold.init(), dispatch: { tasks: tasksFold.init(), dispatches: dispatchesFold.init() } });

/** Engine config, and trust when permission enforcement is on, folded by scanning just their records. */
async function readFolds(db: Database, found: StoreInspection): Promise<DoctorFolds> {
  if (found.schemaVersion === 0 || found.records === 0) return noFolds();
  let engineConfig = engineConfigFold.init();
  let adapters = adaptersFold.init();
  await scanWhere(db, { thread: ENGINE_CONFIG_THREAD }, (r) => {
    engineConfig = engineConfigFold.apply(engineConfig, r);
    adapters = adaptersFold.apply(adapters, r);
  });
  let trust: TrustState | undefined;
  if (toggleEnabled(engineConfig, 'permissions_enabled')) {
    let t = trustFold.init();
    await scanWhere(db, { act: 'KNOW' }, (r) => {
      t = trustFold.apply(t, r);
    });
    trust = t;
  }
  // A task's content hash is set by its INTEND and by LEARN edits: those two acts are all the check needs.
  let tasks = tasksFold.init();
  await scanPaged(db, { sql: `act IN ('INTEND', 'LEARN')`, params: [] }, 0, (r) => {
    tasks = tasksFold.apply(tasks, r);
  });
  return { engineConfig, trust, tasks, adapters, dispatch: await readDispatches(db) };
}

/** Dispatch requests (DO records naming their kind), then every record of the tasks and sub-threads they name. */
async function readDispatches(db: Database): Promise<DoctorFolds['dispatch']> {
  let dispatches = dispatchesFold.init();
  const threads = new Set<string>();
  await scanPaged(db, { sql: `act = 'DO' AND body LIKE ?`, params: [`%"kind":"${KIND.request}"%`] }, 0, (r) => {
    threads.add(r.thread);
  });
  let tasks = tasksFold.init();
  for (const thread of threads) {
    await scanWhere(db, { thread }, (r) => {
      tasks = tasksFold.apply(tasks, r);
      dispatches = dispatchesFold.apply(dispatches, r);
    });
  }
  for (const sub of [...dispatches.bySub.keys()]) {
    await scanWhere(db, { thread: sub }, (r) => {
      tasks = tasksFold.apply(tasks, r);
      dispatches = dispatchesFold.apply(dispatches, r);
    });
  }
  return { tasks, dispatches };
}
