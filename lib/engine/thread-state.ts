// Thread state: a pure reducer over one thread's records in store order.
// Status: `cancelled` once a record cancels the thread's opening INTEND, `fulfilled` once every INTEND on the
// thread is fulfilled (by a record whose body.fulfills names it), otherwise `open`.

import type { StoredRecord } from '../kernel/record.js';

export interface ThreadState {
  thread: string;
  records: number;
  participants: string[];
  actor_clocks: Record<string, number>;
  status: 'open' | 'fulfilled' | 'cancelled';
  first_sequence: number | null;
  last_sequence: number | null;
  opened_by: string | null;
  intents: number;
  fulfilled: number;
}

export function emptyThreadState(thread: string): ThreadState {
  return {
    thread, records: 0, participants: [], actor_clocks: {}, status: 'open', first_sequence: null, last_sequence: null,
    opened_by: null, intents: 0, fulfilled: 0,
  };
}

interface Work {
  state: ThreadState;
  intents: Set<string>;
  fulfilled: Set<string>;
  opening: string | null;
  cancelled: boolean;
}

export function reduceThread(thread: string, records: Iterable<StoredRecord>): ThreadState {
  const w: Work = { state: emptyThreadState(thread), intents: new Set(), fulfilled: new Set(), opening: null, cancelled: false };
  for (const r of records) applyRecord(w, r);
  return finish(w);
}

function applyRecord(w: Work, r: StoredRecord): void {
  const s = w.state;
  s.records++;
  if (s.first_sequence === null) {
    s.first_sequence = r.sequence;
    s.opened_by = r.actor;
  }
  s.last_sequence = r.sequence;
  if (!(r.actor in s.actor_clocks)) s.participants.push(r.actor);
  s.actor_clocks[r.actor] = Math.max(s.actor_clocks[r.actor] ?? -1, r.clock);
  if (r.act === 'INTEND') {
    w.intents.add(r.id);
    if (w.opening === null) w.opening = r.id;
  }
  const fulfills = r.body.fulfills;
  if (typeof fulfills === 'string') w.fulfilled.add(fulfills);
  const cancels = r.body.cancels;
  if (typeof cancels === 'string' && cancels === w.opening) w.cancelled = true;
  if (cancels === true) w.cancelled = true;
}

function finish(w: Work): ThreadState {
  const s = w.state;
  s.intents = w.intents.size;
  s.fulfilled = [...w.intents].filter((id) => w.fulfilled.has(id)).length;
  s.status = w.cancelled ? 'cancelled' : s.intents > 0 && s.fulfilled === s.intents ? 'fulfilled' : 'open';
  return s;
}
