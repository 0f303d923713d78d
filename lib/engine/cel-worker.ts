// The thread untrusted expressions run in (see cel-sandbox.ts): compiles and evaluates one job at a time
// with the budget it is given. trust() is answered by the main thread, synchronously: this thread posts
// the question and sleeps on a shared word until the answer is written beside it.

import { parentPort, workerData } from 'node:worker_threads';
import { celEngine, type CelBindings, type CelBudget, type CelContext, type CelEvalResult } from './cel.js';

export interface SandboxJob {
  id: number;
  context: CelContext;
  source: string;
  /** The context variables and the actor; functions are rebuilt here. */
  vars: Record<string, unknown> & { actor: string };
  nowMs: number;
  budget: CelBudget;
}

export type SandboxMessage =
  | { type: 'ready' }
  | { type: 'trust'; actor: string; domain: string }
  | { type: 'result'; id: number; result: CelEvalResult };

/** How long to wait for the main thread to answer trust() before failing the call. */
const TRUST_WAIT_MS = 1000;

if (parentPort) {
  const port = parentPort;
  const shared = (workerData as { shared: SharedArrayBuffer }).shared;
  const flag = new Int32Array(shared, 0, 1);
  const score = new Float64Array(shared, 8, 1);

  const trust = (actor: string, domain: string): number => {
    Atomics.store(flag, 0, 0);
    port.postMessage({ type: 'trust', actor, domain } satisfies SandboxMessage);
    if (Atomics.wait(flag, 0, 0, TRUST_WAIT_MS) === 'timed-out') throw new Error(`trust(${JSON.stringify(actor)}, ${JSON.stringify(domain)}) got no answer within ${TRUST_WAIT_MS} ms`);
    return score[0]!;
  };

  port.on('message', (job: SandboxJob) => {
    const bindings = { ...job.vars, trust, now: () => job.nowMs, budget: job.budget } as unknown as CelBindings;
    const result = celEngine.evaluate(job.context, job.source, bindings);
    port.postMessage({ type: 'result', id: job.id, result } satisfies SandboxMessage);
  });
  port.postMessage({ type: 'ready' } satisfies SandboxMessage);
}
