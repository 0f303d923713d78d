// Services: long-running parts of an instance (the dispatch worker pool, the fleet heartbeat, …) that start once
// the listeners are bound and stop, in reverse order, after the listeners close and before the store does. A
// service may take seconds to stop (children to signal and reap); the instance reports each stop as a step, which
// under systemd extends the stop timeout (EXTEND_TIMEOUT_USEC) while it runs.

import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { RecordLog } from '../store/record-log.js';
import type { InstanceConfig } from './config-file.js';
import type { HomePaths } from './home.js';

interface ServiceContext {
  did: string;
  paths: HomePaths;
  config: InstanceConfig;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  now: () => number;
}

export interface Service {
  readonly name: string;
  start(ctx: ServiceContext): void | Promise<void>;
  /** config.toml was re-read (SIGHUP). */
  reload?(config: InstanceConfig): void | Promise<void>;
  stop(reason: string): void | Promise<void>;
}

/** The services of one instance, started in order and stopped in reverse. */
export class ServiceSet {
  private readonly started: Service[] = [];

  constructor(private readonly services: readonly Service[], private readonly logger: Logger) {
    const names = new Set<string>();
    for (const s of services) {
      if (names.has(s.name)) throw new Error(`two services are named ${s.name}`);
      names.add(s.name);
    }
  }

  /** Starts each in order; if one fails, those already started are stopped and the error is thrown. */
  async start(ctx: ServiceContext, progress: (step: string) => void): Promise<void> {
    for (const s of this.services) {
      progress(`starting ${s.name}`);
      try {
        await s.start(ctx);
      } catch (err) {
        await this.stop('start-up failed', () => undefined);
        throw new Error(`service ${s.name} did not start: ${(err as Error).message}`, { cause: err });
      }
      this.started.push(s);
      this.logger.debug({ service: s.name }, 'service started');
    }
  }

  async reload(config: InstanceConfig): Promise<void> {
    for (const s of this.started) {
      try {
        await s.reload?.(config);
      } catch (err) {
        this.logger.warn({ service: s.name, err: (err as Error).message }, `service ${s.name} did not apply the reload: ${(err as Error).message}`);
      }
    }
  }

  /** Stops every started service in reverse order; returns the failures (each is also logged), never throws. */
  async stop(reason: string, progress: (step: string) => void, now: () => number = Date.now): Promise<string[]> {
    const failed: string[] = [];
    while (this.started.length > 0) {
      const s = this.started.pop()!;
      progress(`stopping ${s.name}`);
      const t0 = now();
      try {
        await s.stop(reason);
        this.logger.info({ service: s.name, duration_ms: now() - t0 }, `service ${s.name} stopped`);
      } catch (err) {
        failed.push(`${s.name}: ${(err as Error).message}`);
        this.logger.error({ service: s.name, err: (err as Error).message }, `service ${s.name} failed to stop cleanly: ${(err as Error).message}`);
      }
    }
    return failed;
  }
}

/**
 * One piece of work begun once the instance serves (READY does not wait for it). The shutdown aborts its signal
 * and waits for it to end.
 */
export function backgroundService(name: string, work: (signal: AbortSignal) => Promise<void>): Service {
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  return {
    name,
    start() {
      running = work(abort.signal);
    },
    async stop() {
      abort.abort();
      await running;
    },
  };
}
