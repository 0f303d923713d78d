// The supervision of one running instance in the foreground (see supervisor.ts, its entry point): logging and
// sd_notify, its signals (SIGTERM/SIGINT stop it gracefully, SIGHUP re-reads config.toml and applies what can
// change while running), the crash handler (an unexpected error exits, removing what would look like a live
// instance), and the environment scrubbing programs the instance runs rely on.

import { rmSync } from 'node:fs';
import { SplError, isSplError } from '../kernel/errors.js';
import type { ReloadState } from '../kernel/wire.js';
import { createNotifier, type Notifier } from '../systemd/notify.js';
import { stdoutIsJournal } from '../systemd/journal.js';
import { writeDefaultConfigToml, type InstanceConfig } from './config-file.js';
import { reportToParent } from './daemon.js';
import type { RunningInstance } from './instance.js';
import type { EarlyCheck } from '../store/early-check.js';
import { createLogger, type InstanceLogger, type Logger, type StdoutMode } from './logger.js';
import { removePidFile } from './pidfile.js';
import type { SuperviseOptions } from './supervisor.js';

/**
 * Runs the instance in this process until a signal stops it. `early` is the quick_check the entry point began;
 * `takeEarlyHups` hands over the SIGHUPs it caught while this module loaded.
 */
export async function supervise(o: SuperviseOptions, early: EarlyCheck | undefined, takeEarlyHups: () => number): Promise<void> {
  writeDefaultConfigToml(o.paths);
  const stdout: StdoutMode | undefined = o.isChild ? undefined : stdoutIsJournal(o.env) ? 'journal' : process.stdout.isTTY ? 'pretty' : 'prefixed';
  const logging = createLogger({ file: o.paths.logFile, level: o.config.logLevel, ...(stdout ? { stdout } : {}) });
  const logger = logging.root.child({ target: 'syncropel_instance' });
  const notifier = createNotifier(o.env, logging.root.child({ target: 'syncropel_systemd' }));
  // Like sd_notify(unset_environment=1): programs the instance runs (git, agents) must not see these.
  for (const v of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[v];

  const reload: ReloadState = { count: 0, last_at: null, ok: true, error: null, log_level: o.config.logLevel };
  // A SIGHUP before the instance serves would otherwise end the process (the default action); config.toml was
  // read moments ago, so there is nothing to re-read yet.
  const earlyHup = (): void => logger.info('SIGHUP during start-up: ignored (config.toml was read for this start)');
  process.on('SIGHUP', earlyHup);
  for (let n = takeEarlyHups(); n > 0; n--) earlyHup();
  let running: RunningInstance | undefined;
  try {
    running = await startSupervised({ o, logging, logger, notifier, reload }, early);
  } finally {
    process.off('SIGHUP', earlyHup);
  }
  if (!running) return;
  const live = running;
  const statusLine = (): string => `serving ${live.log.recordCount} records on ${live.bind} and ${live.socket}`;
  notifier.ready(statusLine());
  reportToParent({ type: 'ready', pid: process.pid, bind: live.bind, socket: live.socket, records: live.log.recordCount });
  const s: Supervision = { o, logging, logger, notifier, reload, running: live, statusLine };
  installShutdown(s);
  installReload(s);
  installCrashHandler(s);
}

interface Supervision {
  o: SuperviseOptions;
  logging: InstanceLogger;
  logger: Logger;
  notifier: Notifier;
  reload: ReloadState;
  running: RunningInstance;
  statusLine: () => string;
}

/** Starts the instance; a failure is logged, told to systemd and to a waiting parent, and then thrown or exited. */
async function startSupervised(s: Omit<Supervision, 'running' | 'statusLine'>, early?: EarlyCheck): Promise<RunningInstance | undefined> {
  const { o, logging, logger, notifier, reload } = s;
  try {
    const { startInstance } = await import('./instance.js'); // loaded while the early quick_check runs
    return await startInstance({
      ...(early ? { earlyCheck: early } : {}),
      paths: o.paths, config: o.config, logger: logging.root, adminActor: o.adminActor, env: o.env,
      insecureLocalhost: o.insecureLocalhost,
      newStore: o.newStore,
      rebuild: o.rebuild === true,
      ...(o.services ? { services: o.services } : {}),
      progress: (step) => notifier.starting(step),
      stopProgress: (step) => notifier.stoppingStep(step),
      reloads: () => ({ ...reload }),
      ...(logging.file ? { logDropped: () => logging.file!.droppedLines() } : {}),
    });
  } catch (err) {
    early?.abort?.(); // a check still running (the start failed before the open) would hold the exit back
    const e = isSplError(err) ? err : new SplError('START_FAILED', (err as Error).message, { cause: err });
    logger.error({ code: e.code, err: isSplError(err) ? undefined : err }, `start-up failed: ${e.message}`);
    notifier.status(`start-up failed: ${e.message}`);
    notifier.close();
    logging.close();
    if (o.isChild) {
      reportToParent({ type: 'error', code: e.code, message: e.message, ...(e.fix ? { fix: e.fix } : {}) });
      process.exitCode = e.exitCode;
      return undefined;
    }
    throw e;
  }
}

/** SIGTERM/SIGINT: a graceful stop, then exit 0 (1 if the stop itself failed). STATUS= follows the record count. */
function installShutdown(s: Supervision): void {
  let lastStatus = '';
  const statusTimer = s.notifier.enabled
    ? setInterval(() => {
        const line = s.statusLine();
        if (line !== lastStatus) s.notifier.status((lastStatus = line));
      }, STATUS_EVERY_MS).unref()
    : undefined;
  const shutdown = (reason: string): void => {
    if (statusTimer) clearInterval(statusTimer);
    s.notifier.stopping();
    s.running
      .stop(reason)
      .then(() => {
        s.notifier.close();
        s.logging.close();
        process.exit(0);
      })
      .catch((err: unknown) => {
        s.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/**
 * SIGHUP (systemctl reload spl, spl reload): re-read config.toml and apply what can change while running — the
 * log level, and whatever the services take. Settings that need a restart are named in a WARN. Wrapped in
 * RELOADING=1 … READY=1.
 */
function installReload(s: Supervision): void {
  const { o, logging, logger, notifier, reload } = s;
  process.on('SIGHUP', () => {
    notifier.reloading();
    try {
      const fresh = o.reread();
      logging.root.level = fresh.logLevel;
      void s.running.reload(fresh);
      const pending = restartOnlyChanges(o.config, fresh);
      if (pending.length > 0) {
        logger.warn({ changed: pending.join(', ') }, `SIGHUP: config.toml changes ${pending.join(', ')} take effect at the next restart (systemctl restart spl / spl restart)`);
      }
      logger.info({ log_level: fresh.logLevel, previous_log_level: reload.log_level }, 'SIGHUP: configuration re-read');
      Object.assign(reload, { ok: true, error: null, log_level: fresh.logLevel });
    } catch (err) {
      const message = (err as Error).message;
      logger.warn({ err: message }, 'SIGHUP: configuration not reloaded; keeping the running settings');
      Object.assign(reload, { ok: false, error: message });
    }
    reload.count += 1;
    reload.last_at = new Date().toISOString();
    notifier.ready(reload.ok ? s.statusLine() : `${s.statusLine()}; last reload failed: ${reload.error ?? ''}`);
  });
}

/** An unexpected error exits 1, removing what a clean stop would (left behind, it would look like a live instance). */
function installCrashHandler(s: Supervision): void {
  const crash = (err: unknown): void => {
    s.logger.error({ err }, 'unexpected error; exiting (acknowledged records are committed)');
    for (const cleanup of [() => rmSync(s.o.paths.socket, { force: true }), () => removePidFile(s.o.paths.pidFile)]) {
      try {
        cleanup();
      } catch {
        // exiting regardless
      }
    }
    s.notifier.close();
    s.logging.close();
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

/** How often STATUS= is refreshed under systemd (only when the line changed). */
const STATUS_EVERY_MS = 5_000;

/** Settings in config.toml that a reload cannot apply, as `[server] port 9100 → 9200`. */
function restartOnlyChanges(running: InstanceConfig, fresh: InstanceConfig): string[] {
  const out: string[] = [];
  const cmp = (name: string, a: unknown, b: unknown): void => {
    if (a !== b) out.push(`${name} ${String(a)} → ${String(b)}`);
  };
  cmp('[server] host', running.host, fresh.host);
  cmp('[server] port', running.port, fresh.port);
  cmp('[store] path', running.storePath, fresh.storePath);
  cmp('[identity] actor', running.actor, fresh.actor);
  cmp('[server] headers_timeout_secs', running.timeouts.headersSecs, fresh.timeouts.headersSecs);
  cmp('[server] request_timeout_secs', running.timeouts.requestSecs, fresh.timeouts.requestSecs);
  cmp('[server] tls_cert', running.tls?.cert, fresh.tls?.cert);
  cmp('[server] tls_key', running.tls?.key, fresh.tls?.key);
  return out;
}

