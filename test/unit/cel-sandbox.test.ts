// The evaluation thread for untrusted expressions: same answers as in-process (trust() included), a job
// past its deadline has its thread replaced, and the next job runs on a fresh one.

import t from 'tap';
import { CelEngine } from '../../lib/engine/cel.js';
import { CelSandbox } from '../../lib/engine/cel-sandbox.js';

const ADMIN = 'did:sync:user:admin';
const HUNDRED = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`;
const scores: Record<string, number> = { [`${ADMIN}|ops`]: 0.75, 'did:sync:user:bob|ops': 0.25 };
const trust = (a: string, d: string) => scores[`${a}|${d}`] ?? 0;
const vars = { actor: ADMIN, record: { thread: 'th_x', body: { tags: ['a', 'b'] } }, resource: 'record_write', method: 'POST', path: '/v1/records' };

t.test('answers as in-process evaluation does, trust() included', async (t) => {
  const sandbox = new CelSandbox();
  t.teardown(() => sandbox.close());
  const cel = new CelEngine();
  for (const source of [
    'trust(current_actor(), "ops") + trust("did:sync:user:bob", "ops")',
    '[ "did:sync:user:bob", current_actor() ].map(a, trust(a, "ops"))',
    'record.body.tags.exists(x, x == "b") && resource == "record_write"',
    'now() == timestamp("2026-03-01T12:00:00Z")',
    '1 / 0 == 1',
  ]) {
    const inProcess = cel.evaluate('permission', source, { ...vars, trust, now: () => Date.parse('2026-03-01T12:00:00Z') } as never);
    const inThread = await sandbox.evaluate({ context: 'permission', source, vars, nowMs: Date.parse('2026-03-01T12:00:00Z'), trust });
    t.same(inThread, inProcess, source);
  }
});

t.test('the budget stops a runaway in the thread; a job past the deadline has its thread replaced', async (t) => {
  const budgeted = new CelSandbox({ budget: { iterations: 1000, timeMs: 1e9 } });
  t.teardown(() => budgeted.close());
  const runaway = `${HUNDRED}.all(a, ${HUNDRED}.all(b, ${HUNDRED}.all(c, c >= 0)))`;
  t.match(await budgeted.evaluate({ context: 'permission', source: runaway, vars, nowMs: 0, trust }), { ok: false, limit: 'iterations' });

  // No budget to speak of: only the deadline stops it.
  const unbounded = new CelSandbox({ budget: { iterations: 1e12, timeMs: 1e12 }, deadlineMs: 200 });
  t.teardown(() => unbounded.close());
  const stopped = await unbounded.evaluate({ context: 'permission', source: runaway, vars, nowMs: 0, trust });
  t.match(stopped, { ok: false, stage: 'evaluate', limit: 'time', error: /ran past the 200 ms deadline and its thread was stopped/ });
  t.equal(unbounded.restarts, 1);
  t.match(await unbounded.evaluate({ context: 'permission', source: '[1, 2].map(x, x * 3)', vars, nowMs: 0, trust }), { ok: true, value: [3, 6] }, 'the next job runs on a fresh thread');
});

t.test('jobs queue behind one another and a full queue is refused', async (t) => {
  const sandbox = new CelSandbox({ queueLimit: 2 });
  t.teardown(() => sandbox.close());
  const jobs = [1, 2].map((n) => sandbox.evaluate({ context: 'permission', source: `${n} + 1`, vars, nowMs: 0, trust }));
  // The first is taken at once; two more wait.
  jobs.push(sandbox.evaluate({ context: 'permission', source: '3 + 1', vars, nowMs: 0, trust }));
  await t.rejects(sandbox.evaluate({ context: 'permission', source: '4 + 1', vars, nowMs: 0, trust }), { code: 'UNAVAILABLE', message: /already waiting/ });
  t.same((await Promise.all(jobs)).map((r) => (r.ok ? r.value : r.error)), [2, 3, 4]);
});
