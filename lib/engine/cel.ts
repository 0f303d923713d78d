// CEL for governance rules (SPEC §4, §10): per-context compile and check, a bounded cache of compiled programs, and evaluation to plain JS.

import {
  CelScalar, celEnv, celFunc, celList, celType, isCelError, isCelList, isCelMap, isCelType, isCelUint, listType, objectType, parse, plan,
  type CelEnv, type CelError, type CelFunc, type CelInput, type CelList, type CelValue,
} from '@bufbuild/cel';
import { toJson } from '@bufbuild/protobuf';
import { isReflectMessage } from '@bufbuild/protobuf/reflect';
import { TimestampSchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { SplError } from '../kernel/errors.js';
import type { StoredRecord } from '../kernel/record.js';
import {
  APPEND_FUNCTION, CelCostError, INTERNAL_FUNCTIONS, LOOP_FUNCTION, RULE_BUDGET, checkShape, instrument, isCelCostError,
  type CelBudget, type CelLimit,
} from './cel-limits.js';

export {
  MAX_AST_NODES, MAX_COMPREHENSION_NESTING, MAX_NESTING_DEPTH, RULE_BUDGET, UNTRUSTED_BUDGET, CelCostError, isCelCostError,
  type CelBudget, type CelLimit,
} from './cel-limits.js';

// ---------------------------------------------------------------------------------------------
// Contexts and their bindings

export const CEL_CONTEXTS = ['permission', 'routing', 'health_check'] as const;
export type CelContext = (typeof CEL_CONTEXTS)[number];

export const PERMISSION_RESOURCES = ['record_write', 'record_read', 'thread_read', 'config_read', 'config_write', 'task_read', 'task_write', 'dispatch'] as const;
export type PermissionResource = (typeof PERMISSION_RESOURCES)[number];

/**
 * A record as CEL sees it: the envelope fields that are set. Partial, because a permission check on
 * `record_write` runs before the server has assigned the id and clock; unset fields are absent from the
 * CEL map, so `has(record.clock)` is false for such a draft.
 */
export type CelRecordInput = Partial<StoredRecord>;

/** A task as rules see it: `task("TASK-0001")` and the elements of `tasks`. */
export interface CelTask {
  alias: string;
  status: string;
  priority: number;
  assigned_to: string | null;
  domain: string | null;
  title: string;
  age_secs: number;
}

/** Backs `task(alias)` and `tasks`: `all()` is called only when an expression reads `tasks`. */
export interface CelTaskLookup {
  get(alias: string): CelTask | undefined;
  all(): CelTask[];
}

/** The fleet as rules see it: fleet_frozen_namespaces(), fleet_hard_frozen_past_grace(), fleet_emergency_active(), fleet_instances_live(). */
export interface CelFleet {
  frozen_namespaces: string[];
  hard_frozen_past_grace: string[];
  emergency_active: boolean;
  instances_live: number;
}

export const NO_FLEET: CelFleet = { frozen_namespaces: [], hard_frozen_past_grace: [], emergency_active: false, instances_live: 0 };

/** What every evaluation supplies besides the context variables: the acting DID and the function providers. */
interface CelProviders {
  /** The acting DID, returned by `current_actor()`. */
  actor: string;
  /** Backs `trust(actor, domain)`: the trust score in [0, 1] (SPEC §4: no evidence → 0). */
  trust: (actor: string, domain: string) => number;
  /** Backs `now()`; defaults to the system clock. Called at most once per evaluation. */
  now?: () => Date | number;
  /** Backs `task(alias)` and `tasks` (a list as plain data in the evaluation thread); no tasks when absent. */
  tasks?: CelTaskLookup | readonly CelTask[];
  /** Backs the fleet_… functions (plain data, or a getter called on first use); an instance outside any fleet when absent. */
  fleet?: CelFleet | (() => CelFleet);
  /** What the evaluation may spend; RULE_BUDGET when absent. */
  budget?: CelBudget;
  /** Milliseconds on a monotonic clock, for the time budget; defaults to performance.now. */
  clock?: () => number;
}

interface PermissionVariables {
  record: CelRecordInput | null;
  resource: PermissionResource;
  method: string;
  path: string;
}
interface RoutingVariables {
  record: CelRecordInput;
}
interface HealthCheckVariables {
  record: CelRecordInput | null;
  records: number;
  threads: number;
}
interface CelContextVariables {
  permission: PermissionVariables;
  routing: RoutingVariables;
  health_check: HealthCheckVariables;
}
export type CelBindings<C extends CelContext = CelContext> = CelContextVariables[C] & CelProviders;

const { DOUBLE, DYN, INT, STRING } = CelScalar;
const TIMESTAMP = objectType(TimestampSchema);

// Declared types are documentation and what a type checker would use; `record` is dyn because it may be
// null and its body is arbitrary JSON. The names are also what the compile-time reference check admits.
const TASK_LIST = listType(DYN);
const CONTEXT_VARIABLES = {
  permission: { record: DYN, resource: STRING, method: STRING, path: STRING, tasks: TASK_LIST },
  routing: { record: DYN, tasks: TASK_LIST },
  health_check: { record: DYN, records: INT, threads: INT, tasks: TASK_LIST },
} as const;

export function isCelContext(name: unknown): name is CelContext {
  return typeof name === 'string' && (CEL_CONTEXTS as readonly string[]).includes(name);
}

function assertContext(context: string): asserts context is CelContext {
  if (!isCelContext(context)) {
    throw new SplError('INVALID_REQUEST', `unknown expression context '${context}'; the contexts are ${CEL_CONTEXTS.join(', ')}`, { field: 'context' });
  }
}

// ---------------------------------------------------------------------------------------------
// Functions shared by all contexts

/** What one evaluation has left to spend, and why it stopped once it ran out. */
interface Meter {
  iterations: number;
  budget: CelBudget;
  clock: () => number;
  /** Set at the first iteration. */
  deadline: number;
  exceeded: CelCostError | undefined;
}

interface Frame {
  actor: string;
  trust: (actor: string, domain: string) => number;
  tasks: CelTaskLookup;
  fleet: () => CelFleet;
  now: () => Date | number;
  nowMs: number | undefined;
  meter: Meter;
}

// The environments and their functions are built once, but current_actor(), trust() and now() answer per
// evaluation. Evaluation is synchronous, so the providers travel in this slot, set around each run and
// restored afterwards (a provider that itself evaluates CEL nests correctly).
let frame: Frame | undefined;

function activeFrame(fn: string): Frame {
  if (frame === undefined) throw new Error(`${fn}() was called outside an evaluation`);
  return frame;
}

/**
 * The deadline is checked every this many iterations: reading the clock costs more than the rest of the
 * check, and 16 iterations of a realistic loop body take microseconds.
 */
export const CLOCK_EVERY = 16;

const FUNCS: CelFunc[] = [
  celFunc('current_actor', [], STRING, () => activeFrame('current_actor').actor),
  celFunc('trust', [STRING, STRING], DOUBLE, (actor, domain) => {
    const score = activeFrame('trust').trust(actor, domain);
    if (typeof score !== 'number' || Number.isNaN(score)) throw new Error(`trust(${JSON.stringify(actor)}, ${JSON.stringify(domain)}) gave no number`);
    return score;
  }),
  // A task by alias: a map with exists false (and an empty status) for one that does not exist, so
  // `task("X-1").status == "failed"` is simply false rather than an error.
  celFunc('fleet_frozen_namespaces', [], listType(STRING), () => jsonToCel(activeFrame('fleet_frozen_namespaces').fleet().frozen_namespaces, 1)),
  celFunc('fleet_hard_frozen_past_grace', [], listType(STRING), () => jsonToCel(activeFrame('fleet_hard_frozen_past_grace').fleet().hard_frozen_past_grace, 1)),
  celFunc('fleet_emergency_active', [], CelScalar.BOOL, () => activeFrame('fleet_emergency_active').fleet().emergency_active),
  celFunc('fleet_instances_live', [], INT, () => BigInt(activeFrame('fleet_instances_live').fleet().instances_live)),
  celFunc('task', [STRING], DYN, (alias) => {
    const t = activeFrame('task').tasks.get(alias);
    return jsonToCel(t ? { ...t, exists: true } : { alias, status: '', priority: 0, assigned_to: null, domain: null, title: '', age_secs: 0, exists: false }, 1);
  }),
  // A real CEL timestamp, so rules can compare with timestamp("…") literals and use durations and
  // getHours() etc. Fixed once per evaluation so two calls in one rule agree.
  celFunc('now', [], TIMESTAMP, () => {
    const f = activeFrame('now');
    if (f.nowMs === undefined) {
      const t = f.now();
      const ms = t instanceof Date ? t.getTime() : t;
      if (!Number.isFinite(ms)) throw new Error('the clock gave an invalid time');
      f.nowMs = ms;
    }
    return timestampFromMs(f.nowMs);
  }),
  // Internal (the names cannot be parsed, and the reference check refuses them): every comprehension's loop
  // condition passes through the first, which counts the iteration and checks the deadline. Once the
  // budget is spent it keeps failing, so every enclosing loop stops at its next iteration too.
  // Declared dyn (the condition is always a bool) so the library skips a type comparison per iteration.
  celFunc(LOOP_FUNCTION, [DYN], DYN, (cond) => {
    const m = activeFrame(LOOP_FUNCTION).meter;
    if (m.exceeded === undefined) {
      m.iterations++;
      // The clock starts at the first iteration: an expression without loops never reads it, and what runs
      // before the first loop is bounded by the size of the tree.
      if (m.iterations === 1) m.deadline = m.clock() + m.budget.timeMs;
      if (m.iterations > m.budget.iterations) {
        m.exceeded = new CelCostError('iterations', `evaluation stopped after ${m.budget.iterations} comprehension iterations, the iteration budget`);
      } else if ((m.iterations & (CLOCK_EVERY - 1)) === 0 && m.clock() > m.deadline) {
        m.exceeded = new CelCostError('time', `evaluation stopped after ${m.iterations} comprehension iterations: it ran past the time budget of ${m.budget.timeMs} ms`);
      }
    }
    if (m.exceeded !== undefined) throw m.exceeded;
    return cond;
  }),
  celFunc(APPEND_FUNCTION, [listType(DYN), listType(DYN)], listType(DYN), (accu, tail) => appendInPlace(accu, tail)),
];

// Lists built by map and filter, with the arrays behind them. Only such a list is appended to in place:
// it is a comprehension's private accumulator (@result cannot be named in source) until the loop ends.
const growing = new WeakMap<CelList, CelValue[]>();

function appendInPlace(accu: CelList, tail: CelList): CelList {
  let items = growing.get(accu);
  let list = accu;
  if (items === undefined) {
    items = Array.from(accu);
    list = celList(items as CelInput[]);
    growing.set(list, items);
  }
  for (const x of tail) items.push(x);
  return list;
}

const ENVS: Record<CelContext, CelEnv> = {
  permission: celEnv({ variables: CONTEXT_VARIABLES.permission, funcs: FUNCS }),
  routing: celEnv({ variables: CONTEXT_VARIABLES.routing, funcs: FUNCS }),
  health_check: celEnv({ variables: CONTEXT_VARIABLES.health_check, funcs: FUNCS }),
};

// ---------------------------------------------------------------------------------------------
// Compile-time checks

type ParsedExpr = ReturnType<typeof parse>;
type Expr = ParsedExpr['expr'];

/** Longest expression accepted. Rules are a line or two; the cap bounds what the cache can hold. */
export const MAX_EXPRESSION_LENGTH = 16 * 1024;

// Identifiers that denote types (`type(x) == int`) rather than variables.
const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);
// Calls the planner handles itself rather than through the function table.
const BUILTIN_CALLS = new Set(['_[_]', '_[?_]', '_?._', '_?_:_', '_&&_', '_||_', '@not_strictly_false', '__not_strictly_false__']);

function location(source: string, offset: number | undefined): string {
  if (offset === undefined || offset < 0) return '';
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return ` at line ${line}, column ${column}`;
}

/**
 * The library parses and plans without type-checking (its checker is not public API in 0.6), so an
 * unbound variable or an unknown function would only fail when evaluated. This walk catches both at
 * compile time: every identifier must be a variable of the context, a comprehension variable in scope,
 * or a type name; every function must exist with an overload taking that many arguments. Argument
 * types are still only checked when the expression runs.
 */
function checkReferences(parsed: ParsedExpr, context: CelContext, source: string): string | undefined {
  const positions = parsed.sourceInfo?.positions ?? {};
  const refs: References = { context, env: ENVS[context], declared: Object.keys(CONTEXT_VARIABLES[context]), at: (e) => location(source, positions[String(e.id)]) };
  // Depth first, left to right: the first problem in reading order is the one reported.
  const visit = (e: Expr, scope: ReadonlySet<string>): string | undefined => {
    const own = checkNode(e, scope, refs);
    if (own) return own;
    for (const [child, inner] of childrenOf(e, scope)) {
      const err = visit(child, inner);
      if (err) return err;
    }
    return undefined;
  };
  return visit(parsed.expr, new Set());
}

interface References {
  context: CelContext;
  env: (typeof ENVS)[CelContext];
  declared: string[];
  at: (e: Expr) => string;
}

/** An identifier must be declared or in scope; a function must exist, as a function or method, with that many arguments. */
function checkNode(e: Expr, scope: ReadonlySet<string>, refs: References): string | undefined {
  const k = e.exprKind;
  if (k.case === 'identExpr') {
    const name = k.value.name;
    if (scope.has(name) || refs.declared.includes(name) || TYPE_NAMES.has(name)) return undefined;
    return `undeclared reference to '${name}'${refs.at(e)}: the ${refs.context} context has the variables ${refs.declared.join(', ')}`;
  }
  if (k.case !== 'callExpr') return undefined;
  const call = k.value;
  const name = call.function;
  if (INTERNAL_FUNCTIONS.has(name)) return `unknown function '${name}'${refs.at(e)}`;
  if (BUILTIN_CALLS.has(name)) return undefined;
  const group = refs.env.funcs.find(name);
  if (group === undefined) return `unknown function '${name}'${refs.at(e)}`;
  const isMethod = call.target !== undefined;
  const arities = new Set<number>();
  for (const f of group) if ((f.target !== undefined) === isMethod) arities.add(f.arguments.length);
  if (arities.size === 0) {
    return isMethod ? `'${name}'${refs.at(e)} is a function, not a method: write ${name}(…)` : `'${name}'${refs.at(e)} is a method, not a function: write x.${name}(…)`;
  }
  if (arities.has(call.args.length)) return undefined;
  const takes = [...arities].sort().join(' or ');
  return `'${name}'${refs.at(e)} takes ${takes} argument${takes === '1' ? '' : 's'}, not ${call.args.length}`;
}

/** The sub-expressions of one node, each with the names in scope there. */
function childrenOf(e: Expr, scope: ReadonlySet<string>): Array<[Expr, ReadonlySet<string>]> {
  const k = e.exprKind;
  const inScope = (xs: Array<Expr | undefined>): Array<[Expr, ReadonlySet<string>]> => xs.filter((x): x is Expr => x !== undefined).map((x) => [x, scope]);
  switch (k.case) {
    case 'selectExpr':
      return inScope([k.value.operand]);
    case 'callExpr':
      return inScope([k.value.target, ...k.value.args]);
    case 'listExpr':
      return inScope(k.value.elements);
    case 'structExpr':
      return inScope(k.value.entries.flatMap((entry) => [entry.keyKind.case === 'mapKey' ? entry.keyKind.value : undefined, entry.value]));
    case 'comprehensionExpr': {
      const c = k.value;
      // The range and initial accumulator are outside the loop; the loop parts see the iteration
      // variable(s) and the accumulator; the result sees only the accumulator.
      const withAccu = new Set([...scope, c.accuVar]);
      const inLoop = new Set([...withAccu, c.iterVar, ...(c.iterVar2 ? [c.iterVar2] : [])]);
      const at = (x: Expr | undefined, s: ReadonlySet<string>): Array<[Expr, ReadonlySet<string>]> => (x ? [[x, s]] : []);
      return [...at(c.iterRange, scope), ...at(c.accuInit, scope), ...at(c.loopCondition, inLoop), ...at(c.loopStep, inLoop), ...at(c.result, withAccu)];
    }
    default:
      return [];
  }
}

function parseErrorMessage(err: unknown, source: string): string {
  // The parser's errors carry the bare message and a location; its formatted message starts "<input>:1:5:".
  if (err instanceof Error) {
    const e = err as Error & { rawMessage?: unknown; location?: { start?: { offset?: unknown } } };
    if (typeof e.rawMessage === 'string') {
      const offset = typeof e.location?.start?.offset === 'number' ? e.location.start.offset : undefined;
      return `syntax error${location(source, offset)}: ${e.rawMessage}`;
    }
    if (err instanceof RangeError) return 'syntax error: the expression nests too deeply';
    return `syntax error: ${err.message}`;
  }
  return `syntax error: ${String(err)}`;
}

// ---------------------------------------------------------------------------------------------
// Values in and out

/** A plain JSON-like value: what evaluation results are converted to. */
type CelPlainValue = null | boolean | number | string | CelPlainValue[] | { [key: string]: CelPlainValue };

const RECORD_FIELDS = ['id', 'parents', 'thread', 'actor', 'act', 'body', 'clock', 'data_type', 'judged_by', 'sequence', 'created_at'] as const;
/** Deepest JSON value (a record and its body) passed into an evaluation. */
export const MAX_VALUE_DEPTH = 128;
const MAX_DEPTH = MAX_VALUE_DEPTH;

/**
 * JSON to CEL. Integral numbers become CEL ints (bigint), others doubles: JSON cannot tell 5 from 5.0,
 * and ints make `record.clock + 1 == 3`, `type(record.clock) == int` and `size(xs) == record.body.n` work.
 * Comparisons between int and double are defined in CEL, so `record.body.x > 3` holds for 5 and 5.5
 * alike; arithmetic mixing them is not (`double(record.body.n) * 0.5` converts explicitly).
 * Objects become maps (keys are strings), so `has(record.body.topic)` tests for a key.
 */
function jsonToCel(v: unknown, depth: number): CelInput {
  if (depth > MAX_DEPTH) throw new Error(`value nests deeper than ${MAX_DEPTH} levels`);
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return v;
    case 'number':
      return Number.isSafeInteger(v) ? BigInt(v) : v;
    case 'undefined':
      return null;
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((x) => jsonToCel(x, depth + 1));
      if (v instanceof Date) return timestampFromMs(v.getTime());
      const m = new Map<string, CelInput>();
      for (const [key, x] of Object.entries(v)) if (x !== undefined) m.set(key, jsonToCel(x, depth + 1));
      return m;
    }
    default:
      throw new Error(`a ${typeof v} cannot be passed to CEL`);
  }
}

function recordToCel(r: CelRecordInput | null | undefined): CelInput {
  if (r === null || r === undefined) return null;
  const m = new Map<string, CelInput>();
  for (const f of RECORD_FIELDS) {
    const x = r[f];
    if (x !== undefined) m.set(f, jsonToCel(x, 1));
  }
  return m;
}

function count(name: string, v: unknown): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${name} must be a whole number ≥ 0, got ${String(v)}`);
  return BigInt(v);
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string') throw new Error(`${name} must be a string, got ${v === null ? 'null' : typeof v}`);
  return v;
}

function activation(context: CelContext, b: CelBindings): Record<string, CelInput> {
  const vars = b as unknown as Record<string, unknown>;
  switch (context) {
    case 'permission': {
      const resource = str('resource', vars.resource);
      if (!(PERMISSION_RESOURCES as readonly string[]).includes(resource)) {
        throw new Error(`resource must be one of ${PERMISSION_RESOURCES.join(' ')}, got '${resource}'`);
      }
      return { record: recordToCel(vars.record as CelRecordInput | null), resource, method: str('method', vars.method), path: str('path', vars.path) };
    }
    case 'routing':
      return { record: recordToCel(vars.record as CelRecordInput | null) };
    case 'health_check':
      return { record: recordToCel(vars.record as CelRecordInput | null), records: count('records', vars.records), threads: count('threads', vars.threads) };
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function intOut(v: bigint): number | string {
  // A CEL int beyond ±2^53 would lose digits as a JS number; it comes out as its decimal string.
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/**
 * CEL to plain JS: ints and uints → numbers (decimal strings beyond ±2^53), maps → objects (keys as
 * strings), lists → arrays, bytes → base64, timestamps and durations → their JSON forms
 * ("2026-01-01T00:00:00Z", "1.5s"), types → their names.
 */
function celToPlain(v: CelValue): CelPlainValue {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'number':
      return v;
    case 'bigint':
      return intOut(v);
  }
  if (v === null) return null;
  if (isCelUint(v)) return intOut(v.value);
  if (v instanceof Uint8Array) return base64(v);
  if (isCelList(v)) return Array.from(v, celToPlain);
  if (isCelMap(v)) {
    const out: { [key: string]: CelPlainValue } = {};
    for (const [key, x] of v) out[typeof key === 'object' ? key.value.toString() : String(key)] = celToPlain(x);
    return out;
  }
  if (isCelType(v)) return v.name;
  if (isReflectMessage(v)) return toJson(v.desc, v.message) as CelPlainValue;
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// Programs, results and the cache

export type CelEvalResult<T = CelPlainValue> =
  | { ok: true; value: T; /** The CEL type of the result, e.g. "bool", "int", "map". */ type: string }
  | {
    ok: false;
    /** Whether the expression failed to compile or failed while running. */
    stage: 'compile' | 'evaluate';
    error: string;
    /** Set when the failure is a cost limit (compile-time shape or evaluation budget), not a mistake in the expression. */
    limit?: CelLimit;
  };

type CelCheckResult = { ok: true } | { ok: false; error: string; limit?: CelLimit };

/** A parsed, checked and planned expression, reusable across evaluations. */
interface CompiledExpression<C extends CelContext = CelContext> {
  readonly context: C;
  readonly source: string;
  /** Runs the program; never throws: failures come back as `{ ok: false }`. */
  evaluate(bindings: CelBindings<C>): CelEvalResult;
  /** As evaluate, but the result must be a bool. */
  evaluateBool(bindings: CelBindings<C>): CelEvalResult<boolean>;
}

interface CelCacheStats {
  size: number;
  capacity: number;
  hits: number;
  misses: number;
  evictions: number;
  /** hits / (hits + misses); 0 before any lookup. */
  hit_rate: number;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function compileFailure(err: unknown): CelEvalResult<never> {
  return isCelCostError(err) ? { ok: false, stage: 'compile', error: err.message, limit: err.limit } : { ok: false, stage: 'compile', error: errorText(err) };
}

const monotonic = (): number => performance.now();

function compileUncached<C extends CelContext>(context: C, source: string, metered = true): CompiledExpression<C> {
  const { parsed, program } = parseAndPlan(context, source, metered);
  const run = runner(context, source, program, parsed.sourceInfo?.positions ?? {});
  return {
    context,
    source,
    evaluate(bindings) {
      const r = run(bindings);
      if (!r.ok) return r;
      try {
        return { ok: true, value: celToPlain(r.value), type: r.type };
      } catch (err) {
        return { ok: false, stage: 'evaluate', error: `cannot convert the ${r.type} result: ${errorText(err)}` };
      }
    },
    evaluateBool(bindings) {
      const r = run(bindings);
      if (!r.ok) return r;
      if (typeof r.value !== 'boolean') return { ok: false, stage: 'evaluate', error: `expression must evaluate to a bool, got ${r.type}` };
      return { ok: true, value: r.value, type: 'bool' };
    },
  };
}

type Program = (vars: Record<string, CelInput>) => CelValue | CelError;

/** Size limits, parse, shape limits, reference check, metering, plan: every compile-time refusal, in that order. */
function parseAndPlan(context: CelContext, source: string, metered: boolean): { parsed: ParsedExpr; program: Program } {
  if (typeof source !== 'string') throw new SplError('INVALID_REQUEST', 'expression must be a string', { field: 'expression' });
  if (source.trim() === '') throw new SplError('INVALID_REQUEST', 'expression is empty', { field: 'expression' });
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new SplError('INVALID_REQUEST', `expression is ${source.length} characters; the limit is ${MAX_EXPRESSION_LENGTH}`, { field: 'expression' });
  }
  let parsed: ParsedExpr;
  try {
    parsed = parse(source);
  } catch (err) {
    throw new SplError('INVALID_REQUEST', parseErrorMessage(err, source), { field: 'expression', cause: err });
  }
  checkShape(parsed.expr);
  let problem: string | undefined;
  let program: Program;
  try {
    problem = checkReferences(parsed, context, source);
    if (problem === undefined && metered) instrument(parsed.expr);
    const planned = plan(ENVS[context], parsed);
    program = (vars) => planned(vars);
  } catch (err) {
    // Both walk the tree recursively: a parseable but very deep expression can exhaust the stack here.
    const why = err instanceof RangeError ? 'the expression nests too deeply' : errorText(err);
    throw new SplError('INVALID_REQUEST', `cannot compile the expression: ${why}`, { field: 'expression', cause: err });
  }
  if (problem !== undefined) throw new SplError('INVALID_REQUEST', problem, { field: 'expression' });
  return { parsed, program };
}

/** One evaluation: bindings checked, the meter and the custom functions' frame set for its duration. */
function runner<C extends CelContext>(context: C, source: string, program: Program, positions: Record<string, number>): (bindings: CelBindings<C>) => CelEvalResult<CelValue> {
  return (bindings) => {
    let vars: Record<string, CelInput>;
    try {
      vars = activation(context, bindings);
      str('actor', bindings.actor);
      if (typeof bindings.trust !== 'function') throw new Error('a trust provider is required');
    } catch (err) {
      return { ok: false, stage: 'evaluate', error: `invalid bindings for the ${context} context: ${errorText(err)}` };
    }
    const saved = frame;
    const meter: Meter = { iterations: 0, budget: bindings.budget ?? RULE_BUDGET, clock: bindings.clock ?? monotonic, deadline: Infinity, exceeded: undefined };
    const tasks = taskLookup(bindings.tasks);
    defineTasks(vars, tasks);
    frame = { actor: bindings.actor, trust: bindings.trust, tasks, fleet: fleetOf(bindings.fleet), now: bindings.now ?? Date.now, nowMs: undefined, meter };
    try {
      const out = program(vars);
      // Checked first: `||`, `&&` and `?:` can absorb the error that stopped the loop, but a cut-short
      // evaluation has no trustworthy result.
      if (meter.exceeded !== undefined) return { ok: false, stage: 'evaluate', error: meter.exceeded.message, limit: meter.exceeded.limit };
      if (isCelError(out)) {
        const where = out.exprId === undefined ? '' : location(source, positions[String(out.exprId)]);
        return { ok: false, stage: 'evaluate', error: `evaluation error${where}: ${out.message}` };
      }
      return { ok: true, value: out, type: celType(out).name };
    } catch (err) {
      if (meter.exceeded !== undefined) return { ok: false, stage: 'evaluate', error: meter.exceeded.message, limit: meter.exceeded.limit };
      return { ok: false, stage: 'evaluate', error: `evaluation error: ${errorText(err)}` };
    } finally {
      frame = saved;
    }
  };
}

/** The fleet provider as a getter asked at most once per evaluation. */
function fleetOf(f: CelFleet | (() => CelFleet) | undefined): () => CelFleet {
  if (f === undefined) return () => NO_FLEET;
  if (typeof f !== 'function') return () => f;
  let v: CelFleet | undefined;
  return () => (v ??= f());
}

const NO_TASKS: CelTaskLookup = { get: () => undefined, all: () => [] };

/** A lookup over what the caller supplied: a lookup as is, a plain list (the evaluation thread's copy) indexed. */
function taskLookup(tasks: CelTaskLookup | readonly CelTask[] | undefined): CelTaskLookup {
  if (tasks === undefined) return NO_TASKS;
  if (!Array.isArray(tasks)) return tasks as CelTaskLookup;
  const list = tasks as readonly CelTask[];
  const byAlias = new Map(list.map((t) => [t.alias, t]));
  return { get: (alias) => byAlias.get(alias.toUpperCase()) ?? byAlias.get(alias), all: () => [...list] };
}

/** `tasks` is built only if the expression reads it (the activation resolves variables by name, on use). */
function defineTasks(vars: Record<string, CelInput>, tasks: CelTaskLookup): void {
  let list: CelInput | undefined;
  Object.defineProperty(vars, 'tasks', { enumerable: true, get: () => (list ??= jsonToCel(tasks.all().map((t) => ({ ...t, exists: true })), 1)) });
}

/** Default number of compiled programs kept. */
const DEFAULT_CACHE_CAPACITY = 512;

/**
 * Compiles expressions per context and keeps the most recently used programs (an LRU keyed by context
 * and source). Failed compilations are not cached: they are rejected when a rule is written and skipped
 * by the folds, so they are not on a hot path.
 */
export class CelEngine {
  readonly capacity: number;
  // A Map iterates in insertion order; re-inserting on each hit keeps the least recent first.
  private readonly entries = new Map<string, CompiledExpression>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private readonly metered: boolean;

  /**
   * `metered: false` compiles without the evaluation budget (loops run unchecked): only for measuring what
   * the budget costs; the instance always meters.
   */
  constructor(opts: { capacity?: number; metered?: boolean } = {}) {
    this.metered = opts.metered ?? true;
    const capacity = opts.capacity ?? DEFAULT_CACHE_CAPACITY;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new SplError('USAGE', `expression cache capacity must be a whole number ≥ 1, got ${capacity}`);
    this.capacity = capacity;
  }

  /**
   * The compiled program for `source` in `context`; throws SplError INVALID_REQUEST naming the problem,
   * or CelCostError (EXPRESSION_TOO_COSTLY) naming the compile-time limit it exceeds.
   */
  compile<C extends CelContext>(context: C, source: string): CompiledExpression<C> {
    assertContext(context);
    const key = `${context}\u0000${source}`;
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.hits++;
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit as CompiledExpression<C>;
    }
    this.misses++;
    const compiled = compileUncached(context, source, this.metered);
    this.entries.set(key, compiled as CompiledExpression);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.entries.delete(oldest.value);
        this.evictions++;
      }
    }
    return compiled;
  }

  /** Whether `source` compiles in `context`; never throws. */
  check(context: string, source: string): CelCheckResult {
    try {
      this.compile(context as CelContext, source); // an unknown context is refused inside, naming the contexts
      return { ok: true };
    } catch (err) {
      return isCelCostError(err) ? { ok: false, error: err.message, limit: err.limit } : { ok: false, error: errorText(err) };
    }
  }

  /** Compiles (through the cache) and runs; never throws: compile and runtime failures are `{ ok: false }`. */
  evaluate<C extends CelContext>(context: C, source: string, bindings: CelBindings<C>): CelEvalResult {
    let program: CompiledExpression<C>;
    try {
      program = this.compile(context, source);
    } catch (err) {
      return compileFailure(err);
    }
    return program.evaluate(bindings);
  }

  /** As evaluate, but a result that is not a bool is an error. */
  evaluateBool<C extends CelContext>(context: C, source: string, bindings: CelBindings<C>): CelEvalResult<boolean> {
    let program: CompiledExpression<C>;
    try {
      program = this.compile(context, source);
    } catch (err) {
      return compileFailure(err);
    }
    return program.evaluateBool(bindings);
  }

  stats(): CelCacheStats {
    const lookups = this.hits + this.misses;
    return {
      size: this.entries.size, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions,
      hit_rate: lookups === 0 ? 0 : this.hits / lookups,
    };
  }

  /** Drops every cached program; the counters keep counting. */
  clear(): void {
    this.entries.clear();
  }
}

/** The instance-wide engine, whose cache GET /v1/engine/expression_cache/stats reports. */
export const celEngine = new CelEngine();

export function compile<C extends CelContext>(context: C, source: string): CompiledExpression<C> {
  return celEngine.compile(context, source);
}
export function check(context: string, source: string): CelCheckResult {
  return celEngine.check(context, source);
}
export function evaluate<C extends CelContext>(context: C, source: string, bindings: CelBindings<C>): CelEvalResult {
  return celEngine.evaluate(context, source, bindings);
}
export function evaluateBool<C extends CelContext>(context: C, source: string, bindings: CelBindings<C>): CelEvalResult<boolean> {
  return celEngine.evaluateBool(context, source, bindings);
}
export function stats(): CelCacheStats {
  return celEngine.stats();
}
