// The fleet's part of an instance (SPEC §12): every instance keeps a registry and counts itself in it (it is a
// coordinator once workers beat to it) and can dispatch to its workers; one with `[fleet] coordinator_url` also
// sends heartbeats there, takes the tasks dispatched to it and sends their records back. Freezes and the emergency
// stop are enforced from this instance's own records and what its coordinator carries.

import { SplError } from '../kernel/errors.js';
import type { Engine } from '../engine/engine.js';
import type { Task } from '../engine/folds/tasks.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { preflight, systemMemory, type MemorySource } from '../dispatch/memory.js';
import type { RecordLog } from '../store/record-log.js';
import { cleartextTokenWarning } from '../fleet/client.js';
import { controlFromWire, FLEET_CONTROL_THREAD, FleetControl, fleetControlFold, namespacesOf } from '../fleet/control.js';
import { FleetCoordinator } from '../fleet/coordinator.js';
import { HeartbeatService } from '../fleet/heartbeat.js';
import type { Heartbeat } from '../fleet/registry.js';
import { RemoteCoordinator } from '../fleet/remote.js';
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
  memory?: MemorySource;
}

export interface FleetServices {
  coordinator: FleetCoordinator;
  remote: RemoteCoordinator;
  services: Service[];
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
    memory_band: preflight(memory).band,
  });
  const coordinator = new FleetCoordinator({ did: s.did, log: s.log, engine: s.engine, logger: s.logger, now: s.now, intervalSecs: config.fleet.heartbeatIntervalSecs, self, url: endpoint });
  const remote = new RemoteCoordinator({
    did: s.did, log: s.log, engine: s.engine, logger: s.logger, now: s.now, members: () => coordinator.members(),
    contentText: (t) => (t.content ? s.taskFiles.raw(t.content) : undefined), intervalMs: () => coordinator.intervalSecs * 1000,
  });
  s.engine.fleetCel = () => celFleet(s.control, coordinator, s.now());
  const fanout = new FanoutService({
    did: s.did, log: s.log, engine: s.engine, logger: s.logger,
    writeContent: (front, brief) => s.taskFiles.write(front, brief),
    assignRemote: (alias, by, request) => remote.assign(alias, 'auto', by, request),
    dispatchLocal: (alias, by, request) => s.dispatcher.request({ ref: alias, by, ...request }),
  });
  const services: Service[] = [coordinator, remote, fanout];
  if (config.fleet.coordinatorUrl) services.push(...workerServices(s, config.fleet.coordinatorUrl, self));
  return { coordinator, remote, services };
}

/** A worker's heartbeats, and the tasks its coordinator dispatches to it. */
function workerServices(s: FleetParts, coordinatorUrl: string, self: () => Heartbeat): Service[] {
  const { config } = s;
  let worker: RemoteWorker | undefined;
  const heartbeat = new HeartbeatService({
    coordinatorUrl, intervalSecs: config.fleet.heartbeatIntervalSecs, token: config.fleet.token, caFile: config.fleet.caFile, logger: s.logger,
    beat: () => ({ ...self(), ...worker?.takeAcks() }),
    onControl: (w) => s.control.setRemote(controlFromWire(w, s.now())),
    onAssignments: (list) => void worker?.take(list),
  });
  worker = new RemoteWorker({
    did: s.did, log: s.log, engine: s.engine, logger: s.logger, retryMs: config.fleet.heartbeatIntervalSecs * 1000,
    dispatch: (req) => s.dispatcher.request(req),
    importContent: (path, text, sha) => s.taskFiles.importFile(path, text, sha),
    post: (path, body) => heartbeat.request(path, body, 30_000),
  });
  // The forwarder stops after the heartbeat (services stop in reverse), so the last records go before the final beat.
  return [worker, heartbeat];
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
  control.noticeEmergency();
  return control;
}

/** A new dispatch is a DO in its task's namespace: a freeze there, or the emergency stop, holds it back. */
export function admitDispatch(control: FleetControl, task: Task): void {
  const verdict = control.check('DO', namespacesOf({ thread: task.thread, body: task.domain ? { domain: task.domain } : {} }));
  if (!verdict.allowed) throw new SplError(verdict.code, `dispatch of ${task.alias} refused: ${verdict.message}`, { fix: verdict.fix });
}
