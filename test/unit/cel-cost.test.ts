// CEL cost limits: the compile-time limits, the evaluation budget (iterations and an injected clock), and
// stored permission rules that exceed it (skipped, warned about with a throttle, tallied).

import t from 'tap';
import pino from 'pino';
import {
  CLOCK_EVERY, CelCostError, CelEngine, MAX_AST_NODES, MAX_COMPREHENSION_NESTING, MAX_NESTING_DEPTH, RULE_BUDGET,
  type CelBindings, type CelBudget, type CelEvalResult,
} from '../../lib/engine/cel.js';
import { LOOP_FUNCTION } from '../../lib/engine/cel-limits.js';
import { BUDGET_WARN_INTERVAL_MS, RuleBudgetTally } from '../../lib/engine/cel-rule-budget.js';
import { Permissions } from '../../lib/engine/permissions.js';
import { engineConfigFold } from '../../lib/engine/folds/engine-config.js';
import { trustFold } from '../../lib/engine/folds/trust.js';
import type { StoredRecord } from '../../lib/kernel/record.js';

const ADMIN = 'did:sync:user:admin';
const TEN = '[0,1,2,3,4,5,6,7,8,9]';
const HUNDRED = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`;

/** A clock that only moves when the test says so. */
function manualClock(start = 0) {
  let now = start;
  const clock = () => now;
  return Object.assign(clock, { advance: (ms: number) => void (now += ms) });
}

function bindings(over: Partial<CelBindings<'permission'>> = {}): CelBindings<'permission'> {
  return { actor: ADMIN, trust: () => 0, now: () => 0, record: null, resource: 'record_read', method: 'GET', path: '/', clock: () => 0, ...over };
}

function run(source: string, budget: CelBudget = RULE_BUDGET, over: Partial<CelBindings<'permission'>> = {}): CelEvalResult {
  return new CelEngine().evaluate('permission', source, bindings({ budget, ...over }));
}

function nestedMaps(levels: number, list = TEN): string {
  const vars = 'abcdefghij';
  let inner = vars[levels - 1]!;
  for (let i = levels - 1; i >= 0; i--) inner = `${list}.map(${vars[i]}, ${inner})`;
  return inner;
}

t.test('compile-time limits: each refused with EXPRESSION_TOO_COSTLY naming the limit and the measured value', async (t) => {
  const cel = new CelEngine();
  const cases: Array<[string, string, string, RegExp]> = [
    ['seven nested maps', nestedMaps(7), 'comprehension_nesting', /^comprehensions nest 7 deep; the limit is 3 \(MAX_COMPREHENSION_NESTING\)/],
    ['four nested macros of mixed kinds', `${TEN}.all(a, ${TEN}.exists(b, ${TEN}.filter(c, ${TEN}.exists_one(d, d == c)).size() > 0))`, 'comprehension_nesting', /comprehensions nest 4 deep; the limit is 3/],
    ['a long list literal', `current_actor() in [${Array.from({ length: MAX_AST_NODES }, (_, i) => `"d${i}"`).join(',')}]`, 'ast_nodes', /the expression has 100[0-9] nodes; the limit is 1000 \(MAX_AST_NODES\)/],
    ['a long left-nested chain', Array.from({ length: 80 }, () => '1').join(' + ') + ' > 0', 'nesting_depth', /the expression nests 8[0-9] deep; the limit is 64 \(MAX_NESTING_DEPTH\)/],
  ];
  for (const [what, source, limit, message] of cases) {
    t.equal(source.length <= 16 * 1024, true, `${what} fits the length limit`);
    const err = (() => {
      try {
        cel.compile('permission', source);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(err instanceof CelCostError, `${what}: a CelCostError`);
    t.match(err, { code: 'EXPRESSION_TOO_COSTLY', status: 422, limit, field: 'expression', message, fix: /simplify/ }, what);
    t.match(cel.check('permission', source), { ok: false, limit, error: message }, `${what}: check() carries the limit`);
    t.match(cel.evaluate('permission', source, bindings()), { ok: false, stage: 'compile', limit, error: message }, `${what}: evaluate() carries the limit`);
  }
  t.equal(MAX_COMPREHENSION_NESTING, 3);
  t.equal(MAX_NESTING_DEPTH, 64);
});

t.test('within the limits: three nested macros, chained macros, ordinary mistakes are not cost failures', async (t) => {
  const cel = new CelEngine();
  t.same(cel.check('permission', nestedMaps(3)), { ok: true });
  t.same(cel.check('permission', `${TEN}.filter(x, x > 2).map(x, x * 2).filter(x, x > 10).map(x, x + 1).map(x, x).size() == 4`), { ok: true }, 'chains do not nest');
  const typo = cel.check('permission', 'nosuch == 1');
  t.equal(typo.ok, false);
  t.notOk('limit' in typo, 'an ordinary compile error has no limit');
  t.match(cel.evaluate('permission', '1 / 0 == 1', bindings()), { ok: false, stage: 'evaluate' });
  t.notOk('limit' in cel.evaluate('permission', '1 / 0 == 1', bindings()), 'an ordinary runtime error has no limit');
});

t.test('the budget functions cannot be called from source', async (t) => {
  const cel = new CelEngine();
  for (const source of [`${LOOP_FUNCTION}(true)`, '@budget_append([1], [2])']) {
    const r = cel.check('permission', source);
    t.match(r, { ok: false, error: /syntax error/ }, source);
  }
});

t.test('a runaway evaluation stops at the iteration budget, and every enclosing loop stops with it', async (t) => {
  const budget = { iterations: 5000, timeMs: 1e9 };
  const r = run(`${HUNDRED}.all(a, ${HUNDRED}.all(b, ${HUNDRED}.all(c, c >= 0)))`, budget);
  t.match(r, { ok: false, stage: 'evaluate', limit: 'iterations', error: 'evaluation stopped after 5000 comprehension iterations, the iteration budget' });

  // 10 + 100 iterations are needed; with 40 allowed the loops must stop rather than run on with the inner ones failing.
  let calls = 0;
  const counted = run(`${TEN}.all(a, ${TEN}.all(b, b >= 0))`, { iterations: 40, timeMs: 1e9 }, { clock: () => (calls++, 0) });
  t.match(counted, { ok: false, limit: 'iterations', error: /after 40 comprehension iterations/ });
  t.equal(calls, 1 + Math.floor(40 / CLOCK_EVERY), 'the clock is read at the first iteration and every CLOCK_EVERY iterations, never after the budget ran out');

  t.match(run(`${TEN}.all(a, ${TEN}.all(b, b >= 0))`, { iterations: 110, timeMs: 1e9 }), { ok: true, value: true }, 'exactly enough is enough');
  t.match(run(`${HUNDRED}.map(a, ${HUNDRED}.map(b, b)).size() == 100`), { ok: false, limit: 'iterations' }, 'RULE_BUDGET (10 100 iterations needed)');
});

t.test('a loop stops once the injected clock passes the time budget', async (t) => {
  const clock = manualClock(1000);
  // Make each read of the clock "take" 1 ms.
  const ticking = () => {
    const now = clock();
    clock.advance(1);
    return now;
  };
  // Read every CLOCK_EVERY iterations, the 11th read (1 ms per read) is past the 10 ms budget.
  const r = run(`${HUNDRED}.all(a, ${HUNDRED}.all(b, b >= 0))`, { iterations: 1e6, timeMs: 10 }, { clock: ticking });
  t.match(r, { ok: false, limit: 'time', error: `evaluation stopped after ${11 * CLOCK_EVERY} comprehension iterations: it ran past the time budget of 10 ms` });
  t.match(run(`${TEN}.all(a, a >= 0)`, { iterations: 1e6, timeMs: 10 }, { clock: manualClock() }), { ok: true, value: true }, 'a clock that does not move never trips');
});

t.test('a rule that absorbs the error with || or && still fails with the cost failure', async (t) => {
  const costly = `${HUNDRED}.exists(a, ${HUNDRED}.exists(b, a * b == -1))`;
  const budget = { iterations: 100, timeMs: 1e9 };
  for (const source of [`${costly} || true`, `true && (${costly} || true)`, `(${costly} ? false : false) || current_actor() == "${ADMIN}"`, `!(${costly} && false)`]) {
    t.match(run(source, budget), { ok: false, stage: 'evaluate', limit: 'iterations' }, source);
  }
  t.match(run(`true || ${costly}`, budget), { ok: true, value: true }, 'a loop never reached costs nothing');
  t.match(new CelEngine().evaluateBool('permission', `${costly} || true`, bindings({ budget })), { ok: false, limit: 'iterations' }, 'evaluateBool too');
});

t.test('map and filter keep their meaning and build large results in linear time', async (t) => {
  const cel = new CelEngine();
  const b = bindings({ budget: { iterations: 1e6, timeMs: 1e9 } });
  const nested = cel.compile('permission', '[1,2].map(a, [a, a * 10].map(b, b + 0))');
  t.same(nested.evaluate(b), { ok: true, value: [[1, 10], [2, 20]], type: 'list' });
  t.same(nested.evaluate(b), { ok: true, value: [[1, 10], [2, 20]], type: 'list' }, 'a second run starts from fresh accumulators');
  t.same(cel.evaluate('permission', '[1,2,3,4].filter(x, x % 2 == 0) + [9]', b), { ok: true, value: [2, 4, 9], type: 'list' });
  t.same(cel.evaluate('permission', '[[1], [2]].map(l, l + [0])', b), { ok: true, value: [[1, 0], [2, 0]], type: 'list' }, 'only the accumulator is appended to');
  // 20 000 items used to nest 20 000 lazy concatenations and overflow the stack when read.
  const xs = Array.from({ length: 20_000 }, (_, i) => i);
  const r = cel.evaluate('permission', 'record.body.xs.map(x, x * 2).filter(y, y % 4 == 0).exists(z, z == 39996)', { ...b, record: { body: { xs } } });
  t.same(r, { ok: true, value: true, type: 'bool' });
});

// ---------------------------------------------------------------------------------------------
// Stored permission rules

function rule(name: string, expression: string, priority: number, effect = 'allow', sequence = 1): StoredRecord {
  return {
    id: String(sequence).padStart(64, '0'), parents: [], thread: 'th_engine_config', actor: ADMIN, act: 'LEARN',
    body: { topic: 'permission_rule', name, expression, priority, effect, enabled: true },
    clock: sequence, data_type: 'SCALAR', judged_by: null, sequence, created_at: '2026-01-01T00:00:00Z',
  };
}

t.test('a permission rule over its budget is skipped as no match, with a throttled WARN and a tally', async (t) => {
  const costly = `${HUNDRED}.exists(a, ${HUNDRED}.exists(b, a * b == -1)) || current_actor() == "${ADMIN}"`;
  const config = [rule('slow-allow', costly, 100, 'allow', 1), rule('admins', `current_actor() == "${ADMIN}" && resource != "dispatch"`, 10, 'allow', 2)]
    .reduce((s, r) => engineConfigFold.apply(s, r), engineConfigFold.init());
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  let wall = Date.parse('2026-03-01T12:00:00Z');
  const tally = new RuleBudgetTally(() => wall);
  const perms = new Permissions(() => config, () => trustFold.init(), logger, () => wall, new CelEngine(), { tally, clock: () => 0 });
  const ask = (resource: 'record_read' | 'dispatch') => perms.decide({ actor: ADMIN, resource, method: 'GET', path: '/v1/records', record: null });

  t.same(ask('record_read'), { allowed: true, rule: 'admins' }, 'the costly allow rule is skipped; the next rule decides');
  t.same(ask('dispatch'), { allowed: false, rule: null }, 'and it does not allow by absorbing its error');
  const warns = () => lines.filter((l) => l.level === 40);
  t.equal(warns().length, 1, 'warned the first time');
  t.match(warns()[0], { rule: 'slow-allow', topic: 'permission_rule', limit: 'iterations', msg: /^permission_rule slow-allow exceeded its evaluation budget and was skipped as no match: evaluation stopped after 10000 comprehension iterations/ });
  t.match(warns()[0]!.msg, /spl config disable-rule slow-allow --topic permission_rule/);

  for (let i = 0; i < 20; i++) {
    wall += 1000;
    ask('record_read');
  }
  t.equal(warns().length, 1, 'not again within the interval');
  wall += BUDGET_WARN_INTERVAL_MS;
  ask('record_read');
  t.equal(warns().length, 2, 'again once the interval has passed');
  t.match(warns()[1]!.msg, /\(22 times since the last warning, 23 in all\)/);

  t.same(tally.report(), [{
    topic: 'permission_rule', name: 'slow-allow', exceeded: 23, last_at: new Date(wall).toISOString(),
    last_error: 'evaluation stopped after 10000 comprehension iterations, the iteration budget', limit: 'iterations',
  }]);
});

t.test('a rule that does not compile is skipped without counting against the budget tally', async (t) => {
  const config = [rule('broken', 'nosuch == 1', 100, 'allow', 1), rule('too-deep', nestedMaps(5) + '.size() > 0', 50, 'allow', 2)]
    .reduce((s, r) => engineConfigFold.apply(s, r), engineConfigFold.init());
  const tally = new RuleBudgetTally(() => 0);
  const perms = new Permissions(() => config, () => trustFold.init(), pino({ enabled: false }), () => 0, new CelEngine(), { tally });
  t.same(perms.decide({ actor: ADMIN, resource: 'record_read', method: 'GET', path: '/', record: null }), { allowed: false, rule: null });
  t.same(tally.report(), []);
});
