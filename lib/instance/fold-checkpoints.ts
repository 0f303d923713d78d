// Fold checkpoints over an instance's life: the service writes one when many records have been folded in since
// the last (so a crash costs a short replay), or when any have and the last is old; the shutdown writes the
// final one after everything that writes records has stopped. Start-up loads it (Engine.start) and replays the
// records after it. A checkpoint that cannot be written costs only a longer start-up, so a failure is a WARN.

import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { Service } from './services.js';

/** The store's fold checkpoint: beside it, named after it (`hub.db` → `hub.db.folds`). */
export function foldCheckpointPath(storePath: string): string {
  return `${storePath}.folds`;
}

export interface CheckpointCadence {
  /** How often the service looks (ms). */
  everyMs: number;
  /** Write when at least this many records were folded in since the last checkpoint… */
  records: number;
  /** …or when any were and the last is at least this old (ms). */
  maxAgeMs: number;
}

export const DEFAULT_CADENCE: CheckpointCadence = { everyMs: 30_000, records: 50_000, maxAgeMs: 15 * 60_000 };

/** Writes a checkpoint now and logs what it cost; never throws. */
export async function writeFoldCheckpoint(engine: Engine, logger: Logger, why: string): Promise<void> {
  try {
    const w = await engine.writeCheckpoint();
    if (w) logger.info({ sequence: w.sequence, bytes: w.bytes, duration_ms: w.durationMs, why }, `fold checkpoint written at sequence ${w.sequence} (${why})`);
  } catch (err) {
    logger.warn({ error: (err as Error).message, why }, `fold checkpoint not written: ${(err as Error).message}; the next start-up replays more records, nothing is lost`);
  }
}

export function foldCheckpointService(cadence: CheckpointCadence = DEFAULT_CADENCE): Service {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  return {
    name: 'fold-checkpoints',
    start(ctx) {
      const logger = ctx.logger.child({ target: 'syncropel_engine::folds' });
      let lastAt = ctx.now();
      timer = setInterval(() => {
        const behind = ctx.engine.sequence - ctx.engine.checkpointSequence;
        if (running || behind <= 0 || (behind < cadence.records && ctx.now() - lastAt < cadence.maxAgeMs)) return;
        lastAt = ctx.now();
        running = writeFoldCheckpoint(ctx.engine, logger, behind >= cadence.records ? `${behind} records since the last` : 'periodic').finally(() => (running = undefined));
      }, cadence.everyMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
