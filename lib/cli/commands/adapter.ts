// Adapters: spl adapter add | list | show | remove. How an actor is reached: an argv template the instance runs in
// a task's worktree, as a `claude` (Claude Code stream-json) or `exec` (any command) worker.

import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import type { AdapterView, ListBody } from '../../kernel/wire.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { printFields, printJson, printTable } from '../output.js';

interface AdapterFlags extends GlobalFlags {
  command?: string;
  binary?: string;
  family?: string;
  'max-concurrent'?: string | number;
  timeout?: string | number;
  'line-timeout'?: string | number;
  env?: string | string[];
  domain?: string | string[];
}

const path = (did: string): string => `/v1/adapters/${encodeURIComponent(did)}`;

function int(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new SplError('USAGE', `${flag} must be a whole number ≥ 1 (got ${v})`);
  return n;
}

function envOf(v: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of [v ?? []].flat().map(String)) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new SplError('USAGE', `--env takes K=V (got ${kv})`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export function register(prog: Sade): void {
  prog
    .command('adapter add <did>')
    .describe('Add (or replace) the adapter that reaches an actor: a command run in the task\'s worktree. Placeholders: {brief} {worktree} {alias} {thread}')
    .option('--command', 'The argv template, run without a shell (claude family default: claude -p --verbose --output-format stream-json)')
    .option('--family', 'claude (Claude Code stream-json, brief on stdin) or exec (any command; JSON lines are events, its exit status decides); cli means exec', 'exec')
    .option('--max-concurrent', 'Workers of this adapter at once; more wait in order', 1)
    .option('--timeout', 'Wall-clock deadline per run, in seconds', 1800)
    .option('--line-timeout', 'Longest silence on stdout, in seconds', 600)
    .option('--env', 'K=V for the worker (repeatable); K=@secret:NAME reads <home>/secrets/NAME at spawn')
    .option('--domain', 'A domain this actor takes work in, for spl run routing (repeatable; default any)')
    .example("adapter add did:sync:agent:claude --family claude --command 'claude -p --verbose --output-format stream-json --permission-mode acceptEdits' --max-concurrent 1")
    .example("adapter add did:sync:agent:script --command './agent.sh {brief}' --timeout 600")
    .action(async (did: string, flags: AdapterFlags) => add(commandContext(flags), String(did), flags));

  prog
    .command('adapter list')
    .describe('List adapters (DID FAMILY MAX TIMEOUT LINE-TIMEOUT RUNNING QUEUED COMMAND)')
    .example('adapter list -o json')
    .action(async (flags: AdapterFlags) => list(commandContext(flags)));

  prog
    .command('adapter show <did>')
    .describe('Show one adapter, whether its command is found on the instance\'s PATH, and its workers now')
    .example('adapter show did:sync:agent:claude')
    .action(async (did: string, flags: AdapterFlags) => show(commandContext(flags), String(did)));

  prog
    .command('adapter remove <did>')
    .describe('Remove an adapter (running workers finish; nothing new is dispatched to it)')
    .example('adapter remove did:sync:agent:claude')
    .action(async (did: string, flags: AdapterFlags) => {
      const ctx = commandContext(flags);
      const r = (await ctx.client().call<{ did: string; record: string }>('DELETE', path(String(did)))).body;
      if (ctx.json) return printJson(r);
      process.stdout.write(`adapter ${r.did} removed (record ${r.record})\n`);
    });
}

async function add(ctx: CommandContext, did: string, flags: AdapterFlags): Promise<void> {
  const family = String(flags.family ?? 'exec');
  const command = flags.command ?? flags.binary;
  if (command === undefined && family !== 'claude') throw new SplError('USAGE', 'adapter add needs --command \'<argv template>\' (or --family claude for the default claude command)');
  const body = {
    did, family,
    ...(command !== undefined ? { command: String(command) } : {}),
    ...(int(flags['max-concurrent'], '--max-concurrent') !== undefined ? { max_concurrent: int(flags['max-concurrent'], '--max-concurrent') } : {}),
    ...(int(flags.timeout, '--timeout') !== undefined ? { timeout_secs: int(flags.timeout, '--timeout') } : {}),
    ...(int(flags['line-timeout'], '--line-timeout') !== undefined ? { line_timeout_secs: int(flags['line-timeout'], '--line-timeout') } : {}),
    env: envOf(flags.env),
    ...(flags.domain !== undefined ? { domains: [flags.domain].flat().map(String) } : {}),
  };
  const a = (await ctx.client().call<AdapterView & { replaced: boolean }>('POST', '/v1/adapters', body)).body;
  if (ctx.json) return printJson(a);
  process.stdout.write(`adapter ${a.did} ${a.replaced ? 'replaced' : 'added'} (${a.family}, max_concurrent ${a.max_concurrent}, timeout ${a.timeout_secs}s, line timeout ${a.line_timeout_secs}s)\n  command  ${a.argv.join(' ')}\n`);
  if (!a.command_found) process.stderr.write(`spl: warning: ${a.argv[0]} is not an executable on the instance's PATH; a dispatch to ${a.did} would fail to start (spl doctor checks this too)\n`);
}

async function list(ctx: CommandContext): Promise<void> {
  const data = (await ctx.client().call<ListBody<AdapterView>>('GET', '/v1/adapters')).body.data;
  if (ctx.json) return printJson(data);
  if (data.length === 0) {
    process.stdout.write('no adapters; add one with spl adapter add <did> --command \'…\'\n');
    return;
  }
  printTable(['DID', 'FAMILY', 'MAX', 'TIMEOUT', 'LINE-TIMEOUT', 'RUNNING', 'QUEUED', 'COMMAND'], data.map((a) => [a.did, a.family, a.max_concurrent, `${a.timeout_secs}s`, `${a.line_timeout_secs}s`, a.running, a.queued, `${a.command}${a.command_found ? '' : '  (NOT FOUND)'}`]));
}

async function show(ctx: CommandContext, did: string): Promise<void> {
  const a = (await ctx.client().call<AdapterView>('GET', path(did))).body;
  if (ctx.json) return printJson(a);
  printFields([
    ['did', a.did],
    ['family', a.family],
    ['command', a.command],
    ['argv', JSON.stringify(a.argv)],
    ['found', a.command_found ? `yes (${a.argv[0]})` : `NO: ${a.argv[0]} is not an executable on the instance's PATH`],
    ['max_concurrent', a.max_concurrent],
    ['timeout', `${a.timeout_secs}s`],
    ['line timeout', `${a.line_timeout_secs}s`],
    ['env', a.env.length ? a.env.join(', ') : '-'],
    ['domains', a.domains.length ? a.domains.join(', ') : 'any'],
    ['workers', `${a.running} running, ${a.queued} queued`],
    ['record', `${a.record} (${a.updated_at})`],
  ]);
}
