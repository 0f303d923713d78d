// Remote dispatch, the coordinator's side (SPEC §12). `spl task dispatch <alias> --on <did|auto>` records an
// assignment (a DO on the task's thread naming the worker) and the task travels to that worker in its next heartbeat
// reply: every record of the task's thread (each checked against its content hash by the worker's store) and the
// content file (checked against the sha256 its record holds). The worker runs it with its own dispatcher and POSTs
// the records of the task's thread and its dispatch sub-threads back here, so `task show` and `task diagnose` on
// the coordinator tell the whole story. A worker that goes stale mid-dispatch leaves the task as it is (active)
// with a `worker_unreachable` note, never failed silently; a note follows when it is back.
//
// Delivery rides on the heartbeat, so it needs no connection from the coordinator to the worker (and no credential
// of the worker's): the worker acknowledges each assignment in its next beat, and one not acknowledged is sent again.

import type { Logger } from 'pino';
import { SplError } from '../kernel/errors.js';
import { validateRecord, type SplRecord, type StoredRecord } from '../kernel/record.js';
import type { Fold } from '../engine/fold.js';
import type { Engine } from '../engine/engine.js';
import { findTask, TASK_COMMENT, tasksFold, type Task } from '../engine/folds/tasks.js';
import { dispatchesFold, dispatchesOf, KIND } from '../dispatch/records.js';
import type { RecordLog } from '../store/record-log.js';
import type { FleetMemberView } from '../kernel/wire.js';

const MINTED_THREAD = /^th_[0-9a-f]{64}$/;

export const ASSIGN_KIND = 'syncropel.fleet.remote_dispatch.v1';
export const REFUSED_KIND = 'syncropel.fleet.remote_dispatch_refused.v1';
/** Most assignments one heartbeat reply carries. */
export const MAX_PER_REPLY = 4;
/** Most records of one task's thread an assignment carries. */
export const MAX_TASK_RECORDS = 1000;

/** What the worker's dispatcher is asked for (the options of spl task dispatch). */
export interface RemoteRequest {
  actor?: string;
  timeout_secs?: number;
  line_timeout_secs?: number;
  budget_usd?: number;
  resume?: boolean;
  force?: boolean;
  repo?: string;
}

export interface Assignment {
  /** The assignment record's id. */
  id: string;
  task_thread: string;
  alias: string;
  worker: string;
  request: RemoteRequest;
  by: string;
  at: string;
  /** Set when the worker refused it. */
  refused: string | null;
}

export interface AssignmentsState {
  /** Per task thread, its latest assignment. */
  byThread: Map<string, Assignment>;
  /** Per worker, the task threads whose latest assignment is to it (a heartbeat looks only at its sender's). */
  byWorker: Map<string, Set<string>>;
}

export const assignmentsFold: Fold<AssignmentsState> = {
  name: 'remote_assignments',
  init: () => ({ byThread: new Map(), byWorker: new Map() }),
  apply(state, r) {
    if (r.body.kind === ASSIGN_KIND && r.act === 'DO' && typeof r.body.worker === 'string') {
      const before = state.byThread.get(r.thread);
      if (before) state.byWorker.get(before.worker)?.delete(r.thread);
      state.byThread.set(r.thread, {
        id: r.id, task_thread: r.thread, alias: String(r.body.alias ?? ''), worker: r.body.worker, by: r.actor, at: r.created_at,
        request: typeof r.body.request === 'object' && r.body.request !== null ? (r.body.request as RemoteRequest) : {}, refused: null,
      });
      let mine = state.byWorker.get(r.body.worker);
      if (!mine) state.byWorker.set(r.body.worker, (mine = new Set()));
      mine.add(r.thread);
    } else if (r.body.kind === REFUSED_KIND) {
      const a = state.byThread.get(r.thread);
      if (a && a.id === r.body.assignment) a.refused = String(r.body.reason ?? 'refused');
    }
    return state;
  },
};

/** One assignment as the heartbeat reply carries it. */
export interface AssignmentWire {
  id: string;
  alias: string;
  task_thread: string;
  request: RemoteRequest;
  records: SplRecord[];
  content: { path: string; text: string; sha256: string } | null;
}

export interface AssignmentAcks {
  accepted: string[];
  rejected: Array<{ id: string; reason: string }>;
}

export interface RemoteDispatchReply {
  object: 'remote_dispatch';
  alias: string;
  task_thread: string;
  worker: string;
  endpoint: string | null;
  assignment: string;
  state: 'assigned';
}

export interface RemoteCoordinatorOptions {
  did: string;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  now: () => number;
  members(): FleetMemberView[];
  /** The content file's text, for the task's content record. */
  contentText(task: Task): string | undefined;
  intervalMs(): number;
  /** Whether this instance's own dispatcher runs or queues the task. */
  localLive(taskThread: string): boolean;
}

export class RemoteCoordinator {
  readonly name = 'fleet-remote-dispatch';
  private readonly acked = new Set<string>();
  /** Assignments whose worker is noted as unreachable. */
  private readonly unreachable = new Set<string>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> = Promise.resolve();

  constructor(private readonly o: RemoteCoordinatorOptions) {
    this.log = o.logger.child({ target: 'syncropel_fleet::dispatch' });
  }

  start(): void {
    this.timer = setInterval(() => {
      this.checking = this.checking.then(() => this.checkWorkers()).catch((err: Error) => this.log.error(`checking remote dispatches failed: ${err.message}`));
    }, this.o.intervalMs());
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.checking;
  }

  private assignments(): Map<string, Assignment> {
    return this.o.engine.state(assignmentsFold).byThread;
  }

  /** Whether the assignment's run has ended (a completion recorded after it) or the worker refused it. */
  finished(a: Assignment): boolean {
    if (a.refused !== null) return true;
    return dispatchesOf(this.o.engine.state(dispatchesFold), a.task_thread).some((d) => d.request.at >= a.at && d.complete !== null);
  }

  /** spl task dispatch --on: records the assignment; the worker gets it with its next heartbeat reply. */
  async assign(ref: string, on: string, by: string, request: RemoteRequest): Promise<RemoteDispatchReply> {
    const task = findTask(this.o.engine.state(tasksFold), ref);
    if (!task) throw new SplError('TASK_NOT_FOUND', `no task ${ref}`, { fix: 'spl task list --all shows the tasks this instance holds' });
    const members = this.o.members();
    this.guardLocal(task, members);
    if (this.o.localLive(task.thread)) throw new SplError('DISPATCH_ACTIVE', `${task.alias} already runs here`, { fix: `spl task interrupt ${task.alias} first, or let it finish` });
    if (task.content && this.o.contentText(task) === undefined) {
      throw new SplError('TASK_STATE', `${task.alias}'s content file cannot be read, so it cannot be sent`, { fix: `spl task show ${task.alias} shows the content check` });
    }
    const worker = pickWorker(members, on, this.load());
    const [out] = await this.o.log.append([validateRecord({
      thread: task.thread, actor: by, act: 'DO',
      body: { kind: ASSIGN_KIND, topic: 'remote_dispatch', alias: task.alias, worker: worker.did, endpoint: worker.endpoint, request: request as Record<string, unknown> },
    })]);
    this.log.info({ alias: task.alias, actor: worker.did }, `${task.alias} dispatched to ${worker.did} (${worker.endpoint ?? 'no endpoint'}); it goes out with that worker's next heartbeat`);
    return { object: 'remote_dispatch', alias: task.alias, task_thread: task.thread, worker: worker.did, endpoint: worker.endpoint, assignment: out!.record.id, state: 'assigned' };
  }

  /** One run of a task at a time: a new dispatch (here or elsewhere) is refused while a live worker runs it. */
  guardLocal(task: Task, members: FleetMemberView[] = this.o.members()): void {
    const prior = this.assignments().get(task.thread);
    if (!prior || prior.worker === this.o.did || this.finished(prior)) return;
    if (members.find((m) => m.did === prior.worker)?.status !== 'live') return;
    throw new SplError('DISPATCH_ACTIVE', `${task.alias} is dispatched to ${prior.worker}, which is live, and its run has not finished`, { fix: `spl task show ${task.alias} follows it` });
  }

  /** Unfinished assignments per worker (what `auto` adds to a worker's active dispatches). */
  private load(): Map<string, number> {
    const out = new Map<string, number>();
    for (const a of this.assignments().values()) if (!this.finished(a) && !this.acked.has(a.id)) out.set(a.worker, (out.get(a.worker) ?? 0) + 1);
    return out;
  }

  /** A heartbeat from `did`: takes its acknowledgements, and answers with the assignments it has not acknowledged. */
  async exchange(did: string, acks: AssignmentAcks): Promise<AssignmentWire[]> {
    const { byThread, byWorker } = this.o.engine.state(assignmentsFold);
    // Only its own assignments: one worker cannot acknowledge (and so withhold) another's.
    const mine = new Set([...(byWorker.get(did) ?? [])].map((t) => byThread.get(t)?.id));
    for (const id of acks.accepted) if (mine.has(id)) this.acked.add(id);
    for (const r of acks.rejected) if (mine.has(r.id)) await this.refused(did, r.id, r.reason);
    const out: AssignmentWire[] = [];
    for (const thread of byWorker.get(did) ?? []) {
      const a = byThread.get(thread)!;
      if (this.acked.has(a.id) || this.finished(a)) continue;
      out.push(await this.wire(a));
      // A few per reply keep it small (the freezes travel in it too); the rest go with the next beats.
      if (out.length >= MAX_PER_REPLY) break;
    }
    return out;
  }

  private async wire(a: Assignment): Promise<AssignmentWire> {
    const records = await this.o.log.list({ thread: a.task_thread, afterSequence: 0, limit: MAX_TASK_RECORDS });
    const task = this.o.engine.state(tasksFold).byThread.get(a.task_thread);
    const text = task?.content ? this.o.contentText(task) : undefined;
    return {
      id: a.id, alias: a.alias, task_thread: a.task_thread, request: a.request, records: records.map(envelope),
      content: task?.content && text !== undefined ? { path: task.content.path, text, sha256: task.content.sha256 } : null,
    };
  }

  private async refused(did: string, id: string, reason: string): Promise<void> {
    const a = [...this.assignments().values()].find((x) => x.id === id && x.worker === did);
    if (!a || a.refused !== null) return;
    this.log.warn({ alias: a.alias, actor: did }, `${did} refused the dispatch of ${a.alias}: ${reason}`);
    await this.o.log.append([validateRecord({ thread: a.task_thread, actor: this.o.did, act: 'KNOW', body: { kind: REFUSED_KIND, topic: TASK_COMMENT, alias: a.alias, assignment: id, worker: did, reason, text: `remote dispatch to ${did} refused: ${reason}` } })]);
  }

  /** A worker gone stale mid-dispatch: the task stays as it is, with a note (and another when the worker is back). */
  private async checkWorkers(): Promise<void> {
    const members = new Map(this.o.members().map((m) => [m.did, m]));
    for (const a of this.assignments().values()) {
      if (this.finished(a)) continue;
      const m = members.get(a.worker);
      const gone = m === undefined || m.status !== 'live';
      if (gone === this.unreachable.has(a.id)) continue;
      if (gone) this.unreachable.add(a.id);
      else this.unreachable.delete(a.id);
      const status = m?.status ?? 'unknown';
      const text = gone
        ? `worker_unreachable: ${a.worker} is ${status} (last heartbeat ${m?.last_heartbeat ?? 'never'}); ${a.alias} stays as it is until the worker reports back, or dispatch it again with --on auto --resume`
        : `worker ${a.worker} is live again; its records of ${a.alias} follow`;
      this.log.warn({ alias: a.alias, actor: a.worker }, `${a.alias}: ${text}`);
      await this.o.log.append([validateRecord({ thread: a.task_thread, actor: this.o.did, act: 'KNOW', body: { topic: TASK_COMMENT, alias: a.alias, note: gone ? 'worker_unreachable' : 'worker_reachable', worker: a.worker, text } })]);
    }
  }

  /**
   * Records a worker POSTs back: only on the threads of tasks assigned to it, and their dispatch sub-threads.
   * Each is stored as it is (its id checked against its content); one already stored is not stored twice.
   */
  async accept(did: string, records: unknown[]): Promise<{ created: number; existing: number }> {
    const assigned = this.o.engine.state(assignmentsFold).byWorker.get(did) ?? new Set<string>();
    const subs = new Set<string>();
    const drafts = records.map((r, i) => {
      const d = validateRecord(r, `records[${i}].`);
      if (d.id === undefined || d.clock === undefined) throw new SplError('INVALID_REQUEST', `records[${i}]: a forwarded record carries its id and clock`, { field: `records[${i}]` });
      // A dispatch sub-thread is one its own dispatch request on an assigned task names (and a minted one).
      if (d.actor === did && assigned.has(d.thread) && d.body.kind === KIND.request && typeof d.body.sub_thread === 'string' && MINTED_THREAD.test(d.body.sub_thread)) subs.add(d.body.sub_thread);
      return d;
    });
    const state = this.o.engine.state(dispatchesFold);
    const bySub = state.bySub;
    for (const [i, d] of drafts.entries()) {
      // A worker forwards what it wrote: as itself, or as the adapter its own dispatch request on that task named.
      const task = assigned.has(d.thread) ? d.thread : bySub.get(d.thread)?.task_thread;
      if (d.actor !== did && !(task !== undefined && ownActors(did, dispatchesOf(state, task), drafts).has(d.actor))) {
        throw new SplError('PERMISSION_DENIED', `records[${i}]: ${did} forwards only records it wrote (as itself or its dispatches' adapters), not ${d.actor}'s`, { field: `records[${i}].actor` });
      }
    }
    for (const d of drafts) {
      const sub = bySub.get(d.thread);
      const ok = assigned.has(d.thread) || subs.has(d.thread) || (sub !== undefined && sub.request.actor === did && assigned.has(sub.task_thread));
      if (!ok) throw new SplError('PERMISSION_DENIED', `${did} may forward records only of tasks dispatched to it; ${d.thread} is not one`, { field: 'records' });
    }
    const outcomes = drafts.length ? await this.o.log.append(drafts) : [];
    const created = outcomes.filter((x) => x.created).length;
    return { created, existing: outcomes.length - created };
  }
}

/** Who writes on a task's threads on the worker `did`: itself, and the adapters its own dispatch requests name. */
export function ownActors(did: string, dispatches: ReadonlyArray<{ request: Record<string, unknown> }>, batch: ReadonlyArray<{ actor: string; body: Record<string, unknown> }> = []): Set<string> {
  const out = new Set([did]);
  for (const d of dispatches) if (d.request.actor === did && typeof d.request.adapter === 'string') out.add(d.request.adapter);
  for (const r of batch) if (r.actor === did && r.body.kind === KIND.request && typeof r.body.adapter === 'string') out.add(r.body.adapter);
  return out;
}

/** The stored record without what this store added (its sequence and commit time). */
function envelope(r: StoredRecord): SplRecord {
  const { sequence: _s, created_at: _c, ...rest } = r;
  return rest;
}

/** `--on <did>`: that member, if it is a live worker; `--on auto`: the least loaded live worker not in the critical memory band. */
export function pickWorker(members: FleetMemberView[], on: string, pending: Map<string, number>): FleetMemberView {
  const workers = members.filter((m) => !m.coordinator);
  if (on === 'auto') {
    const ok = workers.filter((m) => m.status === 'live' && m.memory_band !== 'critical');
    if (ok.length === 0) {
      throw new SplError('UNAVAILABLE', `no live worker to dispatch to (${workers.length} known: ${workers.map((m) => `${m.did} ${m.status}${m.memory_band === 'critical' ? ' critical memory' : ''}`).join(', ') || 'none'})`, { fix: 'spl fleet list shows the workers; dispatch here without --on' });
    }
    const load = (m: FleetMemberView): number => m.active_dispatches + (pending.get(m.did) ?? 0);
    return ok.sort((a, b) => load(a) - load(b) || a.did.localeCompare(b.did))[0]!;
  }
  const m = members.find((x) => x.did === on);
  if (!m) throw new SplError('NOT_FOUND', `${on} is not in this coordinator's registry`, { fix: 'spl fleet list shows the instances it knows; --on auto picks one' });
  if (m.coordinator) throw new SplError('USAGE', `${on} is this instance`, { fix: 'dispatch without --on to run it here' });
  if (m.status !== 'live') throw new SplError('UNAVAILABLE', `${on} is ${m.status} (last heartbeat ${m.last_heartbeat})`, { fix: '--on auto picks a live worker' });
  return m;
}
