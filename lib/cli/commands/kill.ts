// The fleet's kill switch (SPEC §12): spl kill freezes a namespace (soft: no INTEND, DO or CALL; hard: no writes
// once its grace runs out) or sets the emergency stop (only reads, KNOW and LEARN; running workers interrupted);
// spl unkill lifts either. Each is a LEARN `topic: freeze` on th_fleet_control; a coordinator carries what is in
// force to its workers with every heartbeat reply.

import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import type { StoredRecord } from '../../kernel/record.js';
import type { FleetStatusView } from '../../kernel/wire.js';
import { FLEET_CONTROL_THREAD, FREEZE_LEVELS, freezeBody, NAMESPACE_PATTERN, type FreezeLevel } from '../../fleet/control.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { printJson } from '../output.js';

interface KillFlags extends GlobalFlags {
  namespace?: string | number | boolean;
  level?: string;
  grace?: string | number;
  reason?: string;
  emergency?: boolean;
}

export function register(prog: Sade): void {
  prog
    .command('kill')
    .describe('Freeze a namespace across the fleet (soft: INTEND, DO and CALL refused; hard: every write, after --grace) or set the emergency stop')
    .option('--namespace', 'The namespace to freeze: a record\'s body.namespace or body.domain, or its named thread th_<ns>…')
    .option('--level', 'soft or hard', 'soft')
    .option('--grace', 'Seconds before a hard freeze refuses every write', 0)
    .option('--reason', 'Why (shown to everyone refused)')
    .option('--emergency', 'The emergency stop: only reads, KNOW and LEARN anywhere; running workers are interrupted')
    .example('kill --namespace payments --reason "bad deploy"')
    .example('kill --namespace payments --level hard --grace 60')
    .example('kill --emergency --reason "runaway agents"')
    .action(async (flags: KillFlags) => kill(commandContext(flags), flags));

  prog
    .command('unkill')
    .describe('Lift a namespace freeze or the emergency stop')
    .option('--namespace', 'The namespace to unfreeze')
    .option('--emergency', 'Lift the emergency stop')
    .example('unkill --namespace payments')
    .example('unkill --emergency')
    .action(async (flags: KillFlags) => unkill(commandContext(flags), flags));
}

function namespaceOf(flags: KillFlags, verb: string): string | undefined {
  if (flags.emergency && flags.namespace !== undefined) throw new SplError('USAGE', `spl ${verb} takes --namespace NS or --emergency, not both`);
  if (flags.emergency) return undefined;
  // sade reads `--namespace 2024` as a number; a bare `--namespace` as true.
  if (flags.namespace === undefined || typeof flags.namespace === 'boolean') {
    throw new SplError('USAGE', `spl ${verb} needs --namespace NS or --emergency`, { fix: `spl ${verb} --namespace payments` });
  }
  const ns = String(flags.namespace);
  if (!NAMESPACE_PATTERN.test(ns)) throw new SplError('USAGE', `--namespace ${ns}: a namespace is lowercase letters, digits and underscores (at most 61), starting with a letter or digit`);
  return ns;
}

async function record(ctx: CommandContext, body: Record<string, unknown>): Promise<StoredRecord> {
  return (await ctx.client().call<StoredRecord>('POST', '/v1/records', { thread: FLEET_CONTROL_THREAD, actor: ctx.actor(), act: 'LEARN', body })).body;
}

async function kill(ctx: CommandContext, flags: KillFlags): Promise<void> {
  const ns = namespaceOf(flags, 'kill');
  const reason = typeof flags.reason === 'string' && flags.reason !== '' ? flags.reason : undefined;
  if (ns === undefined) {
    if (!reason) throw new SplError('USAGE', 'spl kill --emergency needs --reason TEXT: everyone refused is told why', { fix: 'spl kill --emergency --reason "runaway agents"' });
    const r = await record(ctx, freezeBody({ emergency: true, reason, active: true }));
    if (ctx.json) return printJson(r);
    process.stdout.write(`✓ emergency stop recorded (${reason}): only reads, KNOW and LEARN are accepted; running workers are interrupted\n  the fleet's workers get it with their next heartbeat; spl unkill --emergency lifts it\n`);
    return;
  }
  const level = String(flags.level ?? 'soft') as FreezeLevel;
  if (!(FREEZE_LEVELS as readonly string[]).includes(level)) throw new SplError('USAGE', `--level must be soft or hard (got ${level})`);
  const grace = Number(flags.grace ?? 0);
  if (!Number.isInteger(grace) || grace < 0) throw new SplError('USAGE', `--grace must be whole seconds ≥ 0 (got ${flags.grace})`);
  if (level === 'soft' && grace > 0) throw new SplError('USAGE', '--grace applies to a hard freeze only', { fix: `spl kill --namespace ${ns} --level hard --grace ${grace}` });
  const r = await record(ctx, freezeBody({ namespace: ns, level, graceSecs: grace, ...(reason ? { reason } : {}), active: true }));
  if (ctx.json) return printJson(r);
  const what = level === 'soft' ? 'INTEND, DO and CALL refused' : grace > 0 ? `every write refused after ${grace}s (INTEND, DO and CALL until then)` : 'every write refused';
  process.stdout.write(`✓ ${level} freeze of '${ns}' recorded (${what})\n`);
}

async function unkill(ctx: CommandContext, flags: KillFlags): Promise<void> {
  const ns = namespaceOf(flags, 'unkill');
  const status = (await ctx.client().call<FleetStatusView>('GET', '/v1/fleet/status')).body;
  if (ns === undefined) {
    const e = status.emergency_stop;
    if (!e) throw new SplError('NOT_FOUND', 'the emergency stop is not active here');
    if (e.source === 'coordinator') throw new SplError('USAGE', `the emergency stop was set on the coordinator (${status.coordinator_url}) by ${e.actor}`, { fix: 'run spl unkill --emergency on the coordinator' });
  } else {
    const f = status.freezes.find((x) => x.namespace === ns);
    if (!f) throw new SplError('NOT_FOUND', `namespace '${ns}' is not frozen here`, { fix: 'spl fleet status lists the active freezes' });
    if (f.source === 'coordinator') throw new SplError('USAGE', `the freeze of '${ns}' was set on the coordinator by ${f.actor}`, { fix: `run spl unkill --namespace ${ns} on the coordinator` });
  }
  const r = await record(ctx, freezeBody(ns === undefined ? { emergency: true, active: false } : { namespace: ns, active: false }));
  if (ctx.json) return printJson(r);
  process.stdout.write(ns === undefined ? '✓ emergency stop lifted\n' : `✓ freeze of '${ns}' lifted\n`);
}
