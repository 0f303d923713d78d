// Adapters (SPEC §11): how an actor is reached — an argv template run in the task's worktree, one of two families.
// `claude`: Claude Code in print mode with stream-json output, the brief on stdin. `exec`: any command; the JSON
// lines it prints are stream events, other lines are logged, and its exit status decides success (upstream's
// `cli` family is this one). Stored as LEARN records on th_engine_config (topic `adapter`); the latest per DID
// wins, and one with `removed: true` removes it.

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SplError } from '../kernel/errors.js';
import { isDid } from '../kernel/did.js';
import type { StoredRecord } from '../kernel/record.js';
import { ENGINE_CONFIG_THREAD } from '../engine/folds/engine-config.js';
import type { Fold } from '../engine/fold.js';

export const ADAPTER_TOPIC = 'adapter';
export const FAMILIES = ['claude', 'exec'] as const;
export type Family = (typeof FAMILIES)[number];

/** The template's placeholders, filled in per dispatch. */
export const PLACEHOLDERS = ['brief', 'worktree', 'alias', 'thread'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

export const CLAUDE_COMMAND = 'claude -p --verbose --output-format stream-json';
/** Defaults: one worker at a time (the runbook's safe setting), a 10-minute silence window, a 30-minute deadline. */
export const ADAPTER_DEFAULTS = { max_concurrent: 1, line_timeout_secs: 600, timeout_secs: 1800 } as const;

export interface Adapter {
  did: string;
  family: Family;
  command: string;
  argv: string[];
  max_concurrent: number;
  timeout_secs: number;
  line_timeout_secs: number;
  env: Record<string, string>;
  /** Domains this adapter's actor takes work in (the reconciler's last step); empty means any. */
  domains: string[];
  record: string;
  actor: string;
  updated_at: string;
}

export type AdapterSpec = Omit<Adapter, 'argv' | 'record' | 'actor' | 'updated_at'>;

/** Splits a command template into argv without a shell: quotes group, a backslash escapes; shell operators are refused. */
export function parseCommand(command: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && (command[i + 1] === '"' || command[i + 1] === '\\')) cur += command[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < command.length) {
      cur += command[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else if ('|&;<>`$('.includes(c)) {
      throw new SplError('INVALID_REQUEST', `--command is run without a shell, and ${c} is a shell operator`, { field: 'command', fix: `quote it, or run a shell on purpose: --command "bash -c '…'"` });
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote !== null) throw new SplError('INVALID_REQUEST', `--command has an unclosed ${quote} quote`, { field: 'command' });
  if (inWord) out.push(cur);
  if (out.length === 0) throw new SplError('INVALID_REQUEST', '--command is empty', { field: 'command' });
  for (const arg of out) {
    for (const m of arg.matchAll(/\{([a-z_]+)\}/g)) {
      if (!(PLACEHOLDERS as readonly string[]).includes(m[1]!)) {
        throw new SplError('INVALID_REQUEST', `--command uses {${m[1]}}, which is no placeholder (they are ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`, { field: 'command' });
      }
    }
  }
  return out;
}

/** The argv of one dispatch: the template with its placeholders filled in. */
export function expandArgv(argv: readonly string[], values: Record<Placeholder, string>): string[] {
  return argv.map((a) => a.replace(/\{(brief|worktree|alias|thread)\}/g, (_, k: Placeholder) => values[k]));
}

const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)/i;

/** Checks an adapter as `spl adapter add` gives it; returns it normalised. */
export function checkAdapter(spec: AdapterSpec): AdapterSpec & { argv: string[] } {
  if (!isDid(spec.did)) throw new SplError('INVALID_REQUEST', `${spec.did} is not a DID (did:sync:agent:claude, …)`, { field: 'did' });
  if (!(FAMILIES as readonly string[]).includes(spec.family)) throw new SplError('INVALID_REQUEST', `--family must be claude or exec (upstream's cli is exec), not ${spec.family}`, { field: 'family' });
  const argv = parseCommand(spec.command);
  if (spec.family === 'claude') {
    const missing = ['--verbose', 'stream-json'].filter((w) => !argv.some((a) => a === w || a.endsWith(`=${w}`)));
    if (!argv.some((a) => a === '-p' || a === '--print')) missing.unshift('-p');
    if (missing.length > 0) {
      throw new SplError('INVALID_REQUEST', `the claude family reads stream-json from print mode, and --command lacks ${missing.join(', ')}`, { field: 'command', fix: `--command '${CLAUDE_COMMAND} …'` });
    }
  }
  for (const [k, n] of [['max_concurrent', spec.max_concurrent], ['timeout_secs', spec.timeout_secs], ['line_timeout_secs', spec.line_timeout_secs]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new SplError('INVALID_REQUEST', `${k} must be a whole number ≥ 1 (got ${String(n)})`, { field: k });
  }
  for (const [k, v] of Object.entries(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new SplError('INVALID_REQUEST', `--env ${k}: not an environment variable name`, { field: 'env' });
    if (SECRET_NAME.test(k) && !v.startsWith('@secret:')) {
      throw new SplError('INVALID_REQUEST', `--env ${k}=… would store a secret in the record log (and every backup of it)`, {
        field: 'env', fix: `put it in the instance's secrets directory (mode 0600) and pass --env ${k}=@secret:<file name>; or give it to the instance's environment (a systemd drop-in's EnvironmentFile=), which workers inherit`,
      });
    }
  }
  return { ...spec, argv };
}

/** The LEARN that adds (or replaces) an adapter. */
export function adapterDraft(actor: string, a: AdapterSpec & { argv: string[] }): { thread: string; actor: string; act: 'LEARN'; body: Record<string, unknown> } {
  return { thread: ENGINE_CONFIG_THREAD, actor, act: 'LEARN', body: { topic: ADAPTER_TOPIC, ...a } };
}

export function adapterRemoval(actor: string, did: string): { thread: string; actor: string; act: 'LEARN'; body: Record<string, unknown> } {
  return { thread: ENGINE_CONFIG_THREAD, actor, act: 'LEARN', body: { topic: ADAPTER_TOPIC, did, removed: true } };
}

const posInt = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : fallback);

function fromRecord(r: StoredRecord): Adapter | undefined {
  const b = r.body;
  if (typeof b.did !== 'string' || typeof b.command !== 'string') return undefined;
  const family: Family = b.family === 'claude' ? 'claude' : 'exec';
  let argv: string[];
  try {
    argv = Array.isArray(b.argv) && b.argv.every((x) => typeof x === 'string') && b.argv.length > 0 ? (b.argv as string[]) : parseCommand(b.command);
  } catch {
    return undefined;
  }
  const env: Record<string, string> = {};
  if (typeof b.env === 'object' && b.env !== null) for (const [k, v] of Object.entries(b.env)) if (typeof v === 'string') env[k] = v;
  return {
    did: b.did, family, command: b.command, argv, env,
    max_concurrent: posInt(b.max_concurrent, ADAPTER_DEFAULTS.max_concurrent),
    timeout_secs: posInt(b.timeout_secs, ADAPTER_DEFAULTS.timeout_secs),
    line_timeout_secs: posInt(b.line_timeout_secs, ADAPTER_DEFAULTS.line_timeout_secs),
    domains: Array.isArray(b.domains) ? b.domains.filter((d): d is string => typeof d === 'string') : [],
    record: r.id, actor: r.actor, updated_at: r.created_at,
  };
}

export type AdaptersState = Map<string, Adapter>;

export const adaptersFold: Fold<AdaptersState> = {
  name: 'adapters',
  init: () => new Map(),
  apply(state, r) {
    if (r.thread !== ENGINE_CONFIG_THREAD || r.act !== 'LEARN' || r.body.topic !== ADAPTER_TOPIC || typeof r.body.did !== 'string') return state;
    if (r.body.removed === true) {
      state.delete(r.body.did);
      return state;
    }
    const a = fromRecord(r);
    if (a) state.set(a.did, a);
    return state;
  },
};

/** Whether argv[0] names an executable file, on the instance's PATH when it has no slash. */
export function commandFound(argv0: string, path = process.env.PATH ?? ''): boolean {
  const candidates = argv0.includes('/') ? [argv0] : path.split(delimiter).filter(Boolean).map((d) => join(d, argv0));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
