// The fleet as the coordinator sees it (SPEC §12, the runbook's "Multi-instance fleet operations"): spl fleet
// list | status [--live] | show <did> | ping <did>, with the runbook's output; -o json everywhere. Run against the
// coordinator (its home, or SPL_SERVE_URL).

import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import type { FleetMemberView, FleetStatusView } from '../../kernel/wire.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { formatDuration, printJson, printTable } from '../output.js';

interface FleetFlags extends GlobalFlags {
  live?: boolean;
}

const counts = (s: FleetStatusView): string => `${s.counts.live} live · ${s.counts.stale} stale · ${s.counts.archived} archived${s.counts.left ? ` · ${s.counts.left} left` : ''}`;
const status = async (ctx: CommandContext): Promise<FleetStatusView> => (await ctx.client().call<FleetStatusView>('GET', '/v1/fleet/status')).body;

export function register(prog: Sade): void {
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
          process.stdout.write(`Fleet status\nCoordinator URL: ${s.coordinator_url}\nHeartbeat: every ${s.heartbeat_interval_secs}s\nInstances: ${counts(s)}\nActive freezes: ${s.freezes.length ? s.freezes.length : '(none)'}\nEmergency stop: ${s.emergency ? 'ACTIVE' : 'inactive'}\n`);
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
  let outcome: { ok: boolean; line: string };
  try {
    // The first request also loads the HTTP client and opens the connection; the second is the instance's latency.
    await fetch(new URL('/health', m.endpoint), { signal: AbortSignal.timeout(5000) }).then((r) => r.arrayBuffer());
    const t0 = performance.now();
    const res = await fetch(new URL('/health', m.endpoint), { signal: AbortSignal.timeout(5000) });
    const ms = Math.round(performance.now() - t0);
    outcome = res.ok ? { ok: true, line: `✓ ${did} reachable in ${ms}ms (${res.status} ${res.statusText})` } : { ok: false, line: `✗ ${did} answered ${res.status} ${res.statusText} in ${ms}ms at ${m.endpoint}` };
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    outcome = { ok: false, line: `✗ ${did} unreachable at ${m.endpoint}: ${cause}` };
  }
  if (ctx.json) printJson({ did, endpoint: m.endpoint, reachable: outcome.ok, line: outcome.line });
  else process.stdout.write(outcome.line + '\n');
  if (!outcome.ok) process.exitCode = 1;
}
