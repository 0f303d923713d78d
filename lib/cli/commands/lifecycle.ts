// Instance lifecycle: init, serve, stop, restart, status, version.

import type { Sade } from 'sade';
import { SplError, isSplError } from '../../kernel/errors.js';
import { writeDefaultConfig } from '../../instance/config.js';
import { ensureHome } from '../../instance/home.js';
import { ensureIdentity } from '../../instance/identity.js';
import { checkServeConfig } from '../../instance/serve-config.js';
import { HomeLock } from '../../instance/lock.js';
import type { InstanceInfo } from '../../kernel/wire.js';
import { inspectPidFile, isSplServe, processAlive, readPidFile } from '../../instance/pidfile.js';
import { holdsFile, tcpPortHolder } from '../../instance/port-owner.js';
import { splVersion } from '../../instance/version.js';
import { SCHEMA_VERSION } from '../../store/schema.js';
import { inspectStoreFile } from '../../store/inspect.js';
import { existsSync, rmSync } from 'node:fs';
import { commandContext, splEntry, type CommandContext, type GlobalFlags } from '../context.js';
import { formatDuration, printFields, printJson } from '../output.js';

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
    .option('--host', 'Address to bind (default 127.0.0.1; beyond loopback only with TCP auth on, e.g. 0.0.0.0 in a container)')
    .option('--log-level', 'error | warn | info | debug | trace')
    .option('--insecure-localhost', 'Accept TCP requests without a bearer token (loopback only; logs a WARN)')
    .option('--new-store', 'Start an empty store on purpose where hub.db is missing (refused otherwise; recorded in the log)')
    .action(async (flags: GlobalFlags & { foreground?: boolean }) => serve(flags));

  prog
    .command('stop')
    .describe('Stop the instance gracefully (finds it through the socket or port if the PID file is gone)')
    .option('--timeout', 'Seconds to wait for a graceful exit', 30)
    .action(async (flags: GlobalFlags & { timeout?: number }) => {
      await stop(commandContext(flags), Number(flags.timeout ?? 30));
    });

  prog
    .command('reload')
    .describe('Re-read config.toml (log level) in the running instance: SIGHUP, then wait until it has applied')
    .option('--pid', 'The instance\'s pid, when known (systemd: $MAINPID); checked against the instance')
    .option('--timeout', 'Seconds to wait for the reload', 30)
    .action(async (flags: GlobalFlags & { pid?: number; timeout?: number }) => {
      await reloadInstance(commandContext(flags), flags.pid === undefined ? undefined : Number(flags.pid), Number(flags.timeout ?? 30));
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
  // A home whose store went missing is not a new home: init must not hand spl serve an empty store to serve.
  // Loaded by the commands that use them: the store driver and the daemon spawner are not every command's cost.
  const { refuseEmptyStart } = await import('../../instance/store-guard.js');
  const { RecordLog } = await import('../../store/record-log.js');
  await refuseEmptyStart(ctx.paths, ctx.config.storePath, ctx.config.backup.dest, ctx.env, Date.now());
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
  if (foreground) {
    // The instance (koa, CEL, the folds) is loaded only by the command that runs it.
    const { superviseForeground } = await import('../../instance/supervisor.js');
    return superviseForeground({
      paths: ctx.paths, config: ctx.config, env: ctx.env, adminActor: ctx.actor(), isChild,
      insecureLocalhost: Boolean(ctx.flags['insecure-localhost']), newStore: Boolean(ctx.flags['new-store']),
      reread: () => commandContext(ctx.flags, ctx.env).config,
    });
  }

  checkServeConfig(ctx.paths, ctx.config, { insecureLocalhost: Boolean(ctx.flags['insecure-localhost']) }); // before the home is created: nothing is half-made for a config that cannot serve
  ensureHome(ctx.paths);
  const args = ['serve', '--foreground'];
  for (const f of ['port', 'host', 'log-level'] as const) if (flags[f] !== undefined) args.push(`--${f}`, String(flags[f]));
  if (flags['insecure-localhost']) args.push('--insecure-localhost');
  if (flags['new-store']) args.push('--new-store');
  const { spawnDaemon } = await import('../../instance/daemon.js');
  const ready = await spawnDaemon({ entry: splEntry(), args, outputFile: ctx.paths.daemonOutput, env: ctx.env });
  if (ctx.json) return printJson(ready);
  process.stdout.write(`spl ${splVersion()} serving on ${ready.bind} (pid ${ready.pid}, ${ready.records} records)\n  socket ${ready.socket}\n  logs   ${ctx.paths.logFile}\n`);
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
  // The instance removes its socket and PID file on the way out; one that died instead (SIGKILL, a crash) leaves
  // them, and `stopped` must not be said over files that still look like a live instance.
  let left: string[] = [];
  const lock = await HomeLock.acquire(ctx.paths.lockFile).catch(() => undefined); // free: no instance started since
  if (lock) {
    left = [ctx.paths.pidFile, ctx.paths.socket].filter((f) => (f === ctx.paths.pidFile ? readPidFile(f) === found.pid : existsSync(f)));
    for (const f of left) rmSync(f, { force: true });
    await lock.release();
  }
  const note = left.length > 0 ? `it exited without removing ${left.join(' and ')}, removed now; see ${ctx.paths.logFile}` : undefined;
  if (ctx.json) printJson({ stopped: true, pid: found.pid, found_via: found.via, ...(note ? { note } : {}) });
  else process.stdout.write(`stopped spl (pid ${found.pid})${note ? `; ${note}` : ''}\n`);
}

/**
 * Synchronous reload: note the instance's reload count, send SIGHUP, wait until the count moves. Exits 1 when
 * the instance kept its settings (an invalid config.toml), so `systemctl reload spl` reports the failure.
 */
async function reloadInstance(ctx: CommandContext, pidFlag: number | undefined, timeoutSecs: number): Promise<void> {
  if (pidFlag !== undefined && !(Number.isInteger(pidFlag) && pidFlag > 0)) throw new SplError('USAGE', `--pid must be a process id (got ${String(pidFlag)})`);
  const client = ctx.client();
  const info = async (): Promise<InstanceInfo> => (await client.call<InstanceInfo>('GET', '/v1/instance')).body;
  const before = await info();
  if (pidFlag !== undefined && before.pid !== pidFlag) {
    throw new SplError('UNAVAILABLE', `pid ${pidFlag} is not the instance serving ${ctx.paths.home} (that is pid ${before.pid})`, { fix: 'spl status shows the running instance' });
  }
  if (!before.reloads) throw new SplError('UNAVAILABLE', `the instance (pid ${before.pid}, spl ${before.version}) does not report reloads`, { fix: 'restart it to run this version: spl restart' });
  const count = before.reloads.count;
  try {
    process.kill(before.pid, 'SIGHUP');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SplError('UNAVAILABLE', `cannot signal the instance (pid ${before.pid}): ${code ?? (err as Error).message}`, {
      fix: code === 'EPERM' ? `run spl reload as the user the instance runs as (systemd: sudo systemctl reload spl)` : 'spl status',
    });
  }
  const deadline = Date.now() + timeoutSecs * 1000;
  let after = before.reloads;
  while (after.count === count) {
    if (Date.now() > deadline) throw new SplError('UNAVAILABLE', `pid ${before.pid} did not finish reloading within ${timeoutSecs}s`, { fix: `spl logs -n 50 --target syncropel_instance` });
    await new Promise((r) => setTimeout(r, 50));
    after = (await info()).reloads ?? after;
  }
  if (ctx.json) printJson({ reloaded: after.ok, pid: before.pid, ...after });
  else if (after.ok) process.stdout.write(`reloaded spl (pid ${before.pid}): log level ${after.log_level}\n`);
  if (!after.ok) {
    throw new SplError('INVALID_CONFIG', `reload failed, the instance keeps its running settings: ${after.error ?? 'unknown error'}`, { fix: `fix ${ctx.paths.config}, then spl reload` });
  }
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

