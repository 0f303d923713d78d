// Untrusted expressions (POST /v1/engine/expr) run in a worker thread, so an expensive one cannot stall the
// server: the in-process budget stops loops, but between two loop checks one step can still be long, and
// the event loop would be blocked for all of it. Here the server thread keeps answering; a job past its
// deadline has its thread terminated (and a fresh one started for the next job), and resourceLimits caps
// the thread's heap. trust() gives the same answer as in-process: the worker asks, and this thread
// computes the score with the same trust state and time.

import { Worker } from 'node:worker_threads';
import { SplError } from '../kernel/errors.js';
import { UNTRUSTED_BUDGET, type CelBudget } from './cel-limits.js';
import type { CelContext, CelEvalResult } from './cel.js';
import type { SandboxJob, SandboxMessage } from './cel-worker.js';

/** A job still running this long after it started has its thread terminated. */
const SANDBOX_DEADLINE_MS = 500;
/** Heap the evaluation thread may use (old generation, MiB). */
const SANDBOX_HEAP_MB = 64;
/** Jobs waiting for the thread beyond this many are refused. */
const SANDBOX_QUEUE_LIMIT = 32;

interface SandboxRequest {
  context: CelContext;
  source: string;
  /** The context variables and the actor, as plain data. */
  vars: Record<string, unknown> & { actor: string };
  /** What now() answers. */
  nowMs: number;
  trust: (actor: string, domain: string) => number;
}

interface Pending {
  job: SandboxJob;
  trust: SandboxRequest['trust'];
  resolve: (r: CelEvalResult) => void;
  reject: (err: unknown) => void;
}

// Compiled, this file is dist/engine/cel-sandbox.js beside cel-worker.js; run from source it is .ts.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './cel-worker.ts' : './cel-worker.js', import.meta.url);

export class CelSandbox {
  private worker: Worker | undefined;
  /** Whether the thread has loaded and can take a job (its start-up does not count against a job's deadline). */
  private ready = false;
  private readonly shared = new SharedArrayBuffer(16);
  private readonly flag = new Int32Array(this.shared, 0, 1);
  private readonly score = new Float64Array(this.shared, 8, 1);
  private readonly queue: Pending[] = [];
  private current: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  /** Threads terminated because a job ran past its deadline or out of memory. */
  restarts = 0;

  constructor(private readonly opts: { deadlineMs?: number; heapMb?: number; budget?: CelBudget; queueLimit?: number } = {}) {}

  evaluate(req: SandboxRequest): Promise<CelEvalResult> {
    if (this.queue.length >= (this.opts.queueLimit ?? SANDBOX_QUEUE_LIMIT)) {
      return Promise.reject(new SplError('UNAVAILABLE', `${this.queue.length} expressions are already waiting to be evaluated; retry shortly`));
    }
    return new Promise((resolve, reject) => {
      const job: SandboxJob = { id: this.nextId++, context: req.context, source: req.source, vars: req.vars, nowMs: req.nowMs, budget: this.opts.budget ?? UNTRUSTED_BUDGET };
      this.queue.push({ job, trust: req.trust, resolve, reject });
      this.pump();
    });
  }

  /** Stops the thread; waiting jobs fail. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.queue.splice(0)) p.reject(new SplError('UNAVAILABLE', 'the instance is shutting down'));
    if (w) await w.terminate();
  }

  private spawn(): Worker {
    const w = new Worker(WORKER_URL, {
      workerData: { shared: this.shared },
      resourceLimits: { maxOldGenerationSizeMb: this.opts.heapMb ?? SANDBOX_HEAP_MB, maxYoungGenerationSizeMb: 16 },
    });
    w.unref();
    this.ready = false;
    w.on('message', (m: SandboxMessage) => this.onMessage(w, m));
    w.on('error', (err) => this.onDeath(w, err));
    w.on('exit', (code) => this.onDeath(w, new Error(`the evaluation thread exited with code ${code}`)));
    return w;
  }

  private pump(): void {
    if (this.current === undefined) {
      const next = this.queue.shift();
      if (next === undefined) return;
      this.current = next;
    }
    this.worker ??= this.spawn();
    if (!this.ready || this.timer !== undefined) return; // sent once the thread reports ready
    const job = this.current.job;
    const deadline = this.opts.deadlineMs ?? SANDBOX_DEADLINE_MS;
    this.timer = setTimeout(() => {
      this.kill(`evaluation ran past the ${deadline} ms deadline and its thread was stopped (the time budget is ${job.budget.timeMs} ms)`, 'time');
    }, deadline);
    this.worker.postMessage(job);
  }

  private finish(result: CelEvalResult | undefined, err?: unknown): void {
    const p = this.current;
    if (p === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = undefined;
    if (result) p.resolve(result);
    else p.reject(err);
    this.pump();
  }

  private kill(error: string, limit: 'time' | 'memory'): void {
    const w = this.worker;
    this.worker = undefined;
    this.ready = false;
    this.restarts++;
    if (w) {
      w.removeAllListeners();
      w.on('error', () => {}); // a late error from the dying thread
      void w.terminate();
    }
    this.finish({ ok: false, stage: 'evaluate', error, limit });
    // A fresh thread loads while idle, so the next job does not wait for it.
    this.worker ??= this.spawn();
  }

  private onMessage(w: Worker, m: SandboxMessage): void {
    if (w !== this.worker) return;
    if (m.type === 'ready') {
      this.ready = true;
      this.pump();
      return;
    }
    if (m.type === 'trust') {
      let s = Number.NaN;
      try {
        s = this.current ? this.current.trust(m.actor, m.domain) : Number.NaN;
      } catch {
        // NaN: the worker's trust() reports "gave no number"
      }
      this.score[0] = s;
      Atomics.store(this.flag, 0, 1);
      Atomics.notify(this.flag, 0);
      return;
    }
    if (this.current?.job.id === m.id) this.finish(m.result);
  }

  private onDeath(w: Worker, err: Error & { code?: string }): void {
    if (w !== this.worker) return;
    if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      this.kill(`evaluation ran out of memory (the evaluation thread's heap is capped at ${this.opts.heapMb ?? SANDBOX_HEAP_MB} MiB) and its thread was stopped`, 'memory');
      return;
    }
    this.worker = undefined;
    this.ready = false;
    this.restarts++;
    this.finish(undefined, new SplError('INTERNAL', `the expression evaluation thread failed: ${err.message}`, { cause: err }));
  }
}

/** The instance-wide sandbox POST /v1/engine/expr evaluates in. */
export const celSandbox = new CelSandbox();
