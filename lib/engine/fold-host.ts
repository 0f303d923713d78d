// FoldHost: owns every fold's state. Rebuilds all folds from the store in one scan on start-up
// (rebuild_from_store) and applies each committed group after COMMIT, in commit order.
//
// A fold that throws must not take the commit path down: the records are committed whatever a fold makes of
// them, so the appends resolve and the daemon keeps serving. The fold is marked broken — an ERROR names the fold,
// the record and the error, /health and spl doctor report it — and it goes on applying the records after that
// one (its state lacks what the throwing record would have added). A rebuild meets the same record again and
// reports it again: nothing is skipped silently and nothing crash-loops.

import type { Logger } from 'pino';
import type { StoredRecord } from '../kernel/record.js';
import type { FoldFault, FoldHealth } from '../kernel/wire.js';
import type { RecordLog } from '../store/record-log.js';
import type { CheckpointPayload } from './fold-checkpoint.js';
import type { Fold } from './fold.js';

interface RebuildResult {
  records: number;
  durationMs: number;
}

/** The faults kept per fold (the first ones, and a count of all). */
const FAULTS_KEPT = 10;

export class FoldHost {
  private readonly states = new Map<Fold<unknown>, unknown>();
  private readonly faults = new Map<Fold<unknown>, { count: number; first: FoldFault[] }>();
  private lastSequence = 0;
  private lastId = '';
  private firstId = '';

  constructor(
    readonly folds: ReadonlyArray<Fold<unknown>>,
    private readonly logger?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    const names = new Set<string>();
    for (const f of folds) {
      if (names.has(f.name)) throw new Error(`two folds are named ${f.name}; fold names must be unique`);
      names.add(f.name);
      this.states.set(f, f.init());
    }
  }

  /** Re-derives every fold from scratch by scanning the store once, in sequence order. */
  async rebuild(log: RecordLog, now: () => number = this.now): Promise<RebuildResult> {
    const started = now();
    for (const f of this.folds) this.states.set(f, f.init());
    this.faults.clear();
    this.lastSequence = 0;
    this.lastId = this.firstId = '';
    const records = await log.scan(0, (r) => this.applyOne(r));
    return { records, durationMs: now() - started };
  }

  /**
   * Takes every fold's state from a checkpoint covering records 1..sequence, then folds in the records after it
   * (the tail). The caller has checked that the checkpoint belongs to these folds and this store.
   */
  async resume(log: RecordLog, from: { payload: CheckpointPayload; sequence: number; record: string; first: string }, now: () => number = this.now): Promise<RebuildResult> {
    const started = now();
    for (const f of this.folds) {
      if (!(f.name in from.payload.states)) throw new Error(`the checkpoint lacks fold ${f.name}`);
    }
    for (const f of this.folds) this.states.set(f, from.payload.states[f.name]);
    this.faults.clear();
    for (const f of this.folds) {
      const e = from.payload.faults[f.name];
      if (e) this.faults.set(f, e);
    }
    this.lastSequence = from.sequence;
    this.lastId = from.record;
    this.firstId = from.first;
    const records = await log.scan(from.sequence, (r) => this.applyOne(r));
    return { records, durationMs: now() - started };
  }

  /** Everything a checkpoint holds, taken in one synchronous step so it is exactly the state at `sequence`. */
  checkpoint(): { payload: CheckpointPayload; sequence: number; record: string; first: string } {
    const states: Record<string, unknown> = {};
    for (const f of this.folds) states[f.name] = this.states.get(f);
    const faults: CheckpointPayload['faults'] = {};
    for (const [f, e] of this.faults) faults[f.name] = e;
    return { payload: { states, faults }, sequence: this.lastSequence, record: this.lastId, first: this.firstId };
  }

  /** Applies records committed after the last one seen (older ones are already folded in). */
  apply(records: Iterable<StoredRecord>): void {
    for (const r of records) if (r.sequence > this.lastSequence) this.applyOne(r);
  }

  private applyOne(r: StoredRecord): void {
    for (const f of this.folds) {
      try {
        this.states.set(f, f.apply(this.states.get(f), r));
      } catch (err) {
        this.fault(f, r, err);
      }
    }
    if (r.sequence === 1) this.firstId = r.id;
    this.lastSequence = r.sequence;
    this.lastId = r.id;
  }

  private fault(f: Fold<unknown>, r: StoredRecord, err: unknown): void {
    const error = err instanceof Error ? err.message : String(err);
    const entry = this.faults.get(f) ?? { count: 0, first: [] };
    entry.count += 1;
    const fault: FoldFault = { fold: f.name, record: r.id, sequence: r.sequence, error, at: new Date(this.now()).toISOString() };
    if (entry.first.length < FAULTS_KEPT) entry.first.push(fault);
    this.faults.set(f, entry);
    this.logger?.error(
      { fold: f.name, record: r.id, sequence: r.sequence, thread: r.thread, error, faults: entry.count },
      `fold ${f.name} failed on record ${r.id} (sequence ${r.sequence}): ${error}; the record is committed, the fold's state lacks it`,
    );
  }

  /** Folds that threw on a record since the last rebuild, with the first faults each. */
  broken(): FoldHealth[] {
    return [...this.faults].map(([f, e]) => ({ fold: f.name, faults: e.count, first: e.first }));
  }

  state<S>(fold: Fold<S>): S {
    if (!this.states.has(fold as Fold<unknown>)) throw new Error(`fold ${fold.name} is not hosted here`);
    return this.states.get(fold as Fold<unknown>) as S;
  }

  /** Each fold's size: the entries its state holds (its maps, sets and lists, counted one level down). */
  sizes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [fold, state] of this.states) out[fold.name] = entriesOf(state, 1);
    return out;
  }

  get sequence(): number {
    return this.lastSequence;
  }
}

/** Entries of a fold's state: a map's, set's or list's size; an object's collections summed (depth levels down). */
function entriesOf(v: unknown, depth: number): number {
  if (v instanceof Map || v instanceof Set) return v.size;
  if (Array.isArray(v)) return v.length;
  if (depth === 0 || typeof v !== 'object' || v === null) return 0;
  let n = 0;
  for (const x of Object.values(v)) n += entriesOf(x, depth - 1);
  return n;
}
