// CEL cost limits against a real instance: the untrusted expression endpoint refuses costly expressions
// with 422 while /health keeps answering, and a stored permission rule over its budget is skipped with a
// WARN in logs/spl.log and reported by spl doctor.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { adminHome, makeHome, serve, stop, runSpl, http, postJson } from '../helpers/spl.js';

const ADMIN = 'did:sync:user:admin';
const TEN = '[0,1,2,3,4,5,6,7,8,9]';
const SEVEN = `${TEN}.map(a, ${TEN}.map(b, ${TEN}.map(c, ${TEN}.map(d, ${TEN}.map(e, ${TEN}.map(f, ${TEN}.map(g, g)))))))`;
const HUNDRED = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`;
/** Three loops of 100: within the compile-time limits, a million iterations at run time. */
const RUNAWAY = `${HUNDRED}.all(a, ${HUNDRED}.all(b, ${HUNDRED}.all(c, c >= 0)))`;


async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number; at: number }> {
  const start = performance.now();
  const value = await f();
  const at = performance.now();
  return { value, ms: at - start, at };
}

t.test('POST /v1/engine/expr: costly expressions answer 422 naming the limit while /health keeps answering', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));

  const seven = await timed(() => postJson(h.port, '/v1/engine/expr', { expression: SEVEN }));
  t.equal(seven.value.status, 422);
  t.match(seven.value.body, { object: 'error', code: 'EXPRESSION_TOO_COSTLY', field: 'expression', message: /comprehensions nest 7 deep; the limit is 3/ });
  t.ok(seven.ms < 1000, `the seven-level map (${SEVEN.length} bytes) answered in ${seven.ms.toFixed(1)} ms`);

  // The first evaluation starts the evaluation thread; time it apart from the runaway below.
  const first = await timed(() => postJson(h.port, '/v1/engine/expr', { expression: `${TEN}.map(x, x * 2)[9] == 18 && trust(current_actor(), "ops") == 0.0` }));
  t.match(first.value.body, { ok: true, value: true, type: 'bool' }, first.value.text);
  t.comment(`first evaluation (starting the evaluation thread): ${first.ms.toFixed(1)} ms`);

  // An expression within the compile-time limits that would run a million iterations: the evaluation
  // thread stops it, and /health answers meanwhile.
  const started = performance.now();
  const expr = timed(() => postJson(h.port, '/v1/engine/expr', { expression: RUNAWAY }));
  const probes: Array<{ ms: number; at: number; status: number }> = [];
  let done = false;
  void expr.then(() => (done = true));
  while (!done && probes.length < 200) {
    const p = await timed(() => http(h.port, 'GET', '/health'));
    probes.push({ ms: p.ms, at: p.at, status: p.value.status });
  }
  const r = await expr;
  t.equal(r.value.status, 422);
  t.match(r.value.body, { code: 'EXPRESSION_TOO_COSTLY', message: /iteration budget|time budget|deadline/ });
  t.comment(`runaway stopped by: ${r.value.body.message}`);
  const during = probes.filter((p) => p.at < r.at);
  t.ok(during.length > 0, 'at least one /health answered before the expression did');
  t.ok(during.every((p) => p.status === 200), '/health answered 200 throughout');
  const worst = Math.max(...during.map((p) => p.ms));
  t.comment(`runaway expression: 422 after ${(r.at - started).toFixed(1)} ms; ${during.length} /health answers meanwhile, slowest ${worst.toFixed(1)} ms, median ${during.map((p) => p.ms).sort((a, b) => a - b)[Math.floor(during.length / 2)]!.toFixed(1)} ms`);

  // Ordinary mistakes still answer 200 { ok: false }, and the thread still evaluates after a stopped job.
  const typo = await postJson(h.port, '/v1/engine/expr', { expression: 'nosuch == 1' });
  t.equal(typo.status, 200);
  t.match(typo.body, { ok: false, error: /undeclared reference to 'nosuch'/ });
  t.notOk('limit' in typo.body);
  const fine = await postJson(h.port, '/v1/engine/expr', { expression: `${TEN}.map(x, x * 2)[9] == 18 && trust(current_actor(), "ops") == 0.0` });
  t.match(fine.body, { ok: true, value: true, type: 'bool' }, fine.text);

  // The CLI: spl expr eval and spl config add-permission-rule refuse with the limit named.
  const cli = await runSpl(['expr', 'eval', SEVEN, '--port', String(h.port)], h.env);
  t.equal(cli.code, 2);
  t.match(cli.stderr, /comprehensions nest 7 deep; the limit is 3/);
  const add = await runSpl(['config', 'add-permission-rule', 'too-deep', '--expression', SEVEN], h.env);
  t.not(add.code, 0);
  t.match(add.stderr, /comprehensions nest 7 deep; the limit is 3/);
  const rules = await http(h.port, 'GET', '/v1/config/permission-rules');
  t.same(rules.body.data.map((x: { name: string }) => x.name), [], 'the refused rule was not written');
});

t.test('a stored permission rule over its budget is skipped, warned about once, and reported by spl doctor', async (t) => {
  const h = await adminHome(ADMIN);
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));

  // Written straight to the log (the CLI would check it first): compiles, but runs past the budget.
  const costly = `${HUNDRED}.exists(a, ${HUNDRED}.exists(b, a * b == -1)) || current_actor() == "${ADMIN}"`;
  const wrote = await postJson(h.port, '/v1/records', { thread: 'th_engine_config', actor: ADMIN, act: 'LEARN', body: { topic: 'permission_rule', name: 'slow-allow', expression: costly, priority: 100, effect: 'allow', enabled: true } });
  t.equal(wrote.status, 201, wrote.text);
  const admin = await runSpl(['config', 'add-permission-rule', 'admin-all', '--expression', `current_actor() == "${ADMIN}"`, '--priority', '1'], h.env);
  t.equal(admin.code, 0, admin.stderr);
  const enabled = await runSpl(['config', 'permissions-enable'], h.env);
  t.equal(enabled.code, 0, enabled.stderr);

  for (let i = 0; i < 5; i++) {
    const r = await timed(() => http(h.port, 'GET', '/v1/threads'));
    t.equal(r.value.status, 200, 'allowed by admin-all: the costly rule is skipped, not fatal');
    if (i === 4) t.comment(`a request walking the over-budget rule took ${r.ms.toFixed(1)} ms`);
  }

  const log = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8');
  const warns = log.split('\n').filter((l) => /"level":"WARN"/.test(l) && /permission_rule slow-allow exceeded its evaluation budget/.test(l));
  t.equal(warns.length, 1, 'one WARN however many requests hit it (throttled)');
  t.match(warns[0], /skipped as no match/);

  const health = await http(h.port, 'GET', '/v1/engine/health');
  t.match(health.body.rules_over_budget, [{ topic: 'permission_rule', name: 'slow-allow', exceeded: Number, last_error: /budget/ }]);
  t.ok(health.body.rules_over_budget[0].exceeded >= 5);

  // A health rule gets the same budget: over it, its check fails and it is tallied.
  const slowHealth = await postJson(h.port, '/v1/records', { thread: 'th_engine_config', actor: ADMIN, act: 'LEARN', body: { topic: 'health_rule', name: 'slow-health', expression: `${HUNDRED}.all(a, ${HUNDRED}.all(b, a + b >= 0))`, enabled: true } });
  t.equal(slowHealth.status, 201, slowHealth.text);
  const checked = await http(h.port, 'GET', '/v1/engine/health');
  t.match(checked.body, { status: 'failing', checks: [{ name: 'slow-health', ok: false, error: /budget/ }] });
  const tallied = checked.body.rules_over_budget as Array<{ topic: string; name: string; exceeded: number }>;
  t.match(tallied.find((x) => x.name === 'slow-health'), { topic: 'health_rule', exceeded: 1, last_error: /budget/ });
  t.ok(tallied.find((x) => x.name === 'slow-allow'), 'the permission rule is still listed');

  const doctor = await runSpl(['doctor', '--json', '--port', String(h.port)], h.env);
  const report = JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string; summary: string; fix?: string }> };
  const row = report.checks.find((x) => x.id === 'engine-config');
  t.match(row, { status: 'warn', summary: /exceeded their evaluation budget: .*permission_rule slow-allow \(\d+ times, last .*budget/, fix: /simplify slow-(allow|health)'s expression/ });
});
