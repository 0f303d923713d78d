// The engine: hosts the folds over one record log, rebuilds them on start-up and keeps them current by
// applying each committed group before its appends resolve (so a client reads its own writes).

import type { Logger } from 'pino';
import type { RecordLog } from '../store/record-log.js';
import { FoldHost } from './fold-host.js';
import { Permissions } from './permissions.js';
import type { Fold } from './fold.js';
import { engineConfigFold, type EngineConfigState } from './folds/engine-config.js';
import { threadStateFold, type ThreadsState } from './folds/thread-state.js';
import { trustFold, type TrustState } from './folds/trust.js';

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
    log.onCommit((records) => host.apply(records));
    return new Engine(host, logger, now);
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
