// The shorthand forms of a rule's match — `--domain D --act A` and `--match "act=KNOW,body.topic=x"` — compiled
// to the CEL every rule is stored and evaluated as, so a shorthand rule and its CEL twin are the same rule. An
// unset field matches anything; a body key the record lacks is a non-match (guarded with has()), never an
// evaluation error.

import { SplError } from '../kernel/errors.js';
import { ACTS, DATA_TYPES } from '../kernel/record.js';
import type { CelContext } from './cel.js';
import type { RuleTopic } from './folds/engine-config.js';

interface MatchShorthand {
  /** `body.domain` equals this. */
  domain?: string;
  /** The record's act (any case; INTEND, DO, …). */
  act?: string;
  /** `key=value` pairs, comma-separated: envelope keys (act, actor, thread, data_type) or `body.<path>`. */
  match?: string;
}

const ENVELOPE_KEYS = ['act', 'actor', 'thread', 'data_type'] as const;
const PATH_SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when any shorthand field is given. */
export function hasShorthand(s: MatchShorthand): boolean {
  return s.domain !== undefined || s.act !== undefined || s.match !== undefined;
}

/** The CEL expression for a shorthand match (`true` when no field is set: it matches anything). */
export function matchExpression(s: MatchShorthand): string {
  const terms: string[] = [];
  if (s.act !== undefined) terms.push(equals('act', s.act));
  if (s.domain !== undefined) terms.push(equals('body.domain', s.domain));
  if (s.match !== undefined) for (const [key, value] of pairs(s.match)) terms.push(equals(key, value));
  return terms.length === 0 ? 'true' : terms.join(' && ');
}

function pairs(match: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of match.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw usage(`--match takes key=value pairs separated by commas; '${part.trim()}' has no key=value`);
    out.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
  }
  if (out.length === 0) throw usage('--match is empty; give key=value pairs such as act=KNOW,body.topic=review');
  return out;
}

/** `record.<key> == <value>`, with has() guards on every level of a body path. */
function equals(key: string, raw: string): string {
  if (key.startsWith('body.')) {
    const path = key.slice('body.'.length).split('.');
    const bad = path.find((seg) => !PATH_SEGMENT.test(seg));
    if (bad !== undefined) throw usage(`--match key ${key}: '${bad}' is not a field name (letters, digits and _; use --expression for other keys)`);
    const guards = path.map((_, i) => `has(record.body.${path.slice(0, i + 1).join('.')})`);
    return `${guards.join(' && ')} && record.${key} == ${literal(raw)}`;
  }
  if (!(ENVELOPE_KEYS as readonly string[]).includes(key)) {
    throw usage(`--match key '${key}' is not one of ${ENVELOPE_KEYS.join(', ')} or body.<field>`);
  }
  if (key === 'act') return `record.act == ${JSON.stringify(oneOf('act', raw.toUpperCase(), ACTS))}`;
  if (key === 'data_type') return `record.data_type == ${JSON.stringify(oneOf('data_type', raw.toUpperCase(), DATA_TYPES))}`;
  return `record.${key} == ${JSON.stringify(raw)}`;
}

/** A body value: a JSON number, true, false or null as that literal; "quoted" or anything else as a string. */
function literal(raw: string): string {
  if (/^-?(0|[1-9]\d*)$/.test(raw) && Number.isSafeInteger(Number(raw))) return raw;
  if (/^-?(0|[1-9]\d*)\.\d+$/.test(raw)) return raw;
  if (raw === 'true' || raw === 'false' || raw === 'null') return raw;
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    try {
      return JSON.stringify(JSON.parse(raw) as string);
    } catch {
      // not a JSON string: taken as written below
    }
  }
  return JSON.stringify(raw);
}

function oneOf(what: string, value: string, allowed: readonly string[]): string {
  if (!allowed.includes(value)) throw usage(`${what} must be one of ${allowed.join(' ')} (got ${value})`);
  return value;
}

function usage(message: string): SplError {
  return new SplError('USAGE', message);
}

/** The CEL context a rule topic's expressions are evaluated in. */
export function ruleContext(topic: RuleTopic): CelContext {
  return topic === 'permission_rule' ? 'permission' : topic === 'health_rule' ? 'health_check' : 'routing';
}
