// Fan-out (SPEC §12): an INTEND whose body has `subtasks` (and `join`: all, any or k_of_n:K; all by default) is
// spread over the fleet. Each subtask becomes a child task (alias SUB-N, its INTEND naming the parent thread and
// its index) dispatched with --on auto, so children go to the least loaded live workers; with no live worker a
// child runs here if this instance has an adapter for it, and otherwise waits in the inbox with a note. Each child's
// verdict follows its task: review or approved → accept, rejected or cancelled → reject, failed → failed (timeout
// when its run timed out). As soon as the join holds — or can no longer hold — the parent is closed: a DO on its
// thread fulfilling the INTEND (topic fanout_joined, result satisfied | unsatisfiable, every child's verdict).
// It runs as a reactor, after commit; a restarted coordinator picks up from the records.

import type { Logger } from 'pino';
import { SplError } from '../kernel/errors.js';
import { mintThreadId } from '../kernel/id.js';
import { validateRecord, type StoredRecord } from '../kernel/record.js';
import type { Fold } from '../engine/fold.js';
import type { Engine } from '../engine/engine.js';
import { TASK_COMMENT, tasksFold, type Task } from '../engine/folds/tasks.js';
import { planTask, taskIntend, type TaskSpec } from '../engine/tasks.js';
import type { RecordLog } from '../store/record-log.js';
import { assignmentsFold } from './remote.js';

export const JOINED_KIND = 'syncropel.fleet.fanout_joined.v1';
export const CHILD_PREFIX = 'SUB';
export const MAX_SUBTASKS = 100;

export type Join = { kind: 'all' } | { kind: 'any' } | { kind: 'k_of_n'; k: number };
export type Verdict = 'accept' | 'reject' | 'failed' | 'timeout' | 'pending';

export interface Subtask {
  title: string;
  brief: string;
  actor?: string;
  domain?: string;
  repo?: string;
}

export interface Fanout {
  thread: string;
  intend: string;
  actor: string;
  join: Join;
  subtasks: Subtask[];
  /** Child task thread per index. */
  children: Map<number, string>;
  joined: string | null;
}

/** `all`, `any`, `k_of_n:K` (1 ≤ K ≤ n), or a refusal naming the problem. */
export function parseJoin(v: unknown, n: number): Join {
  if (v === undefined || v === 'all') return { kind: 'all' };
  if (v === 'any') return { kind: 'any' };
  const m = typeof v === 'string' ? /^k_of_n:(\d+)$/.exec(v) : null;
  const k = m ? Number(m[1]) : NaN;
  if (!m || k < 1 || k > n) throw new SplError('INVALID_RECORD', `body.join must be all, any or k_of_n:K with K from 1 to ${n} (got ${JSON.stringify(v)})`, { field: 'body.join' });
  return { kind: 'k_of_n', k };
}

/** The subtasks of an INTEND's body: strings (the title and brief) or {title, brief?, actor?, domain?, repo?}. */
export function parseSubtasks(v: unknown): Subtask[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_SUBTASKS) throw new SplError('INVALID_RECORD', `body.subtasks must be a list of 1 to ${MAX_SUBTASKS} subtasks`, { field: 'body.subtasks' });
  return v.map((s, i) => {
    if (typeof s === 'string' && s.trim() !== '') return { title: s.trim().split('\n')[0]!.slice(0, 200), brief: s };
    const o = s as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.title !== 'string' || o.title.trim() === '') {
      throw new SplError('INVALID_RECORD', `body.subtasks[${i}] must be a text or an object with a title`, { field: `body.subtasks[${i}]` });
    }
    const opt = (k: string): Record<string, string> => (typeof o[k] === 'string' && o[k] !== '' ? { [k]: o[k] as string } : {});
    return { title: o.title.trim(), brief: typeof o.brief === 'string' && o.brief !== '' ? o.brief : o.title, ...opt('actor'), ...opt('domain'), ...opt('repo') };
  });
}

/** Checks a fan-out INTEND at the HTTP edge, so a mistake is a 400 and not a fan-out that never starts. */
export function checkFanoutDraft(d: { act: string; thread: string; body: Record<string, unknown> }, state: () => FanoutsState): void {
  if (d.act !== 'INTEND' || d.body.subtasks === undefined) return;
  parseJoin(d.body.join, parseSubtasks(d.body.subtasks).length);
  if (state().byParent.has(d.thread)) {
    throw new SplError('ALREADY_EXISTS', `${d.thread} already has a fan-out (one per thread)`, { field: 'body.subtasks', fix: 'send the INTEND without thread to open a new one' });
  }
}

export interface FanoutsState {
  byParent: Map<string, Fanout>;
  /** Child task thread → parent thread. */
  parentOf: Map<string, string>;
}

export const fanoutsFold: Fold<FanoutsState> = {
  name: 'fanouts',
  init: () => ({ byParent: new Map(), parentOf: new Map() }),
  apply(state, r) {
    if (r.act === 'INTEND' && r.body.subtasks !== undefined && !state.byParent.has(r.thread)) {
      try {
        const subtasks = parseSubtasks(r.body.subtasks);
        state.byParent.set(r.thread, { thread: r.thread, intend: r.id, actor: r.actor, join: parseJoin(r.body.join, subtasks.length), subtasks, children: new Map(), joined: null });
      } catch {
        // Not a fan-out this instance can run (written before the edge checked it); nothing to spread.
      }
      return state;
    }
    const link = r.body.fanout as { parent?: unknown; index?: unknown } | undefined;
    if (r.act === 'INTEND' && r.body.task === true && link && typeof link.parent === 'string' && typeof link.index === 'number') {
      const f = state.byParent.get(link.parent);
      if (f) {
        f.children.set(link.index, r.thread);
        state.parentOf.set(r.thread, f.thread);
      }
    } else if (r.body.kind === JOINED_KIND) {
      const f = state.byParent.get(r.thread);
      if (f) f.joined = String(r.body.result ?? 'satisfied');
    }
    return state;
  },
};

/** A child's verdict from its task. */
export function verdictOf(t: Task | undefined): Verdict {
  if (!t) return 'pending';
  if (t.status === 'review' || t.status === 'approved') return 'accept';
  if (t.status === 'rejected' || t.status === 'cancelled') return 'reject';
  if (t.status === 'failed') return /timeout|deadline/.test(t.attempts.at(-1)?.failure_reason ?? '') ? 'timeout' : 'failed';
  return 'pending';
}

/** satisfied, unsatisfiable, or null while it can still go either way. */
export function joinOutcome(join: Join, verdicts: readonly Verdict[]): 'satisfied' | 'unsatisfiable' | null {
  const n = verdicts.length;
  const accepted = verdicts.filter((v) => v === 'accept').length;
  const pending = verdicts.filter((v) => v === 'pending').length;
  const need = join.kind === 'all' ? n : join.kind === 'any' ? 1 : join.k;
  if (accepted >= need) return 'satisfied';
  if (accepted + pending < need) return 'unsatisfiable';
  return null;
}

export interface FanoutOptions {
  did: string;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  writeContent(front: { alias: string; thread: string; title: string }, brief: string): { path: string; sha256: string; bytes: number };
  /** --on auto; throws when no live worker can take it. */
  assignRemote(alias: string, by: string, request: { actor?: string; repo?: string }): Promise<{ worker: string }>;
  /** Here, when no worker can take it. */
  dispatchLocal(alias: string, by: string, request: { actor?: string }): Promise<unknown>;
}

export class FanoutService {
  readonly name = 'fleet-fanout';
  private readonly log: Logger;

  /** The reactor and start-up take turns: one fan-out step at a time, never two creating the same child. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: FanoutOptions) {
    this.log = o.logger.child({ target: 'syncropel_fleet::fanout' });
    // Nothing to do (and no queue to join) on an instance without fan-outs: most commits, on most instances.
    o.engine.react('fleet-fanout', (records) => (this.fanouts().size === 0 ? undefined : this.serially(() => this.react(records))));
  }

  private serially(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * After a restart: spread what was not spread, dispatch children created but never dispatched (the instance
   * stopped in between), join what is ready.
   */
  async start(): Promise<void> {
    await this.serially(async () => {
      const tasks = this.o.engine.state(tasksFold).byThread;
      const assigned = this.o.engine.state(assignmentsFold).byThread;
      for (const f of [...this.fanouts().values()]) {
        if (f.joined !== null) continue;
        for (const [i, thread] of f.children) {
          const t = tasks.get(thread);
          if (t && t.status === 'inbox' && !assigned.has(thread) && t.attempts.length === 0) await this.dispatch(f, t.alias, thread, f.subtasks[i]!);
        }
        await this.spread(f);
        await this.join(f);
      }
    });
  }

  /** Nothing of its own to stop: its reactor's pending work is finished by the engine's drain at shutdown. */
  stop(): void {}

  private fanouts(): Map<string, Fanout> {
    return this.o.engine.state(fanoutsFold).byParent;
  }

  private async react(records: readonly StoredRecord[]): Promise<void> {
    const { byParent: fanouts, parentOf } = this.o.engine.state(fanoutsFold);
    const touched = new Set<string>();
    for (const r of records) {
      if (r.act === 'INTEND' && fanouts.has(r.thread)) touched.add(r.thread);
      const parent = parentOf.get(r.thread);
      if (parent) touched.add(parent);
    }
    for (const p of touched) {
      const f = fanouts.get(p);
      if (!f || f.joined !== null) continue;
      await this.spread(f);
      await this.join(f);
    }
  }

  /** Creates and dispatches the children not created yet, one at a time (so --on auto spreads them). */
  private async spread(f: Fanout): Promise<void> {
    for (const [i, sub] of f.subtasks.entries()) {
      if (f.children.has(i)) continue;
      const spec: TaskSpec = { title: sub.title, brief: sub.brief, prefix: CHILD_PREFIX, ...(sub.domain ? { domain: sub.domain } : {}), ...(sub.repo ? { repo: sub.repo } : {}) };
      const { alias } = planTask(this.o.engine.state(tasksFold), spec);
      const thread = mintThreadId(f.actor, JSON.stringify({ alias, parent: f.thread, index: i }));
      const content = this.o.writeContent({ alias, thread, title: sub.title }, sub.brief);
      const draft = taskIntend(thread, f.actor, alias, spec, content);
      await this.o.log.append([validateRecord({ ...draft, body: { ...draft.body, fanout: { parent: f.thread, index: i } } })]);
      await this.dispatch(f, alias, thread, sub);
    }
  }

  private async dispatch(f: Fanout, alias: string, thread: string, sub: Subtask): Promise<void> {
    const req = { ...(sub.actor ? { actor: sub.actor } : {}), ...(sub.repo ? { repo: sub.repo } : {}) };
    try {
      const { worker } = await this.o.assignRemote(alias, f.actor, req);
      this.log.info({ alias, actor: worker, thread: f.thread }, `fan-out of ${f.thread}: ${alias} dispatched to ${worker}`);
      return;
    } catch (remoteErr) {
      try {
        await this.o.dispatchLocal(alias, f.actor, req);
        this.log.info({ alias, thread: f.thread }, `fan-out of ${f.thread}: ${alias} runs here (${(remoteErr as Error).message})`);
      } catch (err) {
        const text = `fan-out child not dispatched: no worker took it (${(remoteErr as Error).message}) and it cannot run here (${(err as Error).message}); dispatch it with spl task dispatch ${alias}`;
        this.log.warn({ alias, thread: f.thread }, `${alias}: ${text}`);
        await this.o.log.append([validateRecord({ thread, actor: this.o.did, act: 'KNOW', body: { topic: TASK_COMMENT, alias, text } })]);
      }
    }
  }

  /** Closes the parent once the join holds or cannot hold any more. */
  private async join(f: Fanout): Promise<void> {
    if (f.children.size < f.subtasks.length) return;
    const tasks = this.o.engine.state(tasksFold).byThread;
    const assigned = this.o.engine.state(assignmentsFold).byThread;
    const children = f.subtasks.map((_, i) => {
      const thread = f.children.get(i)!;
      const t = tasks.get(thread);
      const last = t?.attempts.at(-1);
      return { index: i, thread, alias: t?.alias ?? null, worker: assigned.get(thread)?.worker ?? this.o.did, verdict: verdictOf(t), cost_usd: last?.cost_usd ?? null };
    });
    const result = joinOutcome(f.join, children.map((c) => c.verdict));
    if (result === null) return;
    const join = f.join.kind === 'k_of_n' ? `k_of_n:${f.join.k}` : f.join.kind;
    await this.o.log.append([validateRecord({
      thread: f.thread, actor: this.o.did, act: 'DO', parents: [f.intend],
      body: { kind: JOINED_KIND, topic: 'fanout_joined', fulfills: f.intend, join, result, accepted: children.filter((c) => c.verdict === 'accept').length, children },
    })]);
    this.log[result === 'satisfied' ? 'info' : 'warn']({ thread: f.thread }, `fan-out of ${f.thread} joined (${join}): ${result}; ${children.map((c) => `${c.alias} ${c.verdict}`).join(', ')}`);
  }
}
