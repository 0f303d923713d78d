// The engine: hosts the folds over one record log, rebuilds them on start-up and keeps them current by
// applying each committed group before its appends resolve (so a client reads its own writes), then hands the
// group to the reactors (side effects, asynchronously). Folds register: the core ones below, plus whatever a
// module supplies at start (`extraFolds`); readers ask for a fold's state with `engine.state(fold)`.

import { NO_FLEET, type CelFleet } from './cel.js';
import type { Logger } from 'pino';
import type { RecordLog } from '../store/record-log.js';
import type { FoldHealth } from '../kernel/wire.js';
import { FoldHost } from './fold-host.js';
import { Permissions } from './permissions.js';
import type { Fold } from './fold.js';
import { Reactors, type ReactorHandler, type ReactorStats } from './reactor.js';
import { celEngine, type CelContext } from './cel.js';
import { ENGINE_CONFIG_THREAD, engineConfigFold, type Rule, type RuleTopic } from './folds/engine-config.js';
import { threadStateFold } from './folds/thread-state.js';
import { trustFold } from './folds/trust.js';
import { tasksFold } from './folds/tasks.js';

/** The folds every instance hosts: engine configuration, thread state, trust, tasks (rules and CEL read them). */
export const CORE_FOLDS: ReadonlyArray<Fold<unknown>> = [engineConfigFold, threadStateFold, trustFold, tasksFold] as ReadonlyArray<Fold<unknown>>;

/** The CEL context a rule topic's expressions are evaluated in. */
export function ruleContext(topic: RuleTopic): CelContext {
  return topic === 'permission_rule' ? 'permission' : topic === 'health_rule' ? 'health_check' : 'routing';
}

/** A rule whose expression does not compile is skipped wherever rules run; say so once, when it appears. */
function reportUncompilable(rule: Rule, logger: Logger): void {
  if (!rule.enabled) return;
  const checked = rule.expression === undefined ? { ok: false as const, error: 'it has no expression' } : celEngine.check(ruleContext(rule.topic), rule.expression);
  if (!checked.ok) {
    logger.warn({ rule: rule.name, topic: rule.topic, record: rule.record, actor: rule.actor }, `${rule.topic} ${rule.name} does not compile and is skipped: ${checked.error}`);
  }
}

export class Engine {
  readonly permissions: Permissions;
  private readonly reactors: Reactors;
  /** Backs the fleet_… CEL functions; the instance sets it (outside a fleet: nothing frozen, nobody live). */
  fleetCel: () => CelFleet = () => NO_FLEET;

  private constructor(readonly host: FoldHost, logger: Logger, now: () => number) {
    this.permissions = new Permissions(() => this.state(engineConfigFold), () => this.state(trustFold), logger.child({ target: 'syncropel_engine::permissions' }), now, undefined, {
      tasks: () => this.state(tasksFold), fleet: () => this.fleetCel(),
    });
    this.reactors = new Reactors(logger.child({ target: 'syncropel_engine::reactors' }));
  }

  /** rebuild_from_store over the core folds and `extraFolds`, then follow the log. */
  static async start(log: RecordLog, logger: Logger, now: () => number = Date.now, extraFolds: ReadonlyArray<Fold<unknown>> = []): Promise<Engine> {
    const foldLog = logger.child({ target: 'syncropel_engine::folds' });
    const folds = [...CORE_FOLDS, ...extraFolds];
    const host = new FoldHost(folds, foldLog, now);
    const result = await host.rebuild(log, now);
    const broken = host.broken();
    foldLog[broken.length > 0 ? 'warn' : 'info'](
      { records: result.records, duration_ms: result.durationMs, folds: folds.map((f) => f.name), ...(broken.length > 0 ? { broken: broken.map((b) => `${b.fold} (${b.faults})`) } : {}) },
      broken.length > 0 ? `rebuild_from_store complete; broken folds: ${broken.map((b) => `${b.fold} failed on ${b.faults} record(s)`).join(', ')}` : 'rebuild_from_store complete',
    );
    const engine = new Engine(host, logger, now);
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

  /** A hosted fold's current state. */
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

  get threadCount(): number {
    return this.state(threadStateFold).size;
  }
}
