// Instance lifecycle: init, serve, stop, restart, status, version.

import type { Sade } from 'sade';
import { SplError, isSplError } from '../../kernel/errors.js';
import { writeDefaultConfigToml } from '../../instance/config-file.js';
import { ensureHome } from '../../instance/home.js';
import type { InstanceInfo } from '../../kernel/wire.js';
import { inspectPidFile } from '../../instance/pidfile.js';
import { splVersion } from '../../instance/version.js';
import { SCHEMA_VERSION } from '../../store/schema.js';
import { existsSync } from 'node:fs';
import { commandContext, splEntry, type CommandContext, type GlobalFlags } from '../context.js';
import { formatDuration, printFields, printJson } from '../output.js';

export function register(prog: Sade): void {
  prog
    .command('init')
    .describe('Create the home (config.toml, instance key, store, task data directory) without starting')
    .action(async (flags: GlobalFlags) => init(commandContext(flags)));
  registerServe(prog);
  registerStopReload(prog);
  registerInfo(prog);
}

function registerServe(prog: Sade): void {
  prog
    .command('serve')
    .describe('Start the instance in the background and return once it is ready')
    .option('--foreground', 'Stay in the foreground (automatic under systemd)')
    .option('--port', 'TCP port (default 9100)')
    .option('--host', 'Address to bind (default 127.0.0.1; beyond loopback only with TCP auth on, e.g. 0.0.0.0 in a container)')
    .option('--log-level', 'error | warn | info | debug | trace')
    .option('--insecure-localhost', 'Accept TCP requests without a bearer token (loopback only; logs a WARN)')
    .option('--new-store', 'Start an empty store on purpose where hub.db is missing (refused otherwise; recorded in the log)')
    .option('--rebuild', 'Derive every fold from the store in full, ignoring the fold checkpoint (hub.db.folds)')
    .option('--daemon', 'Start in the background (the default; the upstream spelling)')
    .option('--stop', 'Stop the running instance instead (the same as spl stop)')
    .example('serve')
    .example('serve --foreground --log-level debug')
    .example('serve --stop')
    .action(async (flags: GlobalFlags & { foreground?: boolean; daemon?: boolean; stop?: boolean }) => {
      if (flags.stop) {
        if (flags.foreground || flags.daemon) throw new SplError('USAGE', '--stop stops the instance; it does not combine with --foreground or --daemon');
        return stop(commandContext(flags), 30);
      }
      if (flags.daemon && flags.foreground) throw new SplError('USAGE', '--daemon and --foreground contradict each other; give one');
      await serve(flags);
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
}

function registerStopReload(prog: Sade): void {
  prog
    .command('stop')
    .describe('Stop the instance gracefully (finds it through the socket or port if the PID file is gone)')
    .option('--timeout', 'Seconds to wait for a graceful exit', 30)
    .example('stop')
    .example('stop --timeout 120')
    .action(async (flags: GlobalFlags & { timeout?: number }) => {
      await stop(commandContext(flags), Number(flags.timeout ?? 30));
    });

  prog
    .command('reload')
    .describe('Re-read config.toml (log level) in the running instance: SIGHUP, then wait until it has applied')
    .option('--pid', 'The instance\'s pid, when known (systemd: $MAINPID); checked against the instance')
    .option('--timeout', 'Seconds to wait for the reload', 30)
    .example('reload')
    .example('reload --pid $MAINPID')
    .action(async (flags: GlobalFlags & { pid?: number; timeout?: number }) => {
      await reload(commandContext(flags), flags.pid === undefined ? undefined : Number(flags.pid), Number(flags.timeout ?? 30));
    });
}

function registerInfo(prog: Sade): void {
  prog
    .command('status')
    .describe('Show whether the instance runs, with version, pid, uptime, records and binds (exit 3 when not running)')
    .example('status')
    .example('status -o json')
    .action(async (flags: GlobalFlags) => status(commandContext(flags)));

  prog
    .command('version')
    .describe('Print the spl version and the schema version of the store')
    .example('version -o json')
    .action(async (flags: GlobalFlags) => version(commandContext(flags)));
}

/** The binary's version and the store's schema version, read without a quick_check (status and doctor check the store). */
async function version(ctx: CommandContext): Promise<void> {
  // The store driver is loaded only when there is a store to read.
  const store = existsSync(ctx.config.storePath) ? await (await import('../../store/inspect.js')).inspectStore(ctx.config.storePath, { schemaOnly: true }) : undefined;
  const readable = store !== undefined && (store.state === 'sound' || store.state === 'too-new');
  const storeVersion = readable ? store.schemaVersion : null;
  if (ctx.json) return printJson({ version: splVersion(), schema_version: SCHEMA_VERSION, store: ctx.config.storePath, store_schema_version: storeVersion });
  process.stdout.write(`spl ${splVersion()}\n`);
  const detail = store === undefined ? 'no store yet' : readable ? `schema ${storeVersion}` : `unreadable (${store.problems[0] ?? '?'})`;
  process.stdout.write(`store ${ctx.config.storePath}: ${detail}; this binary understands schema ${SCHEMA_VERSION}\n`);
}

async function init(ctx: CommandContext): Promise<void> {
  process.umask(0o077);
  // A home whose store went missing is not a new home: init must not hand spl serve an empty store to serve.
  // Loaded by the commands that use them: the store driver and the daemon spawner are not every command's cost.
  const { refuseEmptyStart } = await import('../../instance/store-guard.js');
  const { RecordLog } = await import('../../store/record-log.js');
  const { ensureIdentity } = await import('../../instance/identity.js');
  await refuseEmptyStart(ctx.paths, ctx.config.storePath, ctx.config.backup.dest, ctx.env, Date.now());
  ensureHome(ctx.paths);
  const wroteConfig = writeDefaultConfigToml(ctx.paths);
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
      insecureLocalhost: Boolean(ctx.flags['insecure-localhost']), newStore: Boolean(ctx.flags['new-store']), rebuild: Boolean(ctx.flags.rebuild),
      reread: () => commandContext(ctx.flags, ctx.env).config,
    });
  }

  const { checkServeConfig } = await import('../../instance/serve-config.js');
  checkServeConfig(ctx.paths, ctx.config, { insecureLocalhost: Boolean(ctx.flags['insecure-localhost']) }); // before the home is created: nothing is half-made for a config that cannot serve
  ensureHome(ctx.paths);
  const args = ['serve', '--foreground'];
  for (const f of ['port', 'host', 'log-level'] as const) if (flags[f] !== undefined) args.push(`--${f}`, String(flags[f]));
  if (flags['insecure-localhost']) args.push('--insecure-localhost');
  if (flags['new-store']) args.push('--new-store');
  if (flags.rebuild) args.push('--rebuild');
  const { spawnDaemon } = await import('../../instance/daemon.js');
  const ready = await spawnDaemon({ entry: splEntry(), args, outputFile: ctx.paths.daemonOutput, env: ctx.env, checkStore: ctx.config.storePath });
  if (ctx.json) return printJson(ready);
  process.stdout.write(`spl ${splVersion()} serving on ${ready.bind} (pid ${ready.pid}, ${ready.records} records)\n  socket ${ready.socket}\n  logs   ${ctx.paths.logFile}\n`);
}

async function stop(ctx: CommandContext, timeoutSecs: number): Promise<void> {
  const [{ runningInstance }, { stopRunning }] = await Promise.all([import('../running.js'), import('../../instance/control.js')]);
  const { found, notes } = await runningInstance(ctx);
  for (const n of notes) process.stderr.write(`spl: ${n}\n`);
  if (!found) {
    throw new SplError('NOT_RUNNING', `not running: no live PID file at ${ctx.paths.pidFile}, nothing answering on ${ctx.paths.socket} or port ${ctx.config.port}`);
  }
  if (found.via !== 'pid file') process.stderr.write(`spl: the PID file is missing; found the instance (pid ${found.pid}) through its ${found.via}\n`);
  const { leftovers } = await stopRunning(ctx.paths, found, timeoutSecs);
  const note = leftovers.length > 0 ? `it exited without removing ${leftovers.join(' and ')}, removed now; see ${ctx.paths.logFile}` : undefined;
  if (ctx.json) printJson({ stopped: true, pid: found.pid, found_via: found.via, ...(note ? { note } : {}) });
  else process.stdout.write(`stopped spl (pid ${found.pid})${note ? `; ${note}` : ''}\n`);
}

async function reload(ctx: CommandContext, pidFlag: number | undefined, timeoutSecs: number): Promise<void> {
  const { reloadRunning } = await import('../../instance/control.js');
  const client = ctx.client();
  const outcome = await reloadRunning(ctx.paths, async () => (await client.call<InstanceInfo>('GET', '/v1/instance')).body, pidFlag, timeoutSecs);
  if (ctx.json) printJson({ reloaded: outcome.ok, ...outcome });
  else if (outcome.ok) process.stdout.write(`reloaded spl (pid ${outcome.pid}): log level ${outcome.log_level}\n`);
  if (!outcome.ok) {
    throw new SplError('INVALID_CONFIG', `reload failed, the instance keeps its running settings: ${outcome.error ?? 'unknown error'}`, { fix: `fix ${ctx.paths.config}, then spl reload` });
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
  const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
  process.stdout.write(`spl is running: ok\n`);
  printFields([
    ['version', info.version],
    ['pid', info.pid],
    ['uptime', formatDuration(info.uptime_secs)],
    ['records', info.records],
    ['threads', info.threads],
    ...(info.dispatches ? [['dispatches', `${info.dispatches.running} running, ${info.dispatches.queued} queued`] as [string, string]] : []),
    ...(info.memory ? [['memory', `rss ${mib(info.memory.rss_bytes)}, heap ${mib(info.memory.heap_used_bytes)} (spl status -o json: each fold's size)`] as [string, string]] : []),
    ['store', info.store],
    ['bind', info.bind],
    ['socket', info.socket],
    ['instance', info.instance_did],
  ]);
}

