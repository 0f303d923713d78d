// The records a dispatch writes (SPEC §11) and the fold that reads them back. The request is a DO on the task's
// thread naming the dispatch's own sub-thread; everything else is on that sub-thread: spawn, the agent session,
// the subprocess exit (always written once the child is gone; if it is missing, the dispatcher itself died), and
// the completion, which `spl task show` counts as an attempt and `spl task diagnose` reads.

import type { StoredRecord } from '../kernel/record.js';
import type { Fold } from '../engine/fold.js';

export const KIND = {
  request: 'syncropel.dispatch.request.v1',
  spawn: 'syncropel.dispatch.spawn.v1',
  session: 'syncropel.dispatch.session.v1',
  exit: 'syncropel.dispatch.subprocess_exit.v1',
  complete: 'syncropel.dispatch.complete.v1',
} as const;

export const TOPIC = {
  request: 'dispatch_requested',
  spawn: 'subprocess_spawned',
  session: 'agent_session_captured',
  exit: 'subprocess_exited',
  complete: 'dispatch_complete',
} as const;

type Body = Record<string, unknown>;

/** One dispatch as its records tell it. Each part is the body of its record (plus the record's id and time). */
export interface DispatchView {
  sub_thread: string;
  task_thread: string;
  alias: string;
  attempt: number;
  adapter: string;
  request: Body & { record: string; at: string };
  spawn: (Body & { record: string; at: string }) | null;
  session: (Body & { record: string; at: string }) | null;
  exit: (Body & { record: string; at: string }) | null;
  complete: (Body & { record: string; at: string }) | null;
}

export interface DispatchesState {
  bySub: Map<string, DispatchView>;
  /** Sub-threads per task thread, oldest first. */
  byTask: Map<string, string[]>;
}

const part = (r: StoredRecord): Body & { record: string; at: string } => ({ ...r.body, record: r.id, at: r.created_at });

export const dispatchesFold: Fold<DispatchesState> = {
  name: 'dispatches',
  init: () => ({ bySub: new Map(), byTask: new Map() }),
  apply(state, r) {
    const kind = r.body.kind;
    if (typeof kind !== 'string' || !kind.startsWith('syncropel.dispatch.')) return state;
    if (kind === KIND.request) {
      const sub = r.body.sub_thread;
      if (typeof sub !== 'string' || state.bySub.has(sub)) return state;
      state.bySub.set(sub, {
        sub_thread: sub, task_thread: r.thread, alias: String(r.body.alias ?? ''), attempt: Number(r.body.attempt ?? 0), adapter: String(r.body.adapter ?? ''),
        request: { ...part(r), actor: r.actor }, spawn: null, session: null, exit: null, complete: null,
      });
      const list = state.byTask.get(r.thread) ?? [];
      list.push(sub);
      state.byTask.set(r.thread, list);
      return state;
    }
    const d = state.bySub.get(r.thread);
    if (d === undefined) return state;
    if (kind === KIND.spawn && d.spawn === null) d.spawn = part(r);
    else if (kind === KIND.session && d.session === null) d.session = part(r);
    else if (kind === KIND.exit && d.exit === null) d.exit = part(r);
    else if (kind === KIND.complete && d.complete === null) d.complete = part(r);
    return state;
  },
};

/** A task's dispatches, oldest first. */
export function dispatchesOf(state: DispatchesState, taskThread: string): DispatchView[] {
  return (state.byTask.get(taskThread) ?? []).map((s) => state.bySub.get(s)!).filter(Boolean);
}

/** Dispatches with no completion record: running now, queued, or left behind by a dispatcher that died. */
export function unfinished(state: DispatchesState): DispatchView[] {
  return [...state.bySub.values()].filter((d) => d.complete === null);
}
