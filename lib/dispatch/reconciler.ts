// The reconciler (SPEC §11, upstream's RECONCILE loop, cheapest first): routes each INTEND `spl run` files —
// `body.to` when given, else the first matching routing rule by priority (its `target`), else the highest-trust
// actor with an adapter in the task's domain (the only adapter, when the task has no domain), else nothing is
// dispatched — and dispatches it. One INFO line per decision (target syncropel_engine::reconciler) names the rule
// or the reason, and a record on the task's thread (task_routed / task_not_routed, dispatch_handled) says the same,
// so `spl run` can follow it. It runs as a reactor: after commit, never in the append path.

import type { Logger } from 'pino';
import type { StoredRecord } from '../kernel/record.js';
import { validateRecord } from '../kernel/record.js';
import type { Engine } from '../engine/engine.js';
import { celEngine, type CelBindings } from '../engine/cel.js';
import { engineConfigFold, rulesOf } from '../engine/folds/engine-config.js';
import { findTask, tasksFold, TASK_NOT_ROUTED, TASK_ROUTED, type Task } from '../engine/folds/tasks.js';
import { trustFold, trustScore } from '../engine/folds/trust.js';
import { taskLookupAt } from '../engine/tasks.js';
import type { RecordLog } from '../store/record-log.js';
import { adaptersFold } from './adapters.js';
import type { Dispatcher } from './dispatcher.js';

interface Decision {
  target: string | null;
  via: string;
  reason: string;
}

interface ReconcilerOptions {
  did: string;
  log: RecordLog;
  engine: Engine;
  dispatcher: Pick<Dispatcher, 'request'>;
  logger: Logger;
  now: () => number;
}

/** Whether the reconciler takes a record: an INTEND spl run filed, not yet handled, not the instance's own. */
function routable(r: StoredRecord, did: string): boolean {
  return r.act === 'INTEND' && r.body.run === true && r.body.task === true && r.body.dispatch_handled !== true && r.body.fulfills === undefined && r.body.cancels === undefined && r.actor !== did && !r.actor.startsWith('did:sync:system:');
}

export class Reconciler {
  readonly name = 'reconciler';
  private readonly log: Logger;
  private active = false;

  constructor(private readonly o: ReconcilerOptions) {
    this.log = o.logger.child({ target: 'syncropel_engine::reconciler' });
    o.engine.react('reconciler', (records) => this.react(records));
  }

  /** Runs filed while no reconciler ran (the instance stopped between the INTEND and its routing) are routed now. */
  async start(): Promise<void> {
    this.active = true;
    for (const task of this.o.engine.state(tasksFold).byThread.values()) {
      if (!task.run || task.routing !== null || task.status !== 'inbox') continue;
      const intend = await this.o.log.get(task.record);
      if (intend && routable(intend, this.o.did)) await this.route(task, intend);
    }
  }

  stop(): void {
    this.active = false;
  }

  private async react(records: readonly StoredRecord[]): Promise<void> {
    if (!this.active) return;
    for (const r of records) {
      if (!routable(r, this.o.did)) continue;
      const task = findTask(this.o.engine.state(tasksFold), r.thread);
      if (task && task.routing === null) await this.route(task, r);
    }
  }

  /** The cascade: body.to, routing rules by priority, the highest-trust actor with an adapter, else nothing. */
  decide(task: Task, r: StoredRecord): Decision {
    const adapters = this.o.engine.state(adaptersFold);
    if (typeof r.body.to === 'string') return { target: r.body.to, via: 'body.to', reason: `body.to names ${r.body.to}` };
    const at = this.o.now();
    const trust = this.o.engine.state(trustFold);
    const bindings = { actor: r.actor, record: r, trust: (a: string, d: string) => trustScore(trust, a, d, at), now: () => at, tasks: taskLookupAt(this.o.engine.state(tasksFold), at), fleet: () => this.o.engine.fleetCel() } as unknown as CelBindings<'routing'>;
    for (const rule of rulesOf(this.o.engine.state(engineConfigFold), 'routing_rule')) {
      if (rule.expression === undefined || typeof rule.body.target !== 'string') continue;
      const res = celEngine.evaluateBool('routing', rule.expression, bindings);
      if (res.ok && res.value) return { target: rule.body.target, via: `rule ${rule.name}`, reason: `routing rule ${rule.name} (priority ${rule.priority}) matched` };
      if (!res.ok) this.log.warn({ rule: rule.name, thread: r.thread }, `routing rule ${rule.name} skipped: ${res.error}`);
    }
    if (adapters.size === 0) return { target: null, via: 'none', reason: 'no body.to, no routing rule matched, and no adapter is configured' };
    const domain = task.domain;
    if (domain === null) {
      if (adapters.size === 1) {
        const only = [...adapters.keys()][0]!;
        return { target: only, via: 'only_adapter', reason: `no domain; ${only} has the only adapter` };
      }
      return { target: null, via: 'none', reason: `no body.to, no routing rule matched, no domain to rank ${adapters.size} adapters by trust (spl run --domain D or --to DID)` };
    }
    const candidates = [...adapters.values()].filter((a) => a.domains.length === 0 || a.domains.includes(domain));
    if (candidates.length === 0) return { target: null, via: 'none', reason: `no adapter takes work in ${domain}` };
    const ranked = candidates.map((a) => ({ did: a.did, score: trustScore(trust, a.did, domain, at) })).sort((x, y) => y.score - x.score || (x.did < y.did ? -1 : 1));
    return { target: ranked[0]!.did, via: 'trust', reason: `highest trust in ${domain}: ${ranked[0]!.did} (${ranked[0]!.score.toFixed(3)}) of ${ranked.length} adapter(s)` };
  }

  private async route(task: Task, r: StoredRecord): Promise<void> {
    let d = this.decide(task, r);
    if (d.target !== null && !this.o.engine.state(adaptersFold).has(d.target)) d = { target: null, via: d.via, reason: `${d.reason}, but ${d.target} has no adapter (spl adapter add ${d.target} --command …)` };
    this.log.info({ thread: task.thread, record: r.id, actor: r.actor }, d.target ? `routed ${task.alias} to ${d.target} via ${d.via}: ${d.reason}` : `${task.alias} not routed, no dispatch: ${d.reason}`);
    await this.o.log.append([validateRecord({
      thread: task.thread, actor: this.o.did, act: 'DO',
      body: { topic: d.target ? TASK_ROUTED : TASK_NOT_ROUTED, alias: task.alias, dispatch_handled: true, target: d.target, via: d.via, reason: d.reason, routes: r.id },
    })]);
    if (d.target === null) return;
    try {
      await this.o.dispatcher.request({
        ref: task.thread, actor: d.target, by: this.o.did,
        ...(typeof r.body.timeout_secs === 'number' ? { timeoutSecs: r.body.timeout_secs } : {}),
      });
    } catch (err) {
      this.log.warn({ thread: task.thread }, `dispatch of ${task.alias} to ${d.target} refused: ${(err as Error).message}`);
      await this.o.log.append([validateRecord({ thread: task.thread, actor: this.o.did, act: 'DO', body: { topic: 'task_failed', alias: task.alias, reason: `dispatch refused: ${(err as Error).message}` } })]).catch(() => undefined);
    }
  }
}
