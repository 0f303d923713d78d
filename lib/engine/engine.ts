// The engine: hosts the folds over one record log, rebuilds them on start-up and keeps them current by
// applying each committed group before its appends resolve (so a client reads its own writes).

import type { Logger } from 'pino';
import type { RecordLog } from '../store/record-log.js';
import { FoldHost } from './fold-host.js';
import { Permissions } from './permissions.js';
import type { Fold } from './fold.js';
import { celEngine, type CelContext } from './cel.js';
import { ENGINE_CONFIG_THREAD, engineConfigFold, type EngineConfigState, type Rule, type RuleTopic } from './folds/engine-config.js';
import { threadStateFold, type ThreadsState } from './folds/thread-state.js';
import { trustFold, type TrustState } from './folds/trust.js';

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

  private constructor(readonly host: FoldHost, logger: Logger, now: () => number) {
    this.permissions = new Permissions(() => this.config, () => this.trust, logger.child({ target: 'syncropel_engine::permissions' }), now);
  }

  static readonly FOLDS: ReadonlyArray<Fold<unknown>> = [engineConfigFold, threadStateFold, trustFold] as ReadonlyArray<Fold<unknown>>;

  /** rebuild_from_store, then follow the log. */
  static async start(log: RecordLog, logger: Logger, now: () => number = Date.now): Promise<Engine> {
    const host = new FoldHost(Engine.FOLDS);
    const result = await host.rebuild(log, now);
    logger.child({ target: 'syncropel_engine::folds' }).info(
      { records: result.records, duration_ms: result.durationMs, folds: Engine.FOLDS.map((f) => f.name) },
      'rebuild_from_store complete',
    );
    const engine = new Engine(host, logger, now);
    const rulesLog = logger.child({ target: 'syncropel_engine::config' });
    for (const rule of host.state(engineConfigFold).rules.values()) reportUncompilable(rule, rulesLog);
    log.onCommit((records) => {
      host.apply(records);
      for (const r of records) {
        if (r.thread !== ENGINE_CONFIG_THREAD || typeof r.body.topic !== 'string' || typeof r.body.name !== 'string') continue;
        const rule = engine.config.rules.get(`${r.body.topic}\0${r.body.name}`);
        if (rule && rule.record === r.id) reportUncompilable(rule, rulesLog);
      }
    });
    return engine;
  }

  get threads(): ThreadsState {
    return this.host.state(threadStateFold);
  }

  get config(): EngineConfigState {
    return this.host.state(engineConfigFold);
  }

  get trust(): TrustState {
    return this.host.state(trustFold);
  }

  get threadCount(): number {
    return this.threads.size;
  }
}
