// A fold is a pure reducer over records in store order: the same records always give the same state.
// The FoldHost rebuilds every fold from the store on start-up and applies each committed record after.

import type { StoredRecord } from '../kernel/record.js';

export interface Fold<S> {
  /** Stable name, used in logs and stats. */
  readonly name: string;
  /**
   * Bumped when what the fold derives changes in a way its init/apply source does not show (a helper it calls);
   * a fold checkpoint from another version is not used. Defaults to 1.
   */
  readonly version?: number;
  /** The state before any record. */
  init(): S;
  /**
   * The state after `record`. May update `state` in place and return it: a fold's state is owned by its
   * host and never shared, so in-place updates are still a pure function of (state, record).
   */
  apply(state: S, record: StoredRecord): S;
}
