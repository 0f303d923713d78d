// Remote dispatch, the worker's side (SPEC §12): takes the assignments its coordinator's heartbeat reply carries,
// stores the task's records as they are (the store checks each id against its content) and its content file
// (checked against the sha256 its record holds), and runs the task with this instance's own dispatcher. Every
// record of such a task's thread and its dispatch sub-threads is then POSTed back to the coordinator, after each
// commit and again until the coordinator has taken it (the coordinator stores a record only once, so sending one
// twice is harmless); after a restart the whole story of every assigned task is sent once more.

import type { Logger } from 'pino';
import { SplError } from '../kernel/errors.js';
import { validateRecord, type StoredRecord } from '../kernel/record.js';
import type { Engine } from '../engine/engine.js';
import { tasksFold } from '../engine/folds/tasks.js';
import type { DispatchRequest } from '../dispatch/plan.js';
import { dispatchesFold, dispatchesOf } from '../dispatch/records.js';
import type { RecordLog } from '../store/record-log.js';
import { assignmentsFold, ownActors, type AssignmentAcks, type AssignmentWire } from './remote.js';

/** Records per POST back to the coordinator. */
const FORWARD_BATCH = 200;

export interface RemoteWorkerOptions {
  did: string;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  dispatch(req: DispatchRequest): Promise<unknown>;
  importContent(path: string, text: string, sha256: string): void;
  /** POSTs to the coordinator (the heartbeat's transport and bearer). */
  post(path: string, body: unknown): Promise<{ status: number; body: unknown }>;
  retryMs: number;
}

export class RemoteWorker {
  readonly name = 'fleet-remote-worker';
  private readonly log: Logger;
  private readonly outcome = new Map<string, { ok: true } | { ok: false; reason: string }>();
  private readonly taking = new Set<string>();
  private readonly dirty = new Set<string>();
  private acks: AssignmentAcks = { accepted: [], rejected: [] };
  private flushing: Promise<void> | null = null;
  private failing = false;
  /** Per thread, the last sequence the coordinator has taken (empty after a restart: everything goes again). */
  private readonly sent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RemoteWorkerOptions) {
    this.log = o.logger.child({ target: 'syncropel_fleet::dispatch' });
    o.engine.react('fleet-forward', (records) => this.committed(records));
  }

  /** After a restart, the records of every task assigned here are sent again. */
  start(): void {
    for (const thread of this.o.engine.state(assignmentsFold).byWorker.get(this.o.did) ?? []) this.dirty.add(thread);
    this.timer = setInterval(() => this.flush(), this.o.retryMs);
    this.timer.unref();
    this.flush();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.flush();
    await this.flushing;
  }

  /** The acknowledgements the next heartbeat carries (each sent once; the coordinator asks again if it is lost). */
  takeAcks(): AssignmentAcks {
    const out = this.acks;
    this.acks = { accepted: [], rejected: [] };
    return out;
  }

  /** The assignments a heartbeat reply carried. */
  async take(list: readonly AssignmentWire[]): Promise<void> {
    for (const a of list) {
      if (typeof a !== 'object' || a === null || typeof a.id !== 'string' || typeof a.task_thread !== 'string' || typeof a.alias !== 'string') continue;
      const done = this.outcome.get(a.id);
      if (done) {
        this.ack(a.id, done);
        continue;
      }
      if (this.taking.has(a.id)) continue;
      this.taking.add(a.id);
      try {
        await this.run(a);
        this.outcome.set(a.id, { ok: true });
      } catch (err) {
        const reason = (err as Error).message;
        this.log.warn({ alias: a.alias }, `remote dispatch of ${a.alias} refused: ${reason}`);
        this.outcome.set(a.id, { ok: false, reason });
      } finally {
        this.taking.delete(a.id);
      }
      this.ack(a.id, this.outcome.get(a.id)!);
    }
  }

  private ack(id: string, o: { ok: true } | { ok: false; reason: string }): void {
    if (o.ok) this.acks.accepted.push(id);
    else this.acks.rejected.push({ id, reason: o.reason });
  }

  private async run(a: AssignmentWire): Promise<void> {
    const tasks = this.o.engine.state(tasksFold);
    const here = tasks.byAlias.get(a.alias);
    if (here !== undefined && here !== a.task_thread) {
      throw new SplError('TASK_STATE', `alias ${a.alias} is taken on this worker by another task (${here})`);
    }
    if (!Array.isArray(a.records) || a.records.length === 0) throw new SplError('INVALID_REQUEST', 'the assignment carries no task records');
    const drafts = a.records.map((r, i) => {
      const d = validateRecord(r, `records[${i}].`);
      if (d.id === undefined || d.clock === undefined) throw new SplError('INVALID_REQUEST', `records[${i}]: a task record carries its id and clock`);
      // The task's own thread and nothing else: an assignment cannot write this instance's configuration.
      if (d.thread !== a.task_thread) throw new SplError('INVALID_REQUEST', `records[${i}] is on ${d.thread}, not the task's thread ${a.task_thread}`);
      return d;
    });
    if (a.content) this.o.importContent(a.content.path, a.content.text, a.content.sha256);
    await this.o.log.append(drafts);
    const task = this.o.engine.state(tasksFold).byThread.get(a.task_thread);
    if (!task) throw new SplError('TASK_STATE', `the records sent for ${a.alias} do not make a task here`);
    if (a.content && task.content?.sha256 !== a.content.sha256) throw new SplError('TASK_STATE', `the content sent for ${a.alias} is not the one its records name`);
    this.dirty.add(a.task_thread);
    const r = a.request;
    this.log.info({ alias: a.alias }, `remote dispatch of ${a.alias} taken from the coordinator`);
    await this.o.dispatch({
      ref: a.task_thread, by: this.o.did,
      ...(r.actor ? { actor: r.actor } : {}), ...(r.timeout_secs ? { timeoutSecs: r.timeout_secs } : {}), ...(r.line_timeout_secs ? { lineTimeoutSecs: r.line_timeout_secs } : {}),
      ...(r.budget_usd ? { budgetUsd: r.budget_usd } : {}), ...(r.repo ? { repo: r.repo } : {}), ...(r.resume ? { resume: true } : {}), ...(r.force ? { force: true } : {}),
    });
  }

  /** Marks the assigned tasks a commit touched (their thread, or one of their dispatch sub-threads). */
  private committed(records: readonly StoredRecord[]): void {
    const mine = this.o.engine.state(assignmentsFold).byWorker.get(this.o.did);
    if (!mine || mine.size === 0) return;
    const bySub = this.o.engine.state(dispatchesFold).bySub;
    let touched = false;
    for (const r of records) {
      const thread = mine.has(r.thread) ? r.thread : bySub.get(r.thread)?.task_thread;
      if (thread !== undefined && mine.has(thread)) {
        this.dirty.add(thread);
        touched = true;
      }
    }
    if (touched) this.flush();
  }

  private flush(): void {
    if (this.flushing !== null || this.dirty.size === 0) return;
    this.flushing = this.send().then((ok) => {
      this.flushing = null;
      // What was committed meanwhile goes at once; after a failure, at the next retry.
      if (ok && this.dirty.size > 0) this.flush();
    });
  }

  private async send(): Promise<boolean> {
    for (const thread of [...this.dirty]) {
      this.dirty.delete(thread);
      try {
        await this.sendTask(thread);
      } catch (err) {
        this.dirty.add(thread);
        if (!this.failing) this.log.warn({ thread }, `records of ${thread} not forwarded to the coordinator yet (retried every ${this.o.retryMs / 1000}s): ${(err as Error).message}`);
        this.failing = true;
        return false;
      }
    }
    if (this.failing) this.log.info('records of remote dispatches reach the coordinator again');
    this.failing = false;
    return true;
  }

  /**
   * What this instance wrote on a task's thread and its dispatch sub-threads (the coordinator holds the rest) since
   * it last sent them, in this store's order and in batches: a completion and the task's move it caused arrive
   * together, so the coordinator never shows the move without the attempt. A batch the coordinator refuses for
   * good (400/403: the task went to another worker) is logged as an ERROR with its size and not sent again;
   * anything else is retried.
   */
  private async sendTask(task: string): Promise<void> {
    for (;;) {
      const state = this.o.engine.state(dispatchesFold);
      const threads = [task, ...(state.byTask.get(task) ?? [])];
      const pages = await Promise.all(threads.map((t) => this.o.log.list({ thread: t, afterSequence: this.sent.get(t) ?? 0, limit: FORWARD_BATCH })));
      const batch = pages.flat().sort((a, b) => a.sequence - b.sequence).slice(0, FORWARD_BATCH);
      if (batch.length === 0) return;
      const mine = ownActors(this.o.did, dispatchesOf(state, task));
      const own = batch.filter((r) => mine.has(r.actor));
      const res = own.length === 0 ? { status: 200, body: undefined } : await this.o.post('/v1/fleet/records', { did: this.o.did, records: own.map(({ sequence: _s, created_at: _c, ...r }) => r) });
      const why = (res.body as { message?: string } | undefined)?.message ?? '';
      if (res.status === 400 || res.status === 403) {
        this.log.error({ thread: task, records: own.length }, `the coordinator refused ${own.length} record(s) of ${task} for good (HTTP ${res.status}: ${why}); they stay in this store only`);
      } else if (res.status >= 300) {
        throw new Error(`HTTP ${res.status}: ${why}`);
      }
      for (const r of batch) if (r.sequence > (this.sent.get(r.thread) ?? 0)) this.sent.set(r.thread, r.sequence);
      if (batch.length < FORWARD_BATCH && pages.every((p) => p.length < FORWARD_BATCH)) return;
    }
  }
}
