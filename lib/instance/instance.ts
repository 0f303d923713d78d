// One running instance: the start-up sequence (lock → PID file → store → identity → listeners → ready) and
// the graceful shutdown (stop accepting → drain → stop services → WAL checkpoint → remove socket and PID file →
// unlock), each a named step below.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Fold } from '../engine/fold.js';
import { ENGINE_CONFIG_THREAD } from '../engine/folds/engine-config.js';
import { validateRecord } from '../kernel/record.js';
import { SplError, isSplError } from '../kernel/errors.js';
import { Engine, readCheckpointFor, type CheckpointOptions } from '../engine/engine.js';
import { createApp, DEFAULT_BODY_LIMIT } from '../http/app.js';
import { AuthGuard } from '../http/auth-guard.js';
import type { LogDropped, Phase } from '../http/context.js';
import type { ReloadState } from '../kernel/wire.js';
import { closeServer, createListener, listenSocket, listenTcp } from '../http/server.js';
import { RecordLog } from '../store/record-log.js';
import type { EarlyCheck } from '../store/early-check.js';
import { isLoopback, type InstanceConfig } from './config-file.js';
import { ensureHome, type HomePaths } from './home.js';
import { ensureIdentity } from './identity.js';
import { HomeLock } from './lock.js';
import type { Logger } from './logger.js';
import { inspectPidFile, removePidFile, writePidFile } from './pidfile.js';
import { describeHolder, tcpPortHolder } from './port-owner.js';
import { startupBackupDir } from './backup-paths.js';
import { startupBackup } from './startup-backup.js';
import { inspectMissingStore, refuseEmptyStart, type MissingStore } from './store-guard.js';
import { checkServeConfig } from './serve-config.js';
import { backgroundService, ServiceSet, type Service } from './services.js';
import { TokenStore } from './tokens.js';
import { aliasMirrorService, TaskFiles } from './task-files.js';
import { splVersion } from './version.js';
import { INSTANCE_FOLDS } from './folds.js';
import { foldCheckpointPath, foldCheckpointService, writeFoldCheckpoint, type CheckpointCadence } from './fold-checkpoints.js';
import { Dispatcher, type DispatcherOptions } from '../dispatch/dispatcher.js';
import { Reconciler } from '../dispatch/reconciler.js';
import type { FleetCoordinator } from '../fleet/coordinator.js';
import type { RemoteCoordinator } from '../fleet/remote.js';
import { admitDispatch, fleetControl, fleetServices, foreignDispatch } from './fleet-services.js';
import { loadTls } from './tls-files.js';
import type { FleetControl } from '../fleet/control.js';


export { checkServeConfig, MAX_SOCKET_PATH } from './serve-config.js';

/**
 * The startup backup of a store file above this size is copied after READY, from a read snapshot taken before
 * it: on a large store the copy takes seconds (6 s at 1M records), and READY need not wait for it. Smaller
 * stores are copied before READY, where the copy costs less than the bookkeeping of deferring it.
 */
const DEFER_STARTUP_BACKUP_ABOVE = 32 * 1048576;

interface StartOptions {
  paths: HomePaths;
  config: InstanceConfig;
  logger: Logger;
  /** The DID that socket requests act as unless they name one, and that permissions-enable checks for. */
  adminActor: string;
  /** Environment for paths outside the home (XDG_DATA_HOME for backups). */
  env?: Record<string, string | undefined>;
  /** Turn TCP authentication off (loopback only, with a WARN). */
  insecureLocalhost?: boolean;
  now?: () => number;
  /** Told each start-up step as it begins (sd_notify STATUS= and EXTEND_TIMEOUT_USEC=). */
  progress?: (step: string) => void;
  /** `spl serve --new-store`: the store is missing and an empty one is started on purpose (recorded as a LEARN). */
  newStore?: boolean;
  /** SIGHUP reload state for GET /v1/instance. */
  reloads?: () => ReloadState;
  /** Lines the log file dropped (a full disk), for /health. */
  logDropped?: () => LogDropped;
  /** `spl serve --rebuild`: derive every fold from the store in full, ignoring the fold checkpoint. */
  rebuild?: boolean;
  /** When the fold checkpoint is written while serving (tests shorten it). */
  checkpointCadence?: CheckpointCadence;
  /** Folds beyond the core ones, supplied by the modules that read them. */
  folds?: ReadonlyArray<Fold<unknown>>;
  /** Services started once the listeners are bound and stopped, in reverse, before the store closes. */
  services?: readonly Service[];
  /** Told each shutdown step as it begins (sd_notify STATUS= and EXTEND_TIMEOUT_USEC=). */
  stopProgress?: (step: string) => void;
  /** A quick_check of the store begun before the open (while the instance loaded); the open uses it if the store has not changed since. */
  earlyCheck?: EarlyCheck;
  /** Store files larger than this are copied to hub.db.bak after READY, from a snapshot held before it (tests lower it). */
  startupBackupDeferAbove?: number;
  /** The dispatcher's memory source and timings (tests inject them). */
  dispatch?: Pick<DispatcherOptions, 'memory' | 'graceMs' | 'memoryRecheckMs'>;
}

export interface RunningInstance {
  did: string;
  bind: string;
  socket: string;
  log: RecordLog;
  engine: Engine;
  phase(): Phase;
  /** Hands a re-read config.toml to the services. */
  reload(config: InstanceConfig): Promise<void>;
  stop(reason: string): Promise<void>;
}

export async function startInstance(opts: StartOptions): Promise<RunningInstance> {
  const { paths, config } = opts;
  const logger = opts.logger.child({ target: 'syncropel_instance' });
  const now = opts.now ?? Date.now;
  const startedAt = now();
  const progress = opts.progress ?? ((): void => undefined);
  let phase: Phase = 'starting';

  checkServeConfig(paths, config, { insecureLocalhost: opts.insecureLocalhost });
  ensureHome(paths);
  progress('taking the home lock');
  const lock = await lockHome(paths);
  const cleanups: Array<() => Promise<void> | void> = [() => lock.release()];
  try {
    writePidFileOver(paths, logger);
    cleanups.push(() => removePidFile(paths.pidFile));
    const folds = [...INSTANCE_FOLDS, ...(opts.folds ?? [])];
    const checkpoint: CheckpointOptions = { path: foldCheckpointPath(config.storePath), code: splVersion(), rebuild: opts.rebuild === true };
    // Decoded now, while the store's quick_check (begun as the instance loaded) may still run on SQLite's thread.
    if (!checkpoint.rebuild) checkpoint.preread = readCheckpointFor(checkpoint, folds);
    const { identity, log, afterReady } = await openStore(opts, logger, now, progress);
    cleanups.push(() => log.close());
    // A deferred startup backup holds a read snapshot of the store: released (nothing copied) if the start fails.
    if (afterReady?.holdsSnapshot) cleanups.push(() => afterReady.work(AbortSignal.abort()));
    progress(`rebuilding derived state from ${log.recordCount} records`);
    const engine = await Engine.start(log, opts.logger, now, folds, checkpoint);
    const control = fleetControl(engine, opts.logger, now, (why) => dispatcher.interruptAll(why));
    const taskFiles = new TaskFiles(paths);
    const dispatcher = new Dispatcher({
      did: identity.did, log, engine, logger: opts.logger, now, dataDir: paths.dataDir, secretsDir: paths.secretsDir,
      briefOf: (t) => (t.content ? taskFiles.brief(t.content) : undefined), contentOf: (t) => taskFiles.check(t.content),
      graceMs: config.dispatch.killGraceSecs * 1000, admit: (t) => {
        admitDispatch(control, t);
        fleet.remote.guardLocal(t);
      },
      foreign: (d) => foreignDispatch(engine, identity.did, d), ...opts.dispatch,
    });
    const reconciler = new Reconciler({ did: identity.did, log, engine, dispatcher, logger: opts.logger, now });
    const fleet = fleetServices({ did: identity.did, log, engine, logger: opts.logger, config, now, startedAt, dispatcher, taskFiles, control, controlFile: join(paths.home, 'fleet-control.json'), ...(opts.dispatch?.memory ? { memory: opts.dispatch.memory } : {}) });
    const { app, authGuard, bind } = createApi(opts, { log, engine, taskFiles, dispatcher, fleet: fleet.coordinator, remote: fleet.remote, control, did: identity.did, startedAt, now, phase: () => phase });
    cleanups.push(() => authGuard.close());
    progress(`binding ${bind} and ${paths.socket}`);
    const listeners = await bindListeners(app, opts, bind, cleanups);
    const services = new ServiceSet([...(afterReady ? [backgroundService(afterReady.name, afterReady.work)] : []), foldCheckpointService(opts.checkpointCadence), aliasMirrorService(taskFiles), ...fleet.early, dispatcher, reconciler, ...fleet.services, ...(opts.services ?? [])], opts.logger.child({ target: 'syncropel_instance::services' }));
    await services.start({ did: identity.did, paths, config, log, engine, logger: opts.logger, now }, progress);
    cleanups.push(() => services.stop('start-up failed', () => undefined).then(() => undefined));

    phase = 'serving';
    logger.info({ bind, socket: paths.socket, actor: identity.did, version: splVersion(), pid: process.pid }, 'instance ready');
    let stopping: Promise<void> | undefined;
    return {
      did: identity.did, bind, socket: paths.socket, log, engine,
      phase: () => phase,
      reload: (fresh) => services.reload(fresh),
      stop(reason: string): Promise<void> {
        phase = 'stopping';
        stopping ??= stopInstance({ reason, logger, paths, log, engine, lock, listeners, services, authGuard, now, progress: opts.stopProgress ?? ((): void => undefined) });
        return stopping;
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    if (isSplError(err)) throw err;
    throw new SplError('START_FAILED', `spl serve could not start: ${(err as Error).message}`, { cause: err });
  }
}

async function lockHome(paths: HomePaths): Promise<HomeLock> {
  const lock = await HomeLock.acquire(paths.lockFile);
  if (lock) return lock;
  const pid = inspectPidFile(paths.pidFile);
  throw new SplError('HOME_LOCKED', `another spl instance${pid.state === 'running' ? ` (pid ${pid.pid})` : ''} is already running on ${paths.home}`, {
    fix: 'spl status shows it; spl stop stops it',
  });
}

function writePidFileOver(paths: HomePaths, logger: Logger): void {
  const previous = inspectPidFile(paths.pidFile);
  if (previous.state === 'stale') logger.warn({ pid: previous.pid }, `stale PID file ${paths.pidFile} replaced: ${previous.reason}`);
  writePidFile(paths.pidFile);
}

/** The startup backup's part that runs once the instance serves: the re-check of hub.db.bak, or the deferred copy. */
type AfterReady = { name: string; work: (signal: AbortSignal) => Promise<void>; holdsSnapshot: boolean };

/** The store guard, the identity, the store (quick_check), and the startup backup. */
async function openStore(opts: StartOptions, logger: Logger, now: () => number, progress: (step: string) => void): Promise<{ identity: { did: string }; log: RecordLog; afterReady?: AfterReady }> {
  const { paths, config } = opts;
  const env = opts.env ?? process.env;
  // Never start empty over good data: decided before the identity is created (its key is part of the evidence).
  const missing = opts.newStore
    ? await inspectMissingStore(paths, config.storePath, config.backup.dest, env)
    : await refuseEmptyStart(paths, config.storePath, config.backup.dest, env, now());
  if (opts.newStore && !missing) {
    throw new SplError('USAGE', `--new-store starts an empty store only where none exists, and ${config.storePath} exists`, {
      fix: `start it as it is: spl serve; to start over, move it aside first: mv ${config.storePath} ${config.storePath}.old.$(date +%s)`,
    });
  }
  const identity = ensureIdentity(paths.instanceKey);
  if (identity.created) logger.info({ actor: identity.did }, 'instance identity created');

  const openedAt = now();
  progress(`opening the store ${config.storePath} (quick_check)`);
  // A failed background checkpoint loses nothing (the frames stay in the WAL); said at the first of a streak, then every 100th.
  const walCheckpoint = {
    onError: (err: unknown, failed: number) =>
      logger.warn({ err, failed_in_a_row: failed }, `WAL checkpoint failed (${failed} in a row); committed records stay in the WAL, and the writer copies them itself while this goes on; if it does not stop, spl doctor checks the store and its disk`),
  };
  const log = await RecordLog.open(config.storePath, { create: true, now, walCheckpoint, ...(opts.earlyCheck ? { checked: opts.earlyCheck } : {}) });
  try {
    const storedDid = await log.getMeta('instance_did');
    if (storedDid === undefined) await log.setMeta('instance_did', identity.did);
    else if (storedDid !== identity.did) logger.warn({ actor: identity.did }, `store was created by ${storedDid}; this home's key is ${identity.did}`);
    const checked = opts.earlyCheck?.used ? opts.earlyCheck.began : 'at open';
    logger.info({ records: log.recordCount, duration_ms: now() - openedAt, store: config.storePath, quick_check: checked }, 'store opened, quick_check ok');
    if (opts.newStore && missing) await recordNewStore(log, logger, identity.did, missing, now());
    progress(`startup backup of ${log.recordCount} records`);
    const dir = startupBackupDir(paths.home, identity.did, env);
    const backup = await startupBackup({
      storePath: config.storePath, dir, logger: opts.logger.child({ target: 'syncropel_store::backup' }), now, skipUnchanged: true,
      deferAbove: opts.startupBackupDeferAbove ?? DEFER_STARTUP_BACKUP_ABOVE,
    });
    const afterReady = backup?.verify
      ? { name: 'startup-backup-recheck', work: backup.verify, holdsSnapshot: false }
      : backup?.deferred ? { name: 'startup-backup', work: backup.deferred, holdsSnapshot: true } : undefined;
    return { identity, log, ...(afterReady ? { afterReady } : {}) };
  } catch (err) {
    await log.close().catch(() => undefined);
    throw err;
  }
}

function createApi(
  opts: StartOptions,
  s: { log: RecordLog; engine: Engine; taskFiles: TaskFiles; dispatcher: Dispatcher; fleet: FleetCoordinator; remote: RemoteCoordinator; control: FleetControl; did: string; startedAt: number; now: () => number; phase: () => Phase },
): { app: ReturnType<typeof createApp>; authGuard: AuthGuard; bind: string } {
  const { paths, config } = opts;
  const authLog = opts.logger.child({ target: 'syncropel_http::auth' });
  if (opts.insecureLocalhost) authLog.warn('--insecure-localhost: TCP requests are accepted without a bearer token; any local process can act as ' + opts.adminActor);
  const bind = `${config.host}:${config.port}`;
  if (!isLoopback(config.host)) {
    if (config.tls) authLog.info({ bind }, `serving HTTPS beyond loopback on ${bind}: every TCP request but /health needs a bearer token`);
    else authLog.warn({ bind }, `serving beyond loopback on ${bind}: every TCP request but /health needs a bearer token; the traffic is plain HTTP (set [server] tls_cert and tls_key, or keep it on a private network or behind a TLS proxy)`);
  }
  // Closing lines of finished AUTH FAILED bursts are written by its timer even when no request comes.
  const authGuard = new AuthGuard({ logger: opts.logger, now: s.now, tickMs: 5_000 });
  const app = createApp({
    log: s.log,
    engine: s.engine,
    tokens: new TokenStore(paths.apiTokens, s.now),
    taskFiles: s.taskFiles,
    dispatch: s.dispatcher,
    fleet: s.fleet,
    control: s.control,
    remote: s.remote,
    auth: { tcpRequiresToken: !opts.insecureLocalhost, adminActor: opts.adminActor },
    logger: opts.logger,
    bodyLimit: DEFAULT_BODY_LIMIT,
    now: s.now,
    authGuard,
    instance: {
      did: s.did, version: splVersion(), pid: process.pid, home: paths.home, storePath: config.storePath,
      bind, socket: paths.socket, startedAt: s.startedAt, phase: s.phase,
      ...(opts.reloads ? { reloads: opts.reloads } : {}),
      ...(opts.logDropped ? { logDropped: opts.logDropped } : {}),
    },
  });
  return { app, authGuard, bind };
}

type Listeners = { tcp: Server; unix: Server };

async function bindListeners(app: ReturnType<typeof createApp>, opts: StartOptions, bind: string, cleanups: Array<() => Promise<void> | void>): Promise<Listeners> {
  const { paths, config } = opts;
  const listenerOptions = { headersTimeoutMs: config.timeouts.headersSecs * 1000, requestTimeoutMs: config.timeouts.requestSecs * 1000, logger: opts.logger };
  const tcp = createListener(app, 'tcp', { ...listenerOptions, ...(config.tls ? { tls: loadTls(config.tls, paths.config) } : {}) });
  try {
    await listenTcp(tcp, config.host, config.port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const holder = tcpPortHolder(config.port);
      throw new SplError('ADDRESS_IN_USE', `Address already in use: ${bind} (${describeHolder(holder)})`, {
        fix: holder ? `if it is a stale spl serve: kill ${holder.pid}; otherwise start with --port <free port>` : `ss -tlnp | grep ${config.port}`,
      });
    }
    throw err;
  }
  cleanups.push(() => closeServer(tcp));
  const unix = createListener(app, 'socket', listenerOptions);
  await listenSocket(unix, paths.socket);
  cleanups.push(() => closeServer(unix));
  cleanups.push(() => rmSync(paths.socket, { force: true }));
  return { tcp, unix };
}

interface StopParts {
  reason: string;
  logger: Logger;
  paths: HomePaths;
  log: RecordLog;
  engine: Engine;
  lock: HomeLock;
  listeners: Listeners;
  services: ServiceSet;
  authGuard: AuthGuard;
  now: () => number;
  progress: (step: string) => void;
}

/**
 * Stop accepting → drain requests → stop services (reverse order) → let reactors finish → WAL checkpoint →
 * remove the socket and PID file → unlock. Every step runs whatever the one before it did: a full disk may fail
 * the checkpoint, but the socket, the PID file and the lock are still removed, so nothing is left that looks like
 * a live instance.
 */
async function stopInstance(p: StopParts): Promise<void> {
  p.logger.info({ reason: p.reason }, 'shutting down: no new connections, draining requests');
  const failed: string[] = [];
  const attempt = async (what: string, step: () => unknown): Promise<void> => {
    try {
      await step();
    } catch (err) {
      failed.push(`${what}: ${(err as Error).message}`);
    }
  };
  await attempt('closing the listeners', () => Promise.all([closeServer(p.listeners.tcp), closeServer(p.listeners.unix)]));
  failed.push(...(await p.services.stop(p.reason, p.progress, p.now)));
  p.progress('finishing after-commit work');
  await attempt('after-commit work', () => p.engine.drainReactors());
  p.progress('writing the fold checkpoint');
  await writeFoldCheckpoint(p.engine, p.logger, 'shutdown');
  p.authGuard.close();
  p.progress('checkpointing the WAL');
  await attempt('WAL checkpoint', () => p.log.close());
  await attempt('removing the socket', () => rmSync(p.paths.socket, { force: true }));
  await attempt('removing the PID file', () => removePidFile(p.paths.pidFile));
  await attempt('releasing the home lock', () => p.lock.release());
  if (failed.length > 0) {
    p.logger.warn({ records: p.log.recordCount }, `shutdown complete with problems (${failed.join('; ')}); committed records are in the store and its WAL, which the next start replays`);
  } else {
    p.logger.info({ records: p.log.recordCount }, 'shutdown complete: WAL checkpointed, socket and PID file removed');
  }
}

/** `--new-store`: the empty start is on purpose, and the record log says so (a LEARN on th_engine_config). */
async function recordNewStore(log: RecordLog, logger: Logger, did: string, missing: MissingStore, at: number): Promise<void> {
  const best = missing.best;
  logger.warn(
    { store: missing.storePath, ...(best ? { file: best.file, previous_records: best.records } : {}) },
    `--new-store: started an empty store at ${missing.storePath} on purpose${missing.evidence.length ? ` although this home had data (${missing.evidence.join('; ')})` : ''}`,
  );
  await log.append([validateRecord({
    thread: ENGINE_CONFIG_THREAD, actor: did, act: 'LEARN',
    body: {
      topic: 'new_store', store: missing.storePath, started_at: new Date(at).toISOString(), evidence: missing.evidence,
      best_backup: best ? { file: best.file, records: best.records } : null,
    },
  })]);
}
