// The fleet as the coordinator sees it (SPEC §12, the runbook's "Multi-instance fleet operations"): spl fleet
// list | status [--live] | show <did> | ping <did>, with the runbook's output; -o json everywhere. Run against the
// coordinator (its home, or SPL_SERVE_URL).

import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import type { FleetFreezeView, FleetMemberView, FleetStatusView } from '../../kernel/wire.js';
import type { FleetRequestError } from '../../fleet/client.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { formatDuration, printJson, printTable } from '../output.js';

interface FleetFlags extends GlobalFlags {
  live?: boolean;
}

const counts = (s: FleetStatusView): string => `${s.counts.live} live · ${s.counts.stale} stale · ${s.counts.archived} archived${s.counts.left ? ` · ${s.counts.left} left` : ''}`;
/** `ns (soft)`, `ns (hard)`, `ns (hard in 30s)`, with `from the coordinator` for one a worker was told of. */
const freezeText = (f: FleetFreezeView): string =>
  `${f.namespace} (${f.level}${f.hard_in_secs ? ` in ${f.hard_in_secs}s` : ''}${f.source === 'coordinator' ? ', from the coordinator' : ''})`;

const status = async (ctx: CommandContext): Promise<FleetStatusView> => (await ctx.client().call<FleetStatusView>('GET', '/v1/fleet/status')).body;

export function register(prog: Sade): void {
  registerStart(prog);
  registerStop(prog);
  prog
    .command('fleet list')
    .describe('The instances the coordinator knows: DID ENDPOINT STATUS VERSION UPTIME HEALTH, then the counts')
    .example('fleet list')
    .action(async (flags: FleetFlags) => {
      const ctx = commandContext(flags);
      const s = await status(ctx);
      if (ctx.json) return printJson(s.instances);
      printTable(['DID', 'ENDPOINT', 'STATUS', 'VERSION', 'UPTIME', 'HEALTH'], s.instances.map((m) => [m.did, m.endpoint ?? '-', m.status, m.version || '-', formatDuration(Math.floor(m.uptime_secs)), m.health]));
      process.stdout.write(`${counts(s)}\n`);
    });

  prog
    .command('fleet status')
    .describe('Coordinator URL, heartbeat interval, instance counts, freezes and the emergency stop')
    .option('--live', 'Refresh every heartbeat interval until interrupted')
    .example('fleet status --live')
    .action(async (flags: FleetFlags) => {
      const ctx = commandContext(flags);
      for (;;) {
        const s = await status(ctx);
        if (ctx.json) printJson(s);
        else {
          if (flags.live) process.stdout.write(`\n${new Date().toISOString()}\n`);
          process.stdout.write(`Fleet status\nCoordinator URL: ${s.coordinator_url}\nHeartbeat: every ${s.heartbeat_interval_secs}s\nInstances: ${counts(s)}\nActive freezes: ${s.freezes.length ? s.freezes.map(freezeText).join(', ') : '(none)'}\nEmergency stop: ${s.emergency_stop ? `ACTIVE${s.emergency_stop.reason ? ` (${s.emergency_stop.reason})` : ''}` : 'inactive'}\n`);
        }
        if (!flags.live) return;
        await new Promise((r) => setTimeout(r, s.heartbeat_interval_secs * 1000));
      }
    });

  prog
    .command('fleet show <did>')
    .describe('One instance: endpoint, status, version, uptime, health, active dispatches, store records, last heartbeat')
    .example('fleet show did:sync:instance:923a4e6d10646e27')
    .action(async (did: string, flags: FleetFlags) => {
      const ctx = commandContext(flags);
      const m = (await ctx.client().call<FleetMemberView>('GET', `/v1/fleet/instances/${encodeURIComponent(String(did))}`)).body;
      if (ctx.json) return printJson(m);
      process.stdout.write([
        `Instance: ${m.did}`, `Endpoint: ${m.endpoint ?? '-'}`, `Status: ${m.status}`, `Version: ${m.version || '-'}`, `Uptime: ${formatDuration(Math.floor(m.uptime_secs))}`,
        `Health: ${m.health}`, `Active dispatches: ${m.active_dispatches}`, `Store records: ${m.store_records}`, `Last heartbeat: ${Math.floor(Date.parse(m.last_heartbeat) / 1000)} (unix)`,
      ].join('\n') + '\n');
    });

  prog
    .command('fleet ping <did>')
    .describe('Reachability and latency of one instance, through its /health')
    .example('fleet ping did:sync:instance:923a4e6d10646e27')
    .action(async (did: string, flags: FleetFlags) => ping(commandContext(flags), String(did)));
}

async function ping(ctx: CommandContext, did: string): Promise<void> {
  const m = (await ctx.client().call<FleetMemberView>('GET', `/v1/fleet/instances/${encodeURIComponent(did)}`)).body;
  if (!m.endpoint) throw new SplError('INVALID_REQUEST', `${did} advertises no endpoint`, { fix: 'set [fleet] advertised_endpoint in its config.toml' });
  // An https:// endpoint is verified against this home's [fleet] ca_file (the system's CAs without one).
  const { fleetRequest } = await import('../../fleet/client.js');
  const health = (): ReturnType<typeof fleetRequest> => fleetRequest(new URL('/health', m.endpoint!), { method: 'GET', caFile: ctx.config.fleet.caFile, timeoutMs: 5000 });
  let outcome: { ok: boolean; line: string; fix?: string };
  try {
    // The first request also loads the HTTP client; the second is the instance's latency (connection included).
    await health();
    const t0 = performance.now();
    const res = await health();
    const ms = Math.round(performance.now() - t0);
    const ok = res.status >= 200 && res.status < 300;
    outcome = ok ? { ok: true, line: `✓ ${did} reachable in ${ms}ms (${res.status} ${res.statusText})` } : { ok: false, line: `✗ ${did} answered ${res.status} ${res.statusText} in ${ms}ms at ${m.endpoint}` };
  } catch (err) {
    const e = err as Partial<FleetRequestError> & Error;
    outcome = { ok: false, line: `✗ ${did} unreachable at ${m.endpoint}: ${e.short ?? e.message}`, ...(e.fix ? { fix: e.fix } : {}) };
  }
  if (ctx.json) printJson({ did, endpoint: m.endpoint, reachable: outcome.ok, line: outcome.line, ...(outcome.fix ? { fix: outcome.fix } : {}) });
  else process.stdout.write(`${outcome.line}\n${outcome.fix ? `fix: ${outcome.fix}\n` : ''}`);
  if (!outcome.ok) process.exitCode = 1;
}

interface StartFlags extends FleetFlags {
  workers?: string | number;
  share?: boolean;
}

/**
 * SHARED threads a new worker starts with (--share, the default). The fleet's freezes (th_fleet_control) are not
 * copied as records — copies would be the worker's own, which spl unkill on the coordinator could not lift — they
 * reach it in the reply to its first heartbeat (before fleet start reports it converged) and it keeps the last
 * ones it was sent across restarts.
 */
const SHARED = ['th_engine_config', 'th_actor_registry'];

const tilde = (p: string, env: NodeJS.ProcessEnv): string => (env.HOME && p.startsWith(env.HOME + '/') ? `~${p.slice(env.HOME.length)}` : p);

interface StopFlags extends FleetFlags {
  instance?: string;
  workers?: boolean;
  all?: boolean;
}

function registerStop(prog: Sade): void {
  prog
    .command('fleet stop')
    .describe('Stop local fleet members gracefully (each sends a final heartbeat and is recorded as left): --instance NAME, --workers, or --all (workers, then the coordinator)')
    .option('--instance', 'One member: worker-a, worker-b, … or coordinator')
    .option('--workers', 'Every worker')
    .option('--all', 'Every worker, then the coordinator')
    .example('fleet stop --instance worker-a')
    .action(async (flags: StopFlags) => {
      const ctx = commandContext(flags);
      const picked = [flags.instance !== undefined, Boolean(flags.workers), Boolean(flags.all)].filter(Boolean).length;
      if (picked !== 1) throw new SplError('USAGE', 'fleet stop needs exactly one of --instance NAME, --workers, --all');
      const { existingWorkers, stopMember } = await import('../../instance/fleet-launcher.js');
      const workers = existingWorkers(ctx.paths.home);
      const members = flags.instance !== undefined
        ? [...workers, { name: 'coordinator', paths: ctx.paths }].filter((m) => m.name === String(flags.instance))
        : [...workers, ...(flags.all ? [{ name: 'coordinator', paths: ctx.paths }] : [])];
      if (members.length === 0) throw new SplError('USAGE', `no fleet member ${String(flags.instance ?? '')} beside ${ctx.paths.home}`, { fix: `members: ${['coordinator', ...workers.map((w) => w.name)].join(', ')}` });
      for (const m of members) {
        const pid = await stopMember(m.paths, 60);
        process.stdout.write(pid === null ? `[${m.name}] not running (home=${tilde(m.paths.home, ctx.env)})\n` : `[${m.name}] stopped PID ${pid} (home=${tilde(m.paths.home, ctx.env)})\n`);
      }
    });
}

function registerStart(prog: Sade): void {
  prog
    .command('fleet start')
    .describe('Boot a local fleet: this home as the coordinator (started if not running) and N workers in <home>-worker-a… on :9201…; waits up to 30 s for all to be live')
    .option('--workers', 'How many workers', 2)
    .option('--share', 'Copy th_engine_config and th_actor_registry to workers started now (--no-share: do not); the fleet\'s freezes reach every worker with its first heartbeat', true)
    .example('fleet start --workers 2')
    .action(async (flags: StartFlags) => startFleet(commandContext(flags), flags));
}

async function startFleet(ctx: CommandContext, flags: StartFlags): Promise<void> {
  const n = Number(flags.workers ?? 2);
  if (!Number.isInteger(n) || n < 1 || n > 26) throw new SplError('USAGE', `--workers must be a whole number from 1 to 26 (got ${flags.workers})`);
  const { workerMembers, startMember } = await import('../../instance/fleet-launcher.js');
  const { splEntry } = await import('../context.js');
  process.stdout.write(`Starting local fleet: 1 coordinator + ${n} worker${n === 1 ? '' : 's'}\n`);
  const coordinator = { name: 'coordinator', paths: ctx.paths, config: ctx.config, env: ctx.env };
  const say = (name: string, r: { pid: number; started: boolean }, port: number, home: string): void => {
    process.stdout.write(`[${name}] ${r.started ? 'spawned' : 'already running'} PID ${r.pid} on :${port} (home=${tilde(home, ctx.env)})\n`);
  };
  say('coordinator', await startMember(coordinator, splEntry()), ctx.config.port, ctx.paths.home);
  const client = ctx.client();
  let minted: string | undefined;
  const token = async (): Promise<string | undefined> => {
    minted ??= ctx.config.fleet.token ?? (await client.call<{ token: string }>('POST', '/v1/tokens', { name: `fleet-${Date.now()}` })).body.token;
    return minted;
  };
  const workers = await workerMembers(coordinator, n, token);
  const dids: Array<{ name: string; did: string }> = [];
  for (const w of workers) {
    for (const note of w.notes) process.stderr.write(`spl: ${note}\n`);
    const r = await startMember(w, splEntry());
    say(w.name, r, w.config.port, w.paths.home);
    const { connect } = await import('../../client/client.js');
    const wc = connect({ socket: w.paths.socket, tokenFile: w.paths.tokenFile, env: { ...w.env, SPL_SERVE_URL: '' } });
    if (r.started && flags.share !== false) await share(client, wc);
    dids.push({ name: w.name, did: (await wc.call<{ instance_did: string }>('GET', '/v1/instance')).body.instance_did });
  }
  process.stdout.write(`Waiting for fleet convergence (${n + 1} live)...\n`);
  const missing = await converge(client, dids, 30_000);
  if (missing.length > 0) {
    throw new SplError('UNAVAILABLE', `the fleet did not converge within 30 s: ${missing.join(', ')}`, { fix: 'spl fleet list; the worker\'s log (its home\'s logs/spl.log) says why its heartbeats fail' });
  }
  process.stdout.write('✓ fleet converged\nFleet ready. Inspect with:\n  spl fleet list\n  spl fleet status\n');
}

/** Copies the shared threads' records from the coordinator to a new worker (ids and clocks kept). */
async function share(from: ReturnType<CommandContext['client']>, to: ReturnType<CommandContext['client']>): Promise<void> {
  for (const thread of SHARED) {
    let after = 0;
    for (;;) {
      const page = (await from.call<{ data: Array<Record<string, unknown> & { sequence: number }> }>('GET', `/v1/records?thread=${thread}&after_sequence=${after}&limit=500`)).body.data;
      if (page.length === 0) break;
      await to.call('POST', '/v1/records', page.map(({ sequence: _s, created_at: _c, ...r }) => r));
      after = page.at(-1)!.sequence;
    }
  }
}

/** Polls the coordinator until every worker is live; the ones that are not, named, after `ms`. */
async function converge(client: ReturnType<CommandContext['client']>, dids: Array<{ name: string; did: string }>, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = (await client.call<FleetStatusView>('GET', '/v1/fleet/status')).body;
    const byDid = new Map(s.instances.map((m) => [m.did, m.status]));
    const missing = dids.filter((d) => byDid.get(d.did) !== 'live').map((d) => `${d.name} (${d.did}: ${byDid.get(d.did) ?? 'no heartbeat yet'})`);
    if (missing.length === 0 || Date.now() > deadline) return missing;
    await new Promise((r) => setTimeout(r, 250));
  }
}
