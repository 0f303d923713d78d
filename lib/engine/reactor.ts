// Reactors: side effects after commit (dispatch, reconcilers). Unlike folds, which apply synchronously before the
// appends resolve, a reactor is handed each committed group afterwards, asynchronously and in commit order, one
// group at a time per reactor. A slow reactor delays only itself; one that throws or rejects is logged (ERROR
// with its name and the group's sequences) and goes on with the next group. Nothing a reactor does can fail or
// slow an append.

import type { Logger } from 'pino';
import type { StoredRecord } from '../kernel/record.js';

export type ReactorHandler = (records: readonly StoredRecord[]) => void | Promise<void>;

export interface ReactorStats {
  name: string;
  /** Groups handed over and not finished yet. */
  pending: number;
  handled: number;
  failures: number;
  last_error: string | null;
}

interface Reactor {
  name: string;
  handler: ReactorHandler;
  queue: Promise<void>;
  stats: ReactorStats;
}

export class Reactors {
  private readonly list: Reactor[] = [];

  constructor(private readonly logger?: Logger) {}

  add(name: string, handler: ReactorHandler): void {
    if (this.list.some((r) => r.name === name)) throw new Error(`a reactor named ${name} is already registered`);
    this.list.push({ name, handler, queue: Promise.resolve(), stats: { name, pending: 0, handled: 0, failures: 0, last_error: null } });
  }

  /** Queues a committed group for every reactor; returns at once. */
  dispatch(records: readonly StoredRecord[]): void {
    if (records.length === 0) return;
    for (const r of this.list) {
      r.stats.pending += 1;
      r.queue = r.queue
        // After the appends of this group have resolved: a reactor never runs inside the commit path.
        .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
        .then(() => r.handler(records))
        .then(
          () => {
            r.stats.handled += 1;
          },
          (err: unknown) => {
            const error = err instanceof Error ? err.message : String(err);
            r.stats.failures += 1;
            r.stats.last_error = error;
            this.logger?.error(
              { reactor: r.name, first_sequence: records[0]!.sequence, last_sequence: records[records.length - 1]!.sequence, error },
              `reactor ${r.name} failed on records ${records[0]!.sequence}..${records[records.length - 1]!.sequence}: ${error}`,
            );
          },
        )
        .finally(() => {
          r.stats.pending -= 1;
        });
    }
  }

  /** Resolves once every group handed over so far has been handled (at shutdown, before the store closes). */
  async drain(): Promise<void> {
    await Promise.all(this.list.map((r) => r.queue));
  }

  stats(): ReactorStats[] {
    return this.list.map((r) => ({ ...r.stats }));
  }
}
