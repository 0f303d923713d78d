// The dispatcher (SPEC §11): a service of the instance that runs adapters as worker subprocesses, each in its own
// process group in the task's git worktree, as children of the instance (under systemd they live in the unit's
// cgroup and their exits reach the journal through its log). It runs the memory pre-flight, keeps each adapter
// within max_concurrent (excess waits in order), holds back new workers in the critical memory band unless forced,
// records every step on the dispatch's sub-thread, and moves the task when the run ends: review on success (the
// completion gate applies), failed otherwise. On shutdown it stops its workers and records their exits before the
// store closes; on start-up it marks dispatches a crash left unfinished as failed (dispatcher_restarted).

import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { SplError } from '../kernel/errors.js';
import { mintThreadId } from '../kernel/id.js';
import type { DispatchReply, TaskContentState, TaskDispatchLive } from '../kernel/wire.js';
import type { Engine } from '../engine/engine.js';
import { findTask, tasksFold, type Task } from '../engine/folds/tasks.js';
import type { RecordLog } from '../store/record-log.js';
import { adaptersFold, type Adapter } from './adapters.js';
import { preflight, systemMemory, type MemorySource, type Preflight } from './memory.js';
import { dispatchesFold, dispatchesOf, type DispatchesState, type DispatchView } from './records.js';
import { Run, type RunDeps } from './run.js';
import { planDispatch, type DispatchPlan, type DispatchRequest } from './plan.js';
import { recoverUnfinished } from './recover.js';

export type { DispatchRequest } from './plan.js';

export interface DispatcherOptions {
  did: string;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  /** Reads a task's brief (the content file without its front matter) and where the data directory is. */
  briefOf(task: Task): string | undefined;
  /** Whether a task's content file matches its records. */
  contentOf(task: Task): TaskContentState;
  dataDir: string;
  secretsDir: string;
  now?: () => number;
  memory?: MemorySource;
  /** SIGTERM → SIGKILL, and how long a worker may linger after its result line. Default 5 s. */
  graceMs?: number;
  /** How often waiting dispatches re-check memory in the critical band. Default 5 s. */
  memoryRecheckMs?: number;
  /** The environment workers inherit (the instance's own, scrubbed of systemd's notify variables). */
  env?: NodeJS.ProcessEnv;
  /** Refuses (throws) a new dispatch of a task the fleet's freezes or emergency stop hold back. */
  admit?: (task: Task) => void;
  /** A dispatch another instance runs (its records came from a fleet worker): start-up leaves it alone. */
  foreign?: (d: DispatchView) => boolean;
}

interface Waiting {
  plan: DispatchPlan;
  reason: 'slot' | 'memory';
  since: string;
}

export class Dispatcher {
  readonly name = 'dispatcher';
  private readonly runs = new Map<string, Run>();
  private readonly queue: Waiting[] = [];
  private readonly planning = new Set<string>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly memory: MemorySource;
  private recheck: NodeJS.Timeout | undefined;
  private stopping = false;
  private started!: Promise<void>;
  private markStarted!: () => void;

  constructor(private readonly o: DispatcherOptions) {
    this.log = o.logger.child({ target: 'syncropel_engine::dispatch' });
    this.now = o.now ?? Date.now;
    this.memory = o.memory ?? systemMemory();
    this.started = new Promise((resolve) => (this.markStarted = resolve));
  }

  /** Service start: settle what a crash left unfinished, then take requests. */
  async start(): Promise<void> {
    await recoverUnfinished({ ...this.runDeps(), state: this.dispatches(), ...(this.o.foreign ? { foreign: this.o.foreign } : {}) });
    this.markStarted();
  }

  /** Service stop: nothing new starts; waiting dispatches are ended; running workers are stopped and their exits recorded. */
  async stop(reason: string): Promise<void> {
    this.stopping = true;
    if (this.recheck) clearTimeout(this.recheck);
    for (const w of this.queue.splice(0)) await Run.endUnspawned(this.runDeps(), w.plan, 'interrupted', `the instance stopped (${reason}) before it started`);
    const running = [...this.runs.values()];
    if (running.length > 0) this.log.info({ workers: running.length }, `stopping ${running.length} worker(s): ${reason}`);
    for (const r of running) r.stop('shutdown', `the instance is stopping (${reason})`);
    await Promise.all(running.map((r) => r.finished));
  }

  /** SIGHUP: a new [dispatch] kill_grace_secs applies to workers started from now on. */
  reload(config: { dispatch: { killGraceSecs: number } }): void {
    this.o.graceMs = config.dispatch.killGraceSecs * 1000;
  }

  /** spl task dispatch / POST /v1/dispatch. */
  async request(req: DispatchRequest): Promise<DispatchReply> {
    await this.started;
    if (this.stopping) throw new SplError('UNAVAILABLE', 'the instance is stopping; dispatch again once it is back');
    const task = findTask(this.o.engine.state(tasksFold), req.ref);
    if (!task) throw new SplError('TASK_NOT_FOUND', `no task ${req.ref}`, { fix: 'spl task list --all shows the tasks this instance holds' });
    this.o.admit?.(task);
    const live = this.liveOf(task.thread);
    if (live) {
      throw new SplError('DISPATCH_ACTIVE', `${task.alias} already has a ${live.state} dispatch (sub-thread ${live.sub_thread}${live.pid ? `, pid ${live.pid}` : ''})`, { fix: `spl task interrupt ${task.alias} stops it` });
    }
    // Planning awaits git; a second request for the same task meanwhile is refused, not run twice.
    if (this.planning.has(task.thread)) throw new SplError('DISPATCH_ACTIVE', `${task.alias} is being dispatched by another request right now`, { fix: `spl task show ${task.alias}` });
    this.planning.add(task.thread);
    try {
      return await this.plan(req, task);
    } finally {
      this.planning.delete(task.thread);
    }
  }

  private async plan(req: DispatchRequest, task: Task): Promise<DispatchReply> {
    const plan = await planDispatch(req, task, {
      adapters: this.o.engine.state(adaptersFold), attempts: dispatchesOf(this.dispatches(), task.thread).length,
      briefOf: this.o.briefOf, contentOf: this.o.contentOf, dataDir: this.o.dataDir, mint: (purpose) => mintThreadId(this.o.did, purpose),
    });
    const pf = this.preflight();
    const reason = this.waitReason(plan.adapter, pf, plan.force);
    if (pf.band === 'critical') {
      this.log.warn({ alias: task.alias, forced: plan.force }, plan.force ? `dispatch of ${task.alias}: --force starts it in the critical memory band` : `dispatch of ${task.alias} queued until memory frees (critical band; --force starts it anyway)`);
    }
    await Run.begin(this.runDeps(), plan, pf, reason);
    if (reason === null) this.launch(plan, false);
    else {
      this.queue.push({ plan, reason, since: new Date(this.now()).toISOString() });
      if (reason === 'slot') this.log.info({ alias: task.alias, adapter: plan.adapter.did }, `dispatch of ${task.alias} queued: ${plan.adapter.did} runs ${this.runningFor(plan.adapter.did)} of max_concurrent ${plan.adapter.max_concurrent}`);
      this.armRecheck();
    }
    const now = this.liveOf(task.thread)!;
    return { object: 'dispatch', alias: task.alias, task_thread: task.thread, ...now, preflight: pf, forced: plan.force && pf.band === 'critical', resume: plan.resume, worktree: plan.worktree, branch: plan.branch, notes: plan.notes };
  }

  /** spl task interrupt: stops a running worker (its exit is recorded) or takes a waiting dispatch out of the queue. */
  async interrupt(ref: string, by: string): Promise<{ alias: string; state: 'running' | 'queued'; sub_thread: string; pid: number | null }> {
    const task = findTask(this.o.engine.state(tasksFold), ref);
    if (!task) throw new SplError('TASK_NOT_FOUND', `no task ${ref}`);
    const i = this.queue.findIndex((w) => w.plan.task.thread === task.thread);
    if (i >= 0) {
      const [w] = this.queue.splice(i, 1);
      await Run.endUnspawned(this.runDeps(), w!.plan, 'interrupted', `interrupted by ${by} while queued`);
      return { alias: task.alias, state: 'queued', sub_thread: w!.plan.sub, pid: null };
    }
    const run = [...this.runs.values()].find((r) => r.plan.task.thread === task.thread);
    if (!run) throw new SplError('TASK_STATE', `${task.alias} has no running or queued dispatch`, { fix: `spl task diagnose ${task.alias} shows its last one` });
    run.stop('interrupt', `interrupted by ${by}`);
    return { alias: task.alias, state: 'running', sub_thread: run.plan.sub, pid: run.pid };
  }

  /** The emergency stop: waiting dispatches are ended and running workers stopped, their exits recorded. */
  async interruptAll(why: string): Promise<number> {
    const waiting = this.queue.splice(0);
    for (const w of waiting) await Run.endUnspawned(this.runDeps(), w.plan, 'interrupted', `${why} before it started`);
    const running = [...this.runs.values()];
    if (running.length + waiting.length > 0) this.log.warn({ running: running.length, queued: waiting.length }, `${why}: stopping ${running.length} worker(s), ending ${waiting.length} waiting dispatch(es)`);
    for (const r of running) r.stop('interrupt', why);
    await Promise.all(running.map((r) => r.finished));
    return running.length + waiting.length;
  }

  /** A task's queued or running dispatch, for task show. */
  liveOf(taskThread: string): TaskDispatchLive | null {
    const run = [...this.runs.values()].find((r) => r.plan.task.thread === taskThread);
    if (run) return run.live();
    const i = this.queue.findIndex((w) => w.plan.task.thread === taskThread);
    if (i < 0) return null;
    const w = this.queue[i]!;
    const position = this.queue.slice(0, i + 1).filter((x) => x.reason === 'memory' || x.plan.adapter.did === w.plan.adapter.did).length;
    return { state: 'queued', sub_thread: w.plan.sub, adapter: w.plan.adapter.did, attempt: w.plan.attempt, queued_reason: w.reason, position, pid: null, stream_events: 0, last_event_type: null, since: w.since };
  }

  /** Workers running and waiting per adapter. */
  load(did: string): { running: number; queued: number } {
    return { running: this.runningFor(did), queued: this.queue.filter((w) => w.plan.adapter.did === did).length };
  }

  totals(): { running: number; queued: number } {
    return { running: this.runs.size, queued: this.queue.length };
  }

  private dispatches(): DispatchesState {
    return this.o.engine.state(dispatchesFold);
  }

  private runDeps(): RunDeps {
    return {
      did: this.o.did, log: this.o.log, engine: this.o.engine, logger: this.log, now: this.now, memory: this.memory,
      graceMs: this.o.graceMs ?? 5_000, dataDir: this.o.dataDir, secretsDir: this.o.secretsDir, env: this.o.env ?? process.env,
      readSecret: (name) => readFileSync(`${this.o.secretsDir}/${name}`, 'utf8').trim(),
    };
  }

  private preflight(): Preflight {
    const pf = preflight(this.memory);
    // The runbook's line exactly, with no fields appended (the journal shows them after the message); the reply
    // and the request record carry the band and where the figure came from.
    this.log[pf.level](pf.line);
    return pf;
  }

  private runningFor(did: string): number {
    let n = 0;
    for (const r of this.runs.values()) if (r.plan.adapter.did === did) n++;
    return n;
  }

  /** Why a new dispatch must wait: its adapter is at max_concurrent (or others wait before it), or memory is critical. */
  private waitReason(adapter: Adapter, pf: Preflight, force: boolean): 'slot' | 'memory' | null {
    // In order per adapter: one waiting for a slot goes first; one waiting only for memory does not hold up a forced one.
    if (this.runningFor(adapter.did) >= adapter.max_concurrent || this.queue.some((w) => w.plan.adapter.did === adapter.did && (w.reason === 'slot' || !force))) return 'slot';
    if (pf.band === 'critical' && !force) return 'memory';
    return null;
  }

  private launch(plan: DispatchPlan, fromQueue: boolean): void {
    const pf = fromQueue ? this.preflight() : undefined;
    const run = new Run(this.runDeps(), plan, pf);
    this.runs.set(plan.sub, run);
    void run.finished.then(() => {
      this.runs.delete(plan.sub);
      this.pump();
    });
  }

  /** Starts waiting dispatches, in order, whose adapter has a free slot while memory allows. */
  private pump(): void {
    if (this.stopping) return;
    let memoryOk: boolean | undefined;
    for (let i = 0; i < this.queue.length; i++) {
      const w = this.queue[i]!;
      const ahead = this.queue.slice(0, i).some((x) => x.plan.adapter.did === w.plan.adapter.did && (x.reason === 'slot' || !w.plan.force));
      if (this.runningFor(w.plan.adapter.did) >= w.plan.adapter.max_concurrent) {
        w.reason = 'slot';
        continue;
      }
      if (ahead) continue; // behind an earlier one of its adapter, for the same reason that one waits
      if (!w.plan.force) {
        memoryOk ??= preflight(this.memory).band !== 'critical';
        if (!memoryOk) {
          w.reason = 'memory';
          continue;
        }
      }
      this.queue.splice(i--, 1);
      this.launch(w.plan, true);
    }
    this.armRecheck();
  }

  /** While something waits on memory, look again every few seconds (a slot frees on its own when a run ends). */
  private armRecheck(): void {
    if (this.recheck || this.stopping || !this.queue.some((w) => w.reason === 'memory')) return;
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      this.pump();
    }, this.o.memoryRecheckMs ?? 5_000);
    this.recheck.unref();
  }
}
