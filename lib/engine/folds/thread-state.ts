// Thread state, derived on demand from the thread's records (the store's (thread, sequence) index): record
// count, participants, actor clocks and status. Nothing per thread is kept in memory, so memory follows the
// working set, not the number of threads ever written. Status: `cancelled` once a record cancels the thread's opening INTEND, `fulfilled` once every INTEND on the
// thread is fulfilled (by a record whose body.fulfills names it), otherwise `open`.

import type { StoredRecord } from '../../kernel/record.js';
import type { Fold } from '../fold.js';

export interface ThreadState {
  thread: string;
  records: number;
  participants: string[];
  actor_clocks: Record<string, number>;
  status: 'open' | 'fulfilled' | 'cancelled';
  first_sequence: number;
  last_sequence: number;
  last_written_at: string;
  opened_by: string;
  intents: number;
  fulfilled: number;
}

interface Work {
  records: number;
  clocks: Map<string, number>;
  first: number;
  last: number;
  lastAt: string;
  openedBy: string;
  opening: string | null;
  intents: Set<string>;
  /** Record ids named by body.fulfills, whether or not they are (yet) INTENDs on this thread. */
  fulfilledIds: Set<string>;
  cancelled: boolean;
}

type ThreadsState = Map<string, Work>;

/** The reducer over one thread's records (or several threads', keyed by thread), in store order. */
export const threadStateFold: Fold<ThreadsState> = {
  name: 'thread_state',
  init: () => new Map(),
  apply(state, r: StoredRecord) {
    let w = state.get(r.thread);
    if (w === undefined) {
      w = { records: 0, clocks: new Map(), first: r.sequence, last: r.sequence, lastAt: r.created_at, openedBy: r.actor, opening: null, intents: new Set(), fulfilledIds: new Set(), cancelled: false };
      state.set(r.thread, w);
    }
    w.records++;
    w.last = r.sequence;
    w.lastAt = r.created_at;
    w.clocks.set(r.actor, Math.max(w.clocks.get(r.actor) ?? -1, r.clock));
    if (r.act === 'INTEND') {
      w.intents.add(r.id);
      w.opening ??= r.id;
    }
    if (typeof r.body.fulfills === 'string') w.fulfilledIds.add(r.body.fulfills);
    const cancels = r.body.cancels;
    if (cancels === true || (typeof cancels === 'string' && cancels === w.opening)) w.cancelled = true;
    return state;
  },
};

export function threadState(state: ThreadsState, thread: string): ThreadState | undefined {
  const w = state.get(thread);
  if (w === undefined) return undefined;
  let fulfilled = 0;
  for (const id of w.intents) if (w.fulfilledIds.has(id)) fulfilled++;
  const intents = w.intents.size;
  return {
    thread,
    records: w.records,
    participants: [...w.clocks.keys()],
    actor_clocks: Object.fromEntries(w.clocks),
    status: w.cancelled ? 'cancelled' : intents > 0 && fulfilled === intents ? 'fulfilled' : 'open',
    first_sequence: w.first,
    last_sequence: w.last,
    last_written_at: w.lastAt,
    opened_by: w.openedBy,
    intents,
    fulfilled,
  };
}

/** A thread's state from its records, read through `scan` (RecordLog.scanThread); undefined when it has none. */
export async function deriveThreadState(scan: (thread: string, onRecord: (r: StoredRecord) => void) => Promise<number>, thread: string): Promise<ThreadState | undefined> {
  const state = threadStateFold.init();
  await scan(thread, (r) => threadStateFold.apply(state, r));
  return threadState(state, thread);
}
