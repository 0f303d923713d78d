// One running instance: the start-up sequence (lock → PID file → store → identity → listeners → ready) and
// the graceful shutdown (stop accepting → drain → WAL checkpoint → remove socket and PID file → unlock).

import { rmSync } from 'node:fs';
import { ENGINE_CONFIG_THREAD } from '../engine/folds/engine-config.js';
import { validateRecord } from '../kernel/record.js';
import { SplError, isSplError } from '../kernel/errors.js';
import { Engine } from '../engine/engine.js';
import { createApp, DEFAULT_BODY_LIMIT } from '../http/app.js';
import { AuthGuard } from '../http/auth-guard.js';
import type { LogDropped, Phase, ReloadState } from '../http/context.js';
import { closeServer, createListener, listenSocket, listenTcp } from '../http/server.js';
import { RecordLog } from '../store/record-log.js';
import { isLoopback, type Config } from './config.js';
import { ensureHome, type HomePaths } from './home.js';
import { ensureIdentity } from './identity.js';
import { HomeLock } from './lock.js';
import type { Logger } from './logger.js';
import { inspectPidFile, removePidFile, writePidFile } from './pidfile.js';
import { describeHolder, tcpPortHolder } from './port-owner.js';
import { startupBackupDir } from './backup-paths.js';
import { startupBackup } from './startup-backup.js';
import { inspectMissingStore, refuseEmptyStart, type MissingStore } from './store-guard.js';
import { TokenStore } from './tokens.js';
import { splVersion } from './version.js';

export const MAX_SOCKET_PATH = 107;

export interface StartOptions {
  paths: HomePaths;
  config: Config;
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
}

export interface RunningInstance {
  did: string;
  bind: string;
  socket: string;
  log: RecordLog;
  engine: Engine;
  phase(): Phase;
  stop(reason: string): Promise<void>;
}

/**
 * What spl serve refuses before it creates anything in the home: a bind beyond loopback without TCP auth, a
 * socket path too long. A non-loopback host (e.g. 0.0.0.0 in a container) is served only while every TCP
 * request but /health needs a bearer token.
 */
export function checkServeConfig(paths: HomePaths, config: Config, opts: { insecureLocalhost?: boolean } = {}): void {
  if (!isLoopback(config.host) && opts.insecureLocalhost) {
    throw new SplError('INVALID_CONFIG', `--insecure-localhost turns TCP authentication off, which is allowed on loopback only; server.host is ${config.host}, which other hosts can reach`, {
      fix: `drop --insecure-localhost (clients then send a bearer token: spl token create --name <name>), or set host = "127.0.0.1" under [server] in ${paths.config}`,
    });
  }
  if (Buffer.byteLength(paths.socket) > MAX_SOCKET_PATH) {
    throw new SplError('START_FAILED', `the socket path ${paths.socket} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket allows`, {
      fix: 'set SYNCROPEL_HOME to a shorter path',
    });
  }
}

export async function startInstance(opts: StartOptions): Promise<RunningInstance> {
  const { paths, config } = opts;
  const logger = opts.logger.child({ target: 'syncropel_instance' });
  const now = opts.now ?? Date.now;
  const startedAt = now();
  let phase: Phase = 'starting';
  const progress = opts.progress ?? ((): void => undefined);

  checkServeConfig(paths, config, { insecureLocalhost: opts.insecureLocalhost });
  ensureHome(paths);
  progress('taking the home lock');
  const lock = await HomeLock.acquire(paths.lockFile);
  if (!lock) {
    const pid = inspectPidFile(paths.pidFile);
    throw new SplError('HOME_LOCKED', `another spl instance${pid.state === 'running' ? ` (pid ${pid.pid})` : ''} is already running on ${paths.home}`, {
      fix: 'spl status shows it; spl stop stops it',
    });
  }

  const cleanups: Array<() => Promise<void> | void> = [() => lock.release()];
  const unwind = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };

  try {
    const previous = inspectPidFile(paths.pidFile);
    if (previous.state === 'stale') logger.warn({ pid: previous.pid }, `stale PID file ${paths.pidFile} replaced: ${previous.reason}`);
    writePidFile(paths.pidFile);
    cleanups.push(() => removePidFile(paths.pidFile));

    // Never start empty over good data: decided before the identity is created (its key is part of the evidence).
    const backupDest = config.backup.dest;
    const missing = opts.newStore
      ? await inspectMissingStore(paths, config.storePath, backupDest, opts.env ?? process.env)
      : await refuseEmptyStart(paths, config.storePath, backupDest, opts.env ?? process.env, now());
    if (opts.newStore && !missing) {
      throw new SplError('USAGE', `--new-store starts an empty store only where none exists, and ${config.storePath} exists`, {
        fix: `start it as it is: spl serve; to start over, move it aside first: mv ${config.storePath} ${config.storePath}.old.$(date +%s)`,
      });
    }

    const identity = ensureIdentity(paths.instanceKey);
    if (identity.created) logger.info({ actor: identity.did }, 'instance identity created');

    const openedAt = now();
    progress(`opening the store ${config.storePath} (quick_check)`);
    const log = await RecordLog.open(config.storePath, { create: true, now });
    cleanups.push(() => log.close());
    const storedDid = await log.getMeta('instance_did');
    if (storedDid === undefined) await log.setMeta('instance_did', identity.did);
    else if (storedDid !== identity.did) {
      logger.warn({ actor: identity.did }, `store was created by ${storedDid}; this home's key is ${identity.did}`);
    }
    logger.info({ records: log.recordCount, duration_ms: now() - openedAt, store: config.storePath }, 'store opened, quick_check ok');
    if (opts.newStore && missing) await recordNewStore(log, logger, identity.did, missing, now());
    const backupDir = startupBackupDir(paths.home, identity.did, opts.env ?? process.env);
    progress(`startup backup of ${log.recordCount} records`);
    await startupBackup({ storePath: config.storePath, dir: backupDir, logger: opts.logger.child({ target: 'syncropel_store::backup' }), now });
    progress(`rebuilding derived state from ${log.recordCount} records`);
    const engine = await Engine.start(log, opts.logger, now);

    const tokens = new TokenStore(paths.apiTokens, now);
    if (opts.insecureLocalhost) {
      opts.logger.child({ target: 'syncropel_http::auth' }).warn('--insecure-localhost: TCP requests are accepted without a bearer token; any local process can act as ' + opts.adminActor);
    }
    const bind = `${config.host}:${config.port}`;
    if (!isLoopback(config.host)) {
      opts.logger.child({ target: 'syncropel_http::auth' }).warn(
        { bind },
        `serving beyond loopback on ${bind}: every TCP request but /health needs a bearer token; the traffic is plain HTTP (keep it on a private network or behind a TLS proxy)`,
      );
    }
    // Closing lines of finished AUTH FAILED bursts are written by its timer even when no request comes.
    const authGuard = new AuthGuard({ logger: opts.logger, now, tickMs: 5_000 });
    cleanups.push(() => authGuard.close());
    const app = createApp({
      log,
      engine,
      tokens,
      auth: { tcpRequiresToken: !opts.insecureLocalhost, adminActor: opts.adminActor },
      logger: opts.logger,
      bodyLimit: DEFAULT_BODY_LIMIT,
      now,
      authGuard,
      instance: {
        did: identity.did, version: splVersion(), pid: process.pid, home: paths.home, storePath: config.storePath,
        bind, socket: paths.socket, startedAt, phase: () => phase,
        ...(opts.reloads ? { reloads: opts.reloads } : {}),
        ...(opts.logDropped ? { logDropped: opts.logDropped } : {}),
      },
    });

    progress(`binding ${bind} and ${paths.socket}`);
    const listenerOptions = { headersTimeoutMs: config.timeouts.headersSecs * 1000, requestTimeoutMs: config.timeouts.requestSecs * 1000, logger: opts.logger };
    const tcp = createListener(app, 'tcp', listenerOptions);
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

    phase = 'serving';
    logger.info({ bind, socket: paths.socket, actor: identity.did, version: splVersion(), pid: process.pid }, 'instance ready');

    let stopping: Promise<void> | undefined;
    return {
      did: identity.did,
      bind,
      socket: paths.socket,
      log,
      engine,
      phase: () => phase,
      stop(reason: string): Promise<void> {
        stopping ??= (async () => {
          phase = 'stopping';
          logger.info({ reason }, 'shutting down: no new connections, draining requests');
          // Every step runs whatever the one before it did: a full disk may fail the WAL checkpoint, but the
          // socket, the PID file and the lock are still removed, so nothing is left that looks like a live instance.
          const failed: string[] = [];
          const attempt = async (what: string, step: () => unknown): Promise<void> => {
            try {
              await step();
            } catch (err) {
              failed.push(`${what}: ${(err as Error).message}`);
            }
          };
          await attempt('closing the listeners', () => Promise.all([closeServer(tcp), closeServer(unix)]));
          authGuard.close();
          await attempt('WAL checkpoint', () => log.close());
          await attempt('removing the socket', () => rmSync(paths.socket, { force: true }));
          await attempt('removing the PID file', () => removePidFile(paths.pidFile));
          await attempt('releasing the home lock', () => lock.release());
          if (failed.length > 0) {
            logger.warn({ records: log.recordCount }, `shutdown complete with problems (${failed.join('; ')}); committed records are in the store and its WAL, which the next start replays`);
          } else {
            logger.info({ records: log.recordCount }, 'shutdown complete: WAL checkpointed, socket and PID file removed');
          }
        })();
        return stopping;
      },
    };
  } catch (err) {
    await unwind();
    if (isSplError(err)) throw err;
    throw new SplError('START_FAILED', `spl serve could not start: ${(err as Error).message}`, { cause: err });
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
