// Instance lifecycle: init, serve, stop, restart, status, version.

import type { Sade } from 'sade';
import { SplError, isSplError } from '../../kernel/errors.js';
import { RecordLog } from '../../store/record-log.js';
import { writeDefaultConfig } from '../../instance/config.js';
import { reportToParent, spawnDaemon } from '../../instance/daemon.js';
import { ensureHome } from '../../instance/home.js';
import { ensureIdentity } from '../../instance/identity.js';
import { startInstance } from '../../instance/instance.js';
import { createLogger } from '../../instance/logger.js';
import { inspectPidFile, isSplServe, processAlive } from '../../instance/pidfile.js';
import { holdsFile, tcpPortHolder } from '../../instance/port-owner.js';
import { splVersion } from '../../instance/version.js';
import { SCHEMA_VERSION } from '../../store/schema.js';
import { inspectStoreFile } from '../../store/snapshot.js';
import { existsSync } from 'node:fs';
import { commandContext, splEntry, type CommandContext, type GlobalFlags } from '../context.js';
import { formatDuration, printFields, printJson } from '../output.js';

interface InstanceInfo {
  status: string;
  version: string;
  pid: number;
  instance_did: string;
  uptime_secs: number;
  records: number;
  threads: number;
  home: string;
  store: string;
  bind: string;
  socket: string;
}

export function register(prog: Sade): void {
  prog
    .command('init')
    .describe('Create the home (config.toml, instance key, store, task data directory) without starting')
    .action(async (flags: GlobalFlags) => init(commandContext(flags)));

  prog
    .command('serve')
    .describe('Start the instance in the background and return once it is ready')
    .option('--foreground', 'Stay in the foreground (automatic under systemd)')
    .option('--port', 'TCP port (default 9100)')
    .option('--host', 'Loopback address to bind (default 127.0.0.1)')
    .option('--log-level', 'error | warn | info | debug | trace')
    .option('--insecure-localhost', 'Accept TCP requests without a bearer token (loopback only; logs a WARN)')
    .action(async (flags: GlobalFlags & { foreground?: boolean }) => serve(flags));

  prog
    .command('stop')
    .describe('Stop the instance gracefully (finds it through the socket or port if the PID file is gone)')
    .option('--timeout', 'Seconds to wait for a graceful exit', 30)
    .action(async (flags: GlobalFlags & { timeout?: number }) => {
      await stop(commandContext(flags), Number(flags.timeout ?? 30));
    });

  prog
    .command('restart')
    .describe('Stop the instance if it runs, then start it again')
    .option('--foreground', 'Stay in the foreground after restarting')
    .option('--insecure-localhost', 'Accept TCP requests without a bearer token')
    .option('--timeout', 'Seconds to wait for a graceful exit', 30)
    .action(async (flags: GlobalFlags & { timeout?: number; foreground?: boolean }) => {
      try {
        await stop(commandContext(flags), Number(flags.timeout ?? 30));
      } catch (err) {
        if (!isSplError(err) || err.code !== 'NOT_RUNNING') throw err;
      }
      await serve(flags);
    });

  prog
    .command('status')
    .describe('Show whether the instance runs, with version, pid, uptime, records and binds (exit 3 when not running)')
    .action(async (flags: GlobalFlags) => status(commandContext(flags)));

  prog
    .command('version')
    .describe('Print the spl version and the schema version of the store')
    .action(async (flags: GlobalFlags) => {
      const ctx = commandContext(flags);
      const store = existsSync(ctx.config.storePath) ? await inspectStoreFile(ctx.config.storePath) : undefined;
      const storeVersion = store?.ok ? store.schemaVersion : null;
      if (ctx.json) return printJson({ version: splVersion(), schema_version: SCHEMA_VERSION, store: ctx.config.storePath, store_schema_version: storeVersion });
      process.stdout.write(`spl ${splVersion()}\n`);
      const detail = store === undefined ? 'no store yet' : store.ok ? `schema ${storeVersion}` : `unreadable (${store.problems[0] ?? '?'})`;
      process.stdout.write(`store ${ctx.config.storePath}: ${detail}; this binary understands schema ${SCHEMA_VERSION}\n`);
    });
}

async function init(ctx: CommandContext): Promise<void> {
  process.umask(0o077);
  ensureHome(ctx.paths);
  const wroteConfig = writeDefaultConfig(ctx.paths);
  const identity = ensureIdentity(ctx.paths.instanceKey);
  const log = await RecordLog.open(ctx.config.storePath, { create: true });
  try {
    if ((await log.getMeta('instance_did')) === undefined) await log.setMeta('instance_did', identity.did);
  } finally {
    await log.close();
  }
  const result = { home: ctx.paths.home, config: ctx.paths.config, store: ctx.config.storePath, data: ctx.paths.dataDir, instance_did: identity.did, created_config: wroteConfig, created_key: identity.created };
  if (ctx.json) return printJson(result);
  process.stdout.write(`initialised ${ctx.paths.home}\n`);
  printFields([
    ['config', `${ctx.paths.config}${wroteConfig ? '' : ' (kept existing)'}`],
    ['store', ctx.config.storePath],
    ['task data', ctx.paths.dataDir],
    ['instance', `${identity.did}${identity.created ? ' (new key)' : ''}`],
  ]);
  process.stdout.write('start it with: spl serve\n');
}

async function serve(flags: GlobalFlags & { foreground?: boolean }): Promise<void> {
  const ctx = commandContext(flags);
  const isChild = typeof process.send === 'function';
  const foreground = Boolean(flags.foreground) || isChild || Boolean(ctx.env.NOTIFY_SOCKET) || Boolean(ctx.env.INVOCATION_ID);
  if (foreground) return runForeground(ctx, isChild);

  ensureHome(ctx.paths);
  const args = ['serve', '--foreground'];
  for (const f of ['port', 'host', 'log-level'] as const) if (flags[f] !== undefined) args.push(`--${f}`, String(flags[f]));
  if (flags['insecure-localhost']) args.push('--insecure-localhost');
  const ready = await spawnDaemon({ entry: splEntry(), args, outputFile: ctx.paths.daemonOutput, env: ctx.env });
  if (ctx.json) return printJson(ready);
  process.stdout.write(`spl ${splVersion()} serving on ${ready.bind} (pid ${ready.pid}, ${ready.records} records)\n  socket ${ready.socket}\n  logs   ${ctx.paths.logFile}\n`);
}

async function runForeground(ctx: CommandContext, isChild: boolean): Promise<void> {
  process.umask(0o077); // the store, its WAL, logs and keys are for the service user only
  ensureHome(ctx.paths);
  writeDefaultConfig(ctx.paths);
  const logging = createLogger({ file: ctx.paths.logFile, level: ctx.config.logLevel, stdout: !isChild, pretty: Boolean(process.stdout.isTTY) });
  const logger = logging.root.child({ target: 'syncropel_instance' });
  let instance;
  try {
    instance = await startInstance({ paths: ctx.paths, config: ctx.config, logger: logging.root, adminActor: ctx.actor(), env: ctx.env, insecureLocalhost: Boolean(ctx.flags['insecure-localhost']) });
  } catch (err) {
    const e = isSplError(err) ? err : new SplError('START_FAILED', (err as Error).message, { cause: err });
    logger.error({ code: e.code, err: isSplError(err) ? undefined : err }, `start-up failed: ${e.message}`);
    logging.close();
    if (isChild) {
      reportToParent({ type: 'error', code: e.code, message: e.message, ...(e.fix ? { fix: e.fix } : {}) });
      process.exitCode = e.exitCode;
      return;
    }
    throw e;
  }
  const running = instance;
  reportToParent({ type: 'ready', pid: process.pid, bind: running.bind, socket: running.socket, records: running.log.recordCount });

  const shutdown = (reason: string): void => {
    running
      .stop(reason)
      .then(() => {
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
  process.on('SIGHUP', () => {
    try {
      const fresh = commandContext({}, ctx.env);
      logging.root.level = fresh.config.logLevel;
      logger.info({ level: fresh.config.logLevel }, 'SIGHUP: configuration re-read');
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'SIGHUP: configuration not reloaded; keeping the running settings');
    }
  });
  const crash = (err: unknown): void => {
    logger.error({ err }, 'unexpected error; exiting (acknowledged records are committed)');
    logging.close();
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

type Found = { pid: number; via: 'pid file' | 'socket' | 'port' };

/** The running instance's pid: PID file first, then ask over the socket, then the owner of the port. */
export async function findInstance(ctx: CommandContext): Promise<{ found?: Found; notes: string[] }> {
  const notes: string[] = [];
  const pidState = inspectPidFile(ctx.paths.pidFile);
  if (pidState.state === 'running') return { found: { pid: pidState.pid, via: 'pid file' }, notes };
  if (pidState.state === 'stale') notes.push(`stale PID file ${ctx.paths.pidFile}: ${pidState.reason}`);
  try {
    const client = ctx.client();
    const info = (await client.call<InstanceInfo>('GET', '/v1/instance')).body;
    if (isSplServe(info.pid)) return { found: { pid: info.pid, via: client.target.socket ? 'socket' : 'port' }, notes };
  } catch {
    // not answering; try the port
  }
  const holder = tcpPortHolder(ctx.config.port);
  if (holder) {
    // Only an instance holding this home's lock is ours: another home's instance may own the port.
    if (isSplServe(holder.pid) && holdsFile(holder.pid, ctx.paths.lockFile)) return { found: { pid: holder.pid, via: 'port' }, notes };
    notes.push(`port ${ctx.config.port} is held by pid ${holder.pid} (${holder.command}), which is not this home's spl serve; not touching it`);
  }
  return { notes };
}

async function stop(ctx: CommandContext, timeoutSecs: number): Promise<void> {
  const { found, notes } = await findInstance(ctx);
  for (const n of notes) process.stderr.write(`spl: ${n}\n`);
  if (!found) {
    throw new SplError('NOT_RUNNING', `not running: no live PID file at ${ctx.paths.pidFile}, nothing answering on ${ctx.paths.socket} or port ${ctx.config.port}`);
  }
  if (found.via !== 'pid file') process.stderr.write(`spl: the PID file is missing; found the instance (pid ${found.pid}) through its ${found.via}\n`);
  process.kill(found.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutSecs * 1000;
  while (processAlive(found.pid)) {
    if (Date.now() > deadline) {
      throw new SplError('UNAVAILABLE', `pid ${found.pid} is still running ${timeoutSecs}s after SIGTERM`, { fix: `check logs/spl.log; as a last resort: kill -9 ${found.pid}` });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (ctx.json) printJson({ stopped: true, pid: found.pid, found_via: found.via });
  else process.stdout.write(`stopped spl (pid ${found.pid})\n`);
}

async function status(ctx: CommandContext): Promise<void> {
  let info: InstanceInfo;
  try {
    info = (await ctx.client().call<InstanceInfo>('GET', '/v1/instance')).body;
  } catch (err) {
    if (!isSplError(err) || err.code !== 'NOT_RUNNING') throw err;
    const pid = inspectPidFile(ctx.paths.pidFile);
    const detail = pid.state === 'stale' ? `stale PID file ${ctx.paths.pidFile} (${pid.reason})` : pid.state === 'running' ? `pid ${pid.pid} is alive but not answering` : 'no PID file';
    if (ctx.json) printJson({ status: 'not running', version: splVersion(), home: ctx.paths.home, detail });
    else process.stdout.write(`spl is not running (${detail})\n  home  ${ctx.paths.home}\nstart it with: spl serve\n`);
    process.exitCode = 3;
    return;
  }
  if (ctx.json) return printJson(info);
  process.stdout.write(`spl is running: ok\n`);
  printFields([
    ['version', info.version],
    ['pid', info.pid],
    ['uptime', formatDuration(info.uptime_secs)],
    ['records', info.records],
    ['threads', info.threads],
    ['store', info.store],
    ['bind', info.bind],
    ['socket', info.socket],
    ['instance', info.instance_did],
  ]);
}

