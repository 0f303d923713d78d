// The foreground supervisor of `spl serve`: logging and sd_notify around one running instance, its signals
// (SIGTERM/SIGINT stop it gracefully, SIGHUP re-reads config.toml and applies what can change while running), the
// crash handler (an unexpected error exits, removing what would look like a live instance), and the environment
// scrubbing programs the instance runs rely on. The CLI parses and prints; this runs the process.

import { rmSync } from 'node:fs';
import { SplError, isSplError } from '../kernel/errors.js';
import type { ReloadState } from '../http/context.js';
import { createNotifier } from '../systemd/notify.js';
import { stdoutIsJournal } from '../systemd/journal.js';
import { writeDefaultConfig, type Config } from './config.js';
import { reportToParent } from './daemon.js';
import { ensureHome, type HomePaths } from './home.js';
import { checkServeConfig, startInstance } from './instance.js';
import { createLogger, type StdoutMode } from './logger.js';
import { removePidFile } from './pidfile.js';
import type { Service } from './services.js';

export interface SuperviseOptions {
  paths: HomePaths;
  config: Config;
  env: Record<string, string | undefined>;
  adminActor: string;
  /** Started by `spl serve` (no --foreground) through an IPC channel: report readiness or the error to the parent. */
  isChild: boolean;
  insecureLocalhost: boolean;
  newStore: boolean;
  /** Reads config.toml again with the same flags and environment (SIGHUP). */
  reread: () => Config;
  services?: readonly Service[];
}

export async function superviseForeground(o: SuperviseOptions): Promise<void> {
  const isChild = o.isChild;
  process.umask(0o077); // the store, its WAL, logs and keys are for the service user only
  checkServeConfig(o.paths, o.config, { insecureLocalhost: o.insecureLocalhost });
  ensureHome(o.paths);
  writeDefaultConfig(o.paths);
  const stdout: StdoutMode | undefined = isChild ? undefined : stdoutIsJournal(o.env) ? 'journal' : process.stdout.isTTY ? 'pretty' : 'prefixed';
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
  let instance;
  try {
    instance = await startInstance({
      paths: o.paths, config: o.config, logger: logging.root, adminActor: o.adminActor, env: o.env,
      insecureLocalhost: o.insecureLocalhost,
      newStore: o.newStore,
      ...(o.services ? { services: o.services } : {}),
      progress: (step) => notifier.starting(step),
      stopProgress: (step) => notifier.stoppingStep(step),
      reloads: () => ({ ...reload }),
      ...(logging.file ? { logDropped: () => logging.file!.droppedLines() } : {}),
    });
  } catch (err) {
    const e = isSplError(err) ? err : new SplError('START_FAILED', (err as Error).message, { cause: err });
    logger.error({ code: e.code, err: isSplError(err) ? undefined : err }, `start-up failed: ${e.message}`);
    notifier.status(`start-up failed: ${e.message}`);
    notifier.close();
    process.off('SIGHUP', earlyHup);
    logging.close();
    if (isChild) {
      reportToParent({ type: 'error', code: e.code, message: e.message, ...(e.fix ? { fix: e.fix } : {}) });
      process.exitCode = e.exitCode;
      return;
    }
    throw e;
  }
  const running = instance;
  const statusLine = (): string => `serving ${running.log.recordCount} records on ${running.bind} and ${running.socket}`;
  notifier.ready(statusLine());
  reportToParent({ type: 'ready', pid: process.pid, bind: running.bind, socket: running.socket, records: running.log.recordCount });
  let lastStatus = '';
  const statusTimer = notifier.enabled
    ? setInterval(() => {
        const line = statusLine();
        if (line !== lastStatus) notifier.status((lastStatus = line));
      }, STATUS_EVERY_MS).unref()
    : undefined;

  const shutdown = (reason: string): void => {
    if (statusTimer) clearInterval(statusTimer);
    notifier.stopping();
    running
      .stop(reason)
      .then(() => {
        notifier.close();
        logging.close();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP (systemctl reload spl, spl reload): re-read config.toml and apply what can change while running —
  // the log level. Settings that need a restart are named in a WARN. Wrapped in RELOADING=1 … READY=1.
  process.off('SIGHUP', earlyHup);
  process.on('SIGHUP', () => {
    notifier.reloading();
    try {
      const fresh = { config: o.reread() };
      logging.root.level = fresh.config.logLevel;
      void running.reload(fresh.config);
      const pending = restartOnlyChanges(o.config, fresh.config);
      if (pending.length > 0) {
        logger.warn({ changed: pending.join(', ') }, `SIGHUP: config.toml changes ${pending.join(', ')} take effect at the next restart (systemctl restart spl / spl restart)`);
      }
      logger.info({ log_level: fresh.config.logLevel, previous_log_level: reload.log_level }, 'SIGHUP: configuration re-read');
      Object.assign(reload, { ok: true, error: null, log_level: fresh.config.logLevel });
    } catch (err) {
      const message = (err as Error).message;
      logger.warn({ err: message }, 'SIGHUP: configuration not reloaded; keeping the running settings');
      Object.assign(reload, { ok: false, error: message });
    }
    reload.count += 1;
    reload.last_at = new Date().toISOString();
    notifier.ready(reload.ok ? statusLine() : `${statusLine()}; last reload failed: ${reload.error ?? ''}`);
  });
  const crash = (err: unknown): void => {
    logger.error({ err }, 'unexpected error; exiting (acknowledged records are committed)');
    // What a clean stop would remove: left behind, they would look like a live instance to the next command.
    for (const cleanup of [() => rmSync(o.paths.socket, { force: true }), () => removePidFile(o.paths.pidFile)]) {
      try {
        cleanup();
      } catch {
        // exiting regardless
      }
    }
    notifier.close();
    logging.close();
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

/** How often STATUS= is refreshed under systemd (only when the line changed). */
const STATUS_EVERY_MS = 5_000;

/** Settings in config.toml that a reload cannot apply, as `[server] port 9100 → 9200`. */
function restartOnlyChanges(running: Config, fresh: Config): string[] {
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
  return out;
}

