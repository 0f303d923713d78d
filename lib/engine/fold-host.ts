// FoldHost: owns every fold's state. Rebuilds all folds from the store in one scan on start-up
// (rebuild_from_store) and applies each committed group after COMMIT, in commit order.

import type { StoredRecord } from '../kernel/record.js';
import type { RecordLog } from '../store/record-log.js';
import type { Fold } from './fold.js';

export interface RebuildResult {
  records: number;
  durationMs: number;
}

export class FoldHost {
  private readonly states = new Map<Fold<unknown>, unknown>();
  private lastSequence = 0;

  constructor(readonly folds: ReadonlyArray<Fold<unknown>>) {
    for (const f of folds) this.states.set(f, f.init());
  }

  /** Re-derives every fold from scratch by scanning the store once, in sequence order. */
  async rebuild(log: RecordLog, now: () => number = Date.now): Promise<RebuildResult> {
    const started = now();
    for (const f of this.folds) this.states.set(f, f.init());
    this.lastSequence = 0;
    const records = await log.scan(0, (r) => this.applyOne(r));
    return { records, durationMs: now() - started };
  }

  /** Applies records committed after the last one seen (older ones are already folded in). */
  apply(records: Iterable<StoredRecord>): void {
    for (const r of records) if (r.sequence > this.lastSequence) this.applyOne(r);
  }

  private applyOne(r: StoredRecord): void {
    for (const f of this.folds) this.states.set(f, f.apply(this.states.get(f), r));
    this.lastSequence = r.sequence;
  }

  state<S>(fold: Fold<S>): S {
    if (!this.states.has(fold as Fold<unknown>)) throw new Error(`fold ${fold.name} is not hosted here`);
    return this.states.get(fold as Fold<unknown>) as S;
  }

  get sequence(): number {
    return this.lastSequence;
  }
}
