import t from 'tap';
import {
  CEL_CONTEXTS, CelEngine, MAX_EXPRESSION_LENGTH, celEngine, check, compile, evaluate, evaluateBool, isCelContext, stats,
  type CelBindings, type CelEvalResult,
} from '../../lib/engine/cel.js';
import { SplError } from '../../lib/kernel/errors.js';
import type { StoredRecord } from '../../lib/kernel/record.js';

const ADMIN = 'did:sync:user:admin';
const NOW = new Date('2026-03-01T12:00:00Z');

function rec(over: Partial<StoredRecord> = {}): StoredRecord {
  return {
    id: 'a'.repeat(64), parents: [], thread: 'th_engine_config', actor: ADMIN, act: 'LEARN',
    body: { topic: 'routing_rule', name: 'r1', priority: 5, n: 2, ratio: 0.25, nested: { list: [1, 2, { deep: 'x' }] }, tags: ['a', 'b'] },
    clock: 0, data_type: 'SCALAR', judged_by: null, sequence: 7, created_at: '2026-01-01T00:00:00Z', ...over,
  };
}

const trustTable: Record<string, number> = { [`${ADMIN}|code`]: 0.7, 'did:sync:agent:bot|code': 0.2 };
const providers = { actor: ADMIN, trust: (actor: string, domain: string) => trustTable[`${actor}|${domain}`] ?? 0, now: () => NOW };

function perm(over: Partial<CelBindings<'permission'>> = {}): CelBindings<'permission'> {
  return { ...providers, record: rec(), resource: 'record_write', method: 'POST', path: '/v1/records', ...over };
}

/** The value of a successful result; a failure throws, which fails the enclosing test with the CEL error. */
function value<T>(r: CelEvalResult<T>): T {
  if (!r.ok) throw new Error(`expected a value, got a ${r.stage} error: ${r.error}`);
  return r.value;
}

t.test('typical permission rules', async (t) => {
  const e = new CelEngine();
  const yes = (src: string, b = perm()) => t.same(e.evaluateBool('permission', src, b), { ok: true, value: true, type: 'bool' }, src);
  const no = (src: string, b = perm()) => t.same(e.evaluateBool('permission', src, b), { ok: true, value: false, type: 'bool' }, src);

  yes('resource == "record_write" && current_actor() == "did:sync:user:admin"');
  no('resource == "record_write" && current_actor() == "did:sync:user:admin"', perm({ actor: 'did:sync:user:eve' }));
  no('resource == "record_write" && current_actor() == "did:sync:user:admin"', perm({ resource: 'config_read' }));
  yes('record.act == "LEARN" && record.thread == "th_engine_config"');
  no('record.act == "LEARN" && record.thread == "th_engine_config"', perm({ record: rec({ act: 'DO' }) }));
  yes('trust(current_actor(), "code") >= 0.5');
  no('trust(current_actor(), "code") >= 0.5', perm({ actor: 'did:sync:agent:bot' }));
  no('trust(current_actor(), "ops") > 0.0', perm());
  yes('has(record.body.topic) && record.body.topic == "routing_rule"');
  no('has(record.body.topic) && record.body.topic == "routing_rule"', perm({ record: rec({ body: { other: 1 } }) }));
  yes('now() > timestamp("2020-01-01T00:00:00Z")');
  no('now() > timestamp("2030-01-01T00:00:00Z")');
  yes('now() - timestamp("2026-03-01T11:00:00Z") == duration("1h")');
  yes('method == "POST" && path.startsWith("/v1/")');
  yes('record == null || record.actor == current_actor()', perm({ record: null }));
  yes('resource in ["record_read", "thread_read", "config_read"]', perm({ resource: 'thread_read' }));
  yes('record.body.tags.exists(x, x == "b") && record.body.nested.list.all(v, type(v) != string)');
});

t.test('now() is a CEL timestamp from the provider, fixed within one evaluation', async (t) => {
  const e = new CelEngine();
  t.same(value(e.evaluate('routing', 'now()', { ...providers, record: rec() })), '2026-03-01T12:00:00Z');
  t.equal(value(e.evaluate('routing', 'now().getHours()', { ...providers, record: rec() })), 12);
  let calls = 0;
  const ticking = { ...providers, now: () => new Date(NOW.getTime() + 1000 * calls++) };
  t.equal(value(e.evaluateBool('routing', 'now() == now()', { ...ticking, record: rec() })), true);
  t.equal(calls, 1, 'the clock is read once per evaluation');
  t.same(value(e.evaluate('routing', '[1, 2].map(x, [current_actor(), trust(current_actor(), "code")])', { ...providers, record: rec() })), [[ADMIN, 0.7], [ADMIN, 0.7]], 'providers answer inside comprehensions');
  t.equal(value(e.evaluateBool('routing', 'now() > timestamp(0)', { ...providers, now: () => 1_000, record: rec() })), true, 'epoch ms accepted');
  const wall = e.evaluateBool('routing', 'now() > timestamp("2020-01-01T00:00:00Z")', { actor: ADMIN, trust: () => 0, record: rec() });
  t.same(wall, { ok: true, value: true, type: 'bool' }, 'defaults to the system clock');
});

t.test('JSON numbers: integers are CEL ints, fractions doubles', async (t) => {
  const e = new CelEngine();
  const run = (src: string, body: Record<string, unknown>) => e.evaluate('routing', src, { ...providers, record: rec({ body }) });
  t.equal(value(e.evaluate('routing', 'record.clock == 0', { ...providers, record: rec() })), true);
  t.equal(value(e.evaluate('routing', 'record.clock + 1 == 1 && type(record.clock) == int', { ...providers, record: rec() })), true);
  t.equal(value(e.evaluate('routing', 'record.sequence == 7', { ...providers, record: rec() })), true);
  t.equal(value(run('record.body.n == 2', { n: 2 })), true);
  // What a client sends as 5.0 arrives as the same JS number as 5.
  const parsed = JSON.parse('{"priority": 5.0}') as Record<string, unknown>;
  t.equal(value(run('record.body.priority > 3', parsed)), true, '5.0 from JSON');
  t.equal(value(run('record.body.priority > 3', { priority: 5 })), true, '5');
  t.equal(value(run('record.body.priority > 3', { priority: 3.5 })), true, '3.5 (double vs int)');
  t.equal(value(run('record.body.priority > 3', { priority: 2 })), false, '2');
  t.equal(value(run('record.body.priority == 5.0', { priority: 5 })), true, 'int equals double numerically');
  t.equal(value(run('record.body.ratio < 1', { ratio: 0.25 })), true);
  t.equal(value(run('record.body.n * 2', { n: 21 })), 42);
  t.equal(value(run('double(record.body.n) * 0.5', { n: 3 })), 1.5);
  t.equal(value(run('size(record.body.xs) == record.body.n', { xs: [1, 2], n: 2 })), true);
  t.equal(value(run('record.body.a.b[1].c == -4', { a: { b: [null, { c: -4 }] } })), true, 'nested objects and arrays');
  t.equal(value(run('record.body.z == null && record.judged_by == null', { z: null })), true);
  const mixed = run('record.body.n + 0.5', { n: 2 });
  t.match(mixed, { ok: false, stage: 'evaluate', error: /no matching overload for '_\+_' applied to '\(int, double\)'/ }, 'CEL does not mix int and double arithmetic');
});

t.test('results come back as plain JS', async (t) => {
  const e = new CelEngine();
  const ev = (src: string) => value(e.evaluate('routing', src, { ...providers, record: rec() }));
  t.same(ev('record.body'), rec().body);
  t.same(ev('record.body.nested.list.map(x, type(x))'), ['int', 'int', 'map']);
  t.same(ev('{"a": [1, 2.5, "s", true, null], 3: {"k": b"hi"}}'), { a: [1, 2.5, 's', true, null], 3: { k: 'aGk=' } });
  t.equal(ev('9223372036854775807'), '9223372036854775807', 'ints beyond 2^53 come back as decimal strings');
  t.equal(ev('7u'), 7);
  t.equal(ev('duration("90s")'), '90s');
  t.same(ev('record.parents'), []);
  t.same(e.evaluate('routing', '1 + 1', { ...providers, record: rec() }), { ok: true, value: 2, type: 'int' });
});

t.test('health_check context', async (t) => {
  const e = new CelEngine();
  const b = { ...providers, record: null, records: 120, threads: 4 };
  t.same(e.evaluateBool('health_check', 'records > 100 && threads < 10 && record == null', b), { ok: true, value: true, type: 'bool' });
  t.equal(value(e.evaluate('health_check', 'records / threads', b)), 30, 'counts are ints');
  t.match(e.evaluate('health_check', 'records > 1', { ...b, records: -1 }), { ok: false, stage: 'evaluate', error: /records must be a whole number/ });
});

t.test('syntax errors name the problem and where', async (t) => {
  const e = new CelEngine();
  t.throws(() => e.compile('permission', 'record.act =='), { name: 'SplError', code: 'INVALID_REQUEST', message: /^syntax error at line 1, column \d+: found/ });
  const cases: Array<[string, RegExp]> = [
    ['1 + * 2', /^syntax error at line 1, column 3: found \+ but expecting end of input/],
    ['"unterminated', /^syntax error at line 1, column 1: found "/],
    ['a.b.(c)', /^syntax error/],
    ['record.act == "x"\n  && )', /^syntax error at line 2, column \d+/],
    ['', /^expression is empty$/],
    ['x'.repeat(MAX_EXPRESSION_LENGTH + 1), /limit is 16384/],
    ['('.repeat(5000) + '1' + ')'.repeat(5000), /nests too deeply/],
  ];
  for (const [src, re] of cases) {
    const r = e.check('permission', src);
    t.equal(r.ok, false, src.slice(0, 40));
    if (!r.ok) t.match(r.error, re, src.slice(0, 40));
  }
  try {
    e.compile('permission', '1 +');
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof SplError);
    if (err instanceof SplError) t.same([err.status, err.field], [400, 'expression']);
  }
});

// The library has no public type checker (0.6.x); lib/engine/cel.ts checks references itself, so unbound
// variables and unknown functions or arities fail at compile/check time. Argument *types* fail when run.
t.test('unbound variables and unknown functions are rejected at compile time', async (t) => {
  const e = new CelEngine();
  t.match(e.check('permission', 'records > 10'), { ok: false, error: /^undeclared reference to 'records' at line 1, column 1: the permission context has the variables record, resource, method, path, tasks$/ });
  t.match(e.check('routing', 'resource == "dispatch"'), { ok: false, error: /undeclared reference to 'resource'.*variables record, tasks$/ });
  t.same(e.check('health_check', 'records > 10 && threads > 1'), { ok: true });
  t.match(e.check('permission', '[1, 2].exists(x, x > limit)'), { ok: false, error: /undeclared reference to 'limit' at line 1, column 22/ });
  t.same(e.check('permission', '[1, 2].exists(x, x > 1) && [3].all(y, [y].exists(z, z == y))'), { ok: true }, 'comprehension variables are in scope');
  t.match(e.check('permission', '[1].exists(x, x > 0) && x == 1'), { ok: false, error: /undeclared reference to 'x'/ }, 'but not outside their comprehension');
  t.same(e.check('permission', 'type(record) == map || type(1) == int'), { ok: true }, 'type names are not variables');
  t.match(e.check('permission', 'lookup(record)'), { ok: false, error: /^unknown function 'lookup' at line 1, column 1$/ });
  t.match(e.check('permission', 'trust("did:sync:user:a")'), { ok: false, error: /^'trust' at line 1, column 1 takes 2 arguments, not 1$/ });
  t.match(e.check('permission', 'current_actor(1)'), { ok: false, error: /'current_actor'.* takes 0 arguments, not 1/ });
  t.match(e.check('permission', 'record.trust("a", "b")'), { ok: false, error: /'trust'.* is a function, not a method/ });
  t.match(e.evaluate('permission', 'records > 1', perm()), { ok: false, stage: 'compile', error: /undeclared reference to 'records'/ });
  t.match(e.evaluate('permission', 'trust(1, 2) > 0.5', perm()), { ok: false, stage: 'evaluate', error: /no matching overload/ }, 'argument types are checked when run');
});

t.test('unknown contexts are refused, naming the contexts', async (t) => {
  const e = new CelEngine();
  t.same(CEL_CONTEXTS, ['permission', 'routing', 'health_check']);
  t.ok(isCelContext('routing'));
  t.notOk(isCelContext('nope'));
  t.throws(() => e.compile('nope' as 'routing', 'true'), { code: 'INVALID_REQUEST', message: "unknown expression context 'nope'; the contexts are permission, routing, health_check" });
  t.match(e.check('nope', 'true'), { ok: false, error: /the contexts are permission, routing, health_check/ });
  t.match(e.evaluate('nope' as 'routing', 'true', { ...providers, record: rec() }), { ok: false, stage: 'compile', error: /unknown expression context/ });
});

t.test('runtime errors are results, not throws', async (t) => {
  const e = new CelEngine();
  const ev = (src: string, b = perm()) => e.evaluate('permission', src, b);
  t.match(ev('record.body.missing == 1'), { ok: false, stage: 'evaluate', error: /^evaluation error at line 1, column 12: .*missing/ });
  t.match(ev('record.act == "LEARN"', perm({ record: null })), { ok: false, stage: 'evaluate', error: /act/ }, 'select on a null record');
  t.match(ev('record.act + 1'), { ok: false, stage: 'evaluate', error: /no matching overload for '_\+_' applied to '\(string, int\)'/ });
  t.match(ev('record.body.priority > "3"'), { ok: false, stage: 'evaluate' });
  t.match(ev('1 / 0'), { ok: false, stage: 'evaluate', error: /divide by zero/ });
  t.match(ev('trust(current_actor(), "code") > 0.5', perm({ trust: () => { throw new Error('trust fold not ready'); } })), { ok: false, stage: 'evaluate', error: /trust fold not ready/ });
  t.match(ev('true', perm({ resource: 'delete_everything' as 'dispatch' })), { ok: false, stage: 'evaluate', error: /resource must be one of record_write record_read thread_read config_read config_write task_read task_write dispatch/ });
  // || and && absorb errors as CEL specifies.
  t.same(e.evaluateBool('permission', 'record.body.missing == 1 || true', perm()), { ok: true, value: true, type: 'bool' });
  t.same(e.evaluateBool('permission', 'has(record.body.missing) && record.body.missing == 1', perm()), { ok: true, value: false, type: 'bool' });
});

t.test('evaluateBool requires a bool', async (t) => {
  const e = new CelEngine();
  t.same(e.evaluateBool('permission', '1 + 1', perm()), { ok: false, stage: 'evaluate', error: 'expression must evaluate to a bool, got int' });
  t.same(e.evaluateBool('permission', 'record.body', perm()), { ok: false, stage: 'evaluate', error: 'expression must evaluate to a bool, got map' });
  t.same(e.evaluateBool('permission', 'record.judged_by', perm()), { ok: false, stage: 'evaluate', error: 'expression must evaluate to a bool, got null_type' });
  t.match(e.evaluateBool('permission', 'nope(', perm()), { ok: false, stage: 'compile' });
});

t.test('a compiled program is reusable across bindings', async (t) => {
  const e = new CelEngine();
  const p = e.compile('routing', 'record.act == "INTEND" && record.body.priority >= 2');
  t.equal(p.context, 'routing');
  t.equal(p.source, 'record.act == "INTEND" && record.body.priority >= 2');
  t.same(p.evaluateBool({ ...providers, record: rec({ act: 'INTEND', body: { priority: 3 } }) }), { ok: true, value: true, type: 'bool' });
  t.same(p.evaluateBool({ ...providers, record: rec({ act: 'INTEND', body: { priority: 1 } }) }), { ok: true, value: false, type: 'bool' });
  // A draft (no id, no clock yet) still evaluates; the unset fields are absent.
  const draft = { parents: [], thread: 'th_engine_config', actor: ADMIN, act: 'LEARN' as const, body: {}, clock: undefined, data_type: 'SCALAR' as const, judged_by: null };
  t.same(e.evaluate('routing', 'has(record.clock) || has(record.id)', { ...providers, record: draft }), { ok: true, value: false, type: 'bool' });
});

t.test('the cache counts hits, misses and evictions (LRU)', async (t) => {
  const e = new CelEngine({ capacity: 2 });
  t.same(e.stats(), { size: 0, capacity: 2, hits: 0, misses: 0, evictions: 0, hit_rate: 0 });
  const a = e.compile('permission', 'true');
  t.equal(e.compile('permission', 'true'), a, 'a hit returns the same program');
  t.same(e.stats(), { size: 1, capacity: 2, hits: 1, misses: 1, evictions: 0, hit_rate: 0.5 });
  e.compile('routing', 'true'); // same source, other context: a separate entry
  t.same(e.stats(), { size: 2, capacity: 2, hits: 1, misses: 2, evictions: 0, hit_rate: 1 / 3 });
  e.compile('permission', 'true'); // touch: now routing/true is least recently used
  e.compile('permission', 'false'); // evicts routing/true
  t.same(e.stats(), { size: 2, capacity: 2, hits: 2, misses: 3, evictions: 1, hit_rate: 0.4 });
  e.compile('permission', 'true'); // still cached
  e.compile('routing', 'true'); // was evicted: a miss, evicting permission/false
  t.same(e.stats(), { size: 2, capacity: 2, hits: 3, misses: 4, evictions: 2, hit_rate: 3 / 7 });
  t.same(e.check('permission', 'true'), { ok: true });
  t.equal(e.stats().hits, 4, 'check goes through the cache');
  t.same(e.evaluate('permission', 'true', perm()), { ok: true, value: true, type: 'bool' });
  t.equal(e.stats().hits, 5, 'so does evaluate');
  e.check('permission', '1 +');
  e.check('permission', '1 +');
  t.same([e.stats().misses, e.stats().size, e.stats().evictions], [6, 2, 2], 'failed compilations are misses and are not cached');
  e.clear();
  t.equal(e.stats().size, 0);
  t.throws(() => new CelEngine({ capacity: 0 }), { code: 'USAGE' });
  t.equal(new CelEngine().capacity, 512);
});

t.test('module-level functions use the shared engine', async (t) => {
  const before = stats();
  t.equal(before.capacity, 512);
  t.same(check('permission', 'resource == "dispatch"'), { ok: true });
  t.equal(compile('permission', 'resource == "dispatch"').context, 'permission');
  t.same(evaluateBool('permission', 'resource == "dispatch"', perm({ resource: 'dispatch' })), { ok: true, value: true, type: 'bool' });
  t.same(evaluate('permission', 'resource', perm({ resource: 'dispatch' })), { ok: true, value: 'dispatch', type: 'string' });
  t.equal(celEngine.stats().hits - before.hits, 2);
  t.equal(celEngine.stats().misses - before.misses, 2);
});
