// The fleet's part of an instance (SPEC §12): every instance keeps a registry and counts itself in it (it is a
// coordinator once workers beat to it) and can dispatch to its workers; one with `[fleet] coordinator_url` also
// sends heartbeats there, takes the tasks dispatched to it and sends their records back. Freezes and the emergency
// stop are enforced from this instance's own records and what its coordinator carries.

import { readFileSync, writeFileSync } from 'node:fs';
import { SplError } from '../kernel/errors.js';
import type { Engine } from '../engine/engine.js';
import type { Task } from '../engine/folds/tasks.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { preflight, systemMemory, type MemorySource } from '../dispatch/memory.js';
import type { RecordLog } from '../store/record-log.js';
import { cleartextTokenWarning } from '../fleet/client.js';
import { controlFromWire, FLEET_CONTROL_THREAD, FleetControl, fleetControlFold, namespacesOf, type FleetControlWire } from '../fleet/control.js';
import { FleetCoordinator } from '../fleet/coordinator.js';
import { HeartbeatService } from '../fleet/heartbeat.js';
import type { Heartbeat } from '../fleet/registry.js';
import { assignmentsFold, RemoteCoordinator } from '../fleet/remote.js';
import type { DispatchView } from '../dispatch/records.js';
import { FanoutService } from '../fleet/fanout.js';
import { RemoteWorker } from '../fleet/remote-worker.js';
import type { InstanceConfig } from './config-file.js';
import type { Logger } from './logger.js';
import type { Service } from './services.js';
import type { TaskFiles } from './task-files.js';
import { splVersion } from './version.js';

export interface FleetParts {
  did: string;
  log: RecordLog;
  engine: Engine;
  logger: Logger;
  config: InstanceConfig;
  now: () => number;
  startedAt: number;
  dispatcher: Dispatcher;
  taskFiles: TaskFiles;
  control: FleetControl;
  /** Where a worker keeps the last control its coordinator sent (enforced from start-up, before the first beat). */
  controlFile: string;
  memory?: MemorySource;
}

export interface FleetServices {
  coordinator: FleetCoordinator;
  remote: RemoteCoordinator;
  services: Service[];
  /** Started before the dispatcher and stopped after it: the forwarder sends the exits a shutdown records. */
  early: Service[];
}

export function fleetServices(s: FleetParts): FleetServices {
  const { config } = s;
  const endpoint = config.fleet.advertisedEndpoint ?? `${config.tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const cleartext = cleartextTokenWarning(config.fleet.coordinatorUrl, config.fleet.token);
  if (cleartext) s.logger.child({ target: 'syncropel_fleet' }).warn({ coordinator: config.fleet.coordinatorUrl }, cleartext);
  const memory = s.memory ?? systemMemory();
  const self = (): Heartbeat => ({
    did: s.did, endpoint, version: splVersion(), uptime_secs: Math.floor((s.now() - s.startedAt) / 1000),
    health: s.engine.brokenFolds().length > 0 ? 'degraded' : 'healthy', active_dispatches: s.dispatcher.totals().running, store_records: s.log.recordCount,
  });
  const coordinator = new FleetCoordinator({ did: s.did, log: s.log, engine: s.engine, logger: s.logger, now: s.now, intervalSecs: config.fleet.heartbeatIntervalSecs, self, url: endpoint });
  const remote = new RemoteCoordinator({
    did: s.did, log: s.log, engine: s.engine, logger: s.logger, now: s.now, members: () => coordinator.members(),
    contentText: (t) => (t.content ? s.taskFiles.raw(t.content) : undefined), intervalMs: () => coordinator.intervalSecs * 1000,
    localLive: (thread) => s.dispatcher.liveOf(thread) !== null,
  });
  s.engine.fleetCel = () => celFleet(s.control, coordinator, s.now());
  // The emergency stop in force at start-up is noticed (and logged) once the services run, not while wiring them.
  const notice: Service = { name: 'fleet-control', start: () => s.control.noticeEmergency(), stop: () => undefined };
  const fanout = new FanoutService({
    did: s.did, log: s.log, engine: s.engine, logger: s.logger,
    writeContent: (front, brief) => s.taskFiles.write(front, brief),
    assignRemote: (alias, by, request) => remote.assign(alias, 'auto', by, request),
    dispatchLocal: (alias, by, request) => s.dispatcher.request({ ref: alias, by, ...request }),
  });
  const services: Service[] = [coordinator, remote, fanout];
  const early: Service[] = [];
  if (config.fleet.coordinatorUrl) {
    // The memory band goes in the beats a worker sends (--on auto reads it), read once per beat; the coordinator's
    // own entry, refreshed on every registry look, does without.
    const w = workerServices(s, config.fleet.coordinatorUrl, () => ({ ...self(), memory_band: preflight(memory).band }));
    services.push(w.heartbeat);
    early.push(w.forwarder);
  }
  services.push(notice);
  return { coordinator, remote, services, early };
}

/** The last control the coordinator sent, as saved (null when there is none or it cannot be read). */
function savedControl(file: string): { received_ms: number; control: FleetControlWire } | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { received_ms?: unknown; control?: FleetControlWire };
    return typeof v.received_ms === 'number' && v.control && typeof v.control === 'object' ? { received_ms: v.received_ms, control: v.control } : null;
  } catch {
    return null;
  }
}

/** Keeps the coordinator's control: in force now, and saved (when it changed) for the next start. */
function keepControl(s: FleetParts): (w: FleetControlWire) => void {
  const saved = savedControl(s.controlFile);
  if (saved) s.control.setRemote(controlFromWire(saved.control, saved.received_ms));
  // What decides whether the file needs writing again: the freezes and the stop, not a hard freeze's time left.
  const keyOf = (w: FleetControlWire): string => JSON.stringify([(w.freezes ?? []).map((f) => [f.namespace, f.level, f.since_ms]), w.emergency ?? null]);
  let last = saved ? keyOf(saved.control) : '';
  return (w) => {
    const at = s.now();
    s.control.setRemote(controlFromWire(w, at));
    const key = keyOf(w);
    if (key === last) return;
    last = key;
    try {
      writeFileSync(s.controlFile, JSON.stringify({ received_ms: at, control: w }), { mode: 0o600 });
    } catch (err) {
      s.logger.child({ target: 'syncropel_fleet::control' }).warn(`the coordinator's freezes could not be saved to ${s.controlFile}: ${(err as Error).message}; they are in force until this instance stops`);
    }
  };
}

/** A worker's heartbeats, and the tasks its coordinator dispatches to it. */
function workerServices(s: FleetParts, coordinatorUrl: string, self: () => Heartbeat): { heartbeat: Service; forwarder: Service } {
  const { config } = s;
  let worker: RemoteWorker | undefined;
  const heartbeat = new HeartbeatService({
    coordinatorUrl, intervalSecs: config.fleet.heartbeatIntervalSecs, token: config.fleet.token, caFile: config.fleet.caFile, logger: s.logger,
    beat: () => ({ ...self(), ...worker?.takeAcks() }),
    onControl: keepControl(s),
    onAssignments: (list) => void worker?.take(list).catch((err: Error) => s.logger.child({ target: 'syncropel_fleet::dispatch' }).error(`taking the coordinator's assignments failed: ${err.message}`)),
  });
  worker = new RemoteWorker({
    did: s.did, log: s.log, engine: s.engine, logger: s.logger, retryMs: config.fleet.heartbeatIntervalSecs * 1000,
    dispatch: (req) => s.dispatcher.request(req),
    importContent: (path, text, sha) => s.taskFiles.importFile(path, text, sha),
    post: (path, body) => heartbeat.request(path, body, 30_000),
  });
  return { heartbeat, forwarder: worker };
}

/** What the fleet_… CEL functions see. */
function celFleet(control: FleetControl, coordinator: FleetCoordinator, at: number): ReturnType<Engine['fleetCel']> {
  const c = control.current();
  const freezes = [...c.freezes.values()];
  return {
    frozen_namespaces: freezes.map((f) => f.namespace),
    hard_frozen_past_grace: freezes.filter((f) => f.hard_at_ms !== null && at >= f.hard_at_ms).map((f) => f.namespace),
    emergency_active: c.emergency !== null,
    instances_live: coordinator.members().filter((m) => m.status === 'live').length,
  };
}

/**
 * Freezes and the emergency stop: this instance's own records and what its coordinator carries. When the
 * emergency stop comes into force, running workers are interrupted (their exits recorded) and waiting dispatches end.
 */
export function fleetControl(engine: Engine, logger: Logger, now: () => number, interruptAll: (why: string) => Promise<number>): FleetControl {
  const log = logger.child({ target: 'syncropel_fleet::control' });
  const control = new FleetControl(() => engine.state(fleetControlFold), now, (e) => {
    const why = `the fleet's emergency stop${e.reason ? ` (${e.reason})` : ''}${e.source === 'coordinator' ? ' from the coordinator' : ''}`;
    log.warn({ actor: e.actor, source: e.source }, `EMERGENCY STOP in force: ${why}; only reads, KNOW and LEARN are accepted, no new dispatch starts`);
    void interruptAll(why).catch((err: Error) => log.error({ err: err.message }, `interrupting workers for the emergency stop failed: ${err.message}`));
  });
  engine.react('fleet-control', (records) => {
    if (records.some((r) => r.thread === FLEET_CONTROL_THREAD)) control.noticeEmergency();
  });
  return control;
}

/**
 * A dispatch another instance runs: requested by another instance (a fleet worker's run, on the coordinator), or
 * on a task dispatched to this worker but not requested by it (the coordinator's earlier attempts).
 */
export function foreignDispatch(engine: Engine, did: string, d: DispatchView): boolean {
  const by = typeof d.request.actor === 'string' ? d.request.actor : '';
  if (by === did) return false;
  if (by.startsWith('did:sync:instance:')) return true;
  return engine.state(assignmentsFold).byThread.get(d.task_thread)?.worker === did;
}

/** A new dispatch is a DO in its task's namespace: a freeze there, or the emergency stop, holds it back. */
export function admitDispatch(control: FleetControl, task: Task): void {
  const verdict = control.check('DO', namespacesOf({ thread: task.thread, body: task.domain ? { domain: task.domain } : {} }));
  if (!verdict.allowed) throw new SplError(verdict.code, `dispatch of ${task.alias} refused: ${verdict.message}`, { fix: verdict.fix });
}
