// The engine: hosts the folds over one record log, rebuilds them on start-up and keeps them current by
// applying each committed group before its appends resolve (so a client reads its own writes), then hands the
// group to the reactors (side effects, asynchronously). Folds register: the core ones below, plus whatever a
// module supplies at start (`extraFolds`); readers ask for a fold's state with `engine.state(fold)`.

import { NO_FLEET, type CelFleet } from './cel.js';
import type { Logger } from 'pino';
import type { RecordLog } from '../store/record-log.js';
import type { FoldHealth } from '../kernel/wire.js';
import { FoldHost } from './fold-host.js';
import { encodeCheckpoint, fingerprints, readCheckpoint, writeCheckpointFile, type Decoded } from './fold-checkpoint.js';
import { Permissions } from './permissions.js';
import type { Fold } from './fold.js';
import { Reactors, type ReactorHandler, type ReactorStats } from './reactor.js';
import { celEngine } from './cel.js';
import { ruleContext } from './rule-match.js';
import { ENGINE_CONFIG_THREAD, engineConfigFold, type Rule } from './folds/engine-config.js';
import { trustFold } from './folds/trust.js';
import { tasksFold } from './folds/tasks.js';

/**
 * The folds every instance hosts: engine configuration, trust, tasks (rules and CEL read them). Thread state is
 * not among them: it is derived from a thread's records when asked for (folds/thread-state.ts).
 */
export const CORE_FOLDS: ReadonlyArray<Fold<unknown>> = [engineConfigFold, trustFold, tasksFold] as ReadonlyArray<Fold<unknown>>;

/** A rule whose expression does not compile is skipped wherever rules run; say so once, when it appears. */
function reportUncompilable(rule: Rule, logger: Logger): void {
  if (!rule.enabled) return;
  const checked = rule.expression === undefined ? { ok: false as const, error: 'it has no expression' } : celEngine.check(ruleContext(rule.topic), rule.expression);
  if (!checked.ok) {
    logger.warn({ rule: rule.name, topic: rule.topic, record: rule.record, actor: rule.actor }, `${rule.topic} ${rule.name} does not compile and is skipped: ${checked.error}`);
  }
}

/** Where fold checkpoints live and which binary writes them; `rebuild` ignores the one on disk (spl serve --rebuild). */
export interface CheckpointOptions {
  path: string;
  code: string;
  rebuild?: boolean;
  /**
   * The checkpoint file as readCheckpointFor read it earlier (undefined: there is none): the instance reads and
   * decodes it while the store's quick_check still runs, instead of after the store is open.
   */
  preread?: Decoded | undefined;
}

/** Reads and decodes the checkpoint at cp.path for the core folds and `extraFolds`, as Engine.start would. */
export function readCheckpointFor(cp: CheckpointOptions, extraFolds: ReadonlyArray<Fold<unknown>>): Decoded | undefined {
  return readCheckpoint(cp.path, cp.code, [...CORE_FOLDS, ...extraFolds]);
}

/** Loads the fold checkpoint and folds in the tail, or rebuilds in full and says why; logs rebuild_from_store complete. */
async function deriveState(host: FoldHost, log: RecordLog, foldLog: Logger, now: () => number, cp: CheckpointOptions | undefined): Promise<number> {
  const started = now();
  let why: { reason: string; warn: boolean } | undefined = cp ? undefined : { reason: 'no checkpoint path', warn: false };
  let from: number | undefined;
  if (cp && cp.rebuild) why = { reason: 'a full rebuild was asked for (spl serve --rebuild)', warn: false };
  else if (cp) {
    const got = 'preread' in cp ? cp.preread : readCheckpoint(cp.path, cp.code, host.folds);
    if (got === undefined) why = { reason: 'there is no fold checkpoint yet', warn: false };
    else if (!got.ok) why = { reason: `the fold checkpoint ${cp.path} is not used: ${got.reason}`, warn: got.damaged };
    else {
      const { header, payload } = got;
      const [at, first] = await Promise.all([log.idAt(header.sequence), log.idAt(1)]);
      if (at !== header.record || first !== header.first) {
        why = { reason: `the fold checkpoint ${cp.path} covers records 1..${header.sequence} of another store or history (the store holds ${log.recordCount})`, warn: false };
      } else {
        try {
          await host.resume(log, { payload, sequence: header.sequence, record: header.record, first: header.first }, now);
          from = header.sequence;
        } catch (err) {
          why = { reason: `the fold checkpoint ${cp.path} could not be loaded: ${(err as Error).message}`, warn: true };
        }
      }
    }
  }
  let replayed = host.sequence - (from ?? 0);
  if (from === undefined) replayed = (await host.rebuild(log, now)).records;
  const broken = host.broken();
  const base = { records: host.sequence, replayed, duration_ms: now() - started, folds: host.folds.map((f) => f.name), ...(from !== undefined ? { from_checkpoint: from } : { full: true, why: why?.reason }) };
  if (why?.warn) foldLog.warn({ reason: why.reason }, `${why.reason}; rebuilding every fold from the store`);
  foldLog[broken.length > 0 ? 'warn' : 'info'](
    { ...base, ...(broken.length > 0 ? { broken: broken.map((b) => `${b.fold} (${b.faults})`) } : {}) },
    `rebuild_from_store complete${from !== undefined ? ` (checkpoint at ${from} + ${replayed} records)` : ` (full: ${why?.reason})`}${broken.length > 0 ? `; broken folds: ${broken.map((b) => `${b.fold} failed on ${b.faults} record(s)`).join(', ')}` : ''}`,
  );
  return from ?? 0;
}

export class Engine {
  readonly permissions: Permissions;
  private readonly reactors: Reactors;
  private checkpointOptions: CheckpointOptions | undefined;
  private checkpointed = 0;
  private checkpointing = false;
  /** Backs the fleet_… CEL functions; the instance sets it (outside a fleet: nothing frozen, nobody live). */
  fleetCel: () => CelFleet = () => NO_FLEET;

  private constructor(readonly host: FoldHost, logger: Logger, private readonly now: () => number) {
    this.permissions = new Permissions(() => this.state(engineConfigFold), () => this.state(trustFold), logger.child({ target: 'syncropel_engine::permissions' }), now, undefined, {
      tasks: () => this.state(tasksFold), fleet: () => this.fleetCel(),
    });
    this.reactors = new Reactors(logger.child({ target: 'syncropel_engine::reactors' }));
  }

  /**
   * rebuild_from_store over the core folds and `extraFolds` — from the fold checkpoint and the records after it
   * when `checkpoint` names a usable one, in full otherwise — then follow the log.
   */
  static async start(log: RecordLog, logger: Logger, now: () => number = Date.now, extraFolds: ReadonlyArray<Fold<unknown>> = [], checkpoint?: CheckpointOptions): Promise<Engine> {
    const foldLog = logger.child({ target: 'syncropel_engine::folds' });
    const folds = [...CORE_FOLDS, ...extraFolds];
    const host = new FoldHost(folds, foldLog, now);
    const loadedFrom = await deriveState(host, log, foldLog, now, checkpoint);
    const engine = new Engine(host, logger, now);
    engine.checkpointOptions = checkpoint;
    engine.checkpointed = loadedFrom;
    const rulesLog = logger.child({ target: 'syncropel_engine::config' });
    for (const rule of host.state(engineConfigFold).rules.values()) reportUncompilable(rule, rulesLog);
    log.onCommit(
      (records) => {
        host.apply(records);
        for (const r of records) {
          if (r.thread !== ENGINE_CONFIG_THREAD || typeof r.body.topic !== 'string' || typeof r.body.name !== 'string') continue;
          const rule = engine.state(engineConfigFold).rules.get(`${r.body.topic}\0${r.body.name}`);
          if (rule && rule.record === r.id) reportUncompilable(rule, rulesLog);
        }
        engine.reactors.dispatch(records);
      },
      (err, records) => foldLog.error({ error: (err as Error).message, first_sequence: records[0]?.sequence }, `after commit: ${(err as Error).message}; the records are committed`),
    );
    return engine;
  }

  /**
   * Writes a fold checkpoint of the state as it is now (one at a time; a no-op when nothing was folded in since
   * the last one, or without a checkpoint path). Resolves with the sequence it covers, or undefined.
   */
  async writeCheckpoint(): Promise<{ sequence: number; bytes: number; durationMs: number } | undefined> {
    const o = this.checkpointOptions;
    if (!o || this.host.sequence === 0 || this.host.sequence === this.checkpointed || this.checkpointing) return undefined;
    this.checkpointing = true;
    try {
      const started = this.now();
      const c = this.host.checkpoint();
      const data = encodeCheckpoint({ code: o.code, folds: fingerprints(this.host.folds), sequence: c.sequence, record: c.record, first: c.first, written_at: new Date(started).toISOString() }, c.payload);
      await writeCheckpointFile(o.path, data);
      this.checkpointed = c.sequence;
      return { sequence: c.sequence, bytes: data.length, durationMs: this.now() - started };
    } finally {
      this.checkpointing = false;
    }
  }

  /** The sequence the last checkpoint written or loaded covers (0: none). */
  get checkpointSequence(): number {
    return this.checkpointed;
  }

  get sequence(): number {
    return this.host.sequence;
  }

  /** Each fold's size in entries (spl status -o json's memory report). */
  foldSizes(): Record<string, number> {
    return this.host.sizes();
  }

  state<S>(fold: Fold<S>): S {
    return this.host.state(fold);
  }

  /** Registers a side effect run after each commit (see reactor.ts). */
  react(name: string, handler: ReactorHandler): void {
    this.reactors.add(name, handler);
  }

  /** Waits for the reactors to finish what has been committed so far. */
  drainReactors(): Promise<void> {
    return this.reactors.drain();
  }

  reactorStats(): ReactorStats[] {
    return this.reactors.stats();
  }

  /** Folds that threw on a record (reported by /health and spl doctor). */
  brokenFolds(): FoldHealth[] {
    return this.host.broken();
  }
}
