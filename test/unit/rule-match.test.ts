// The shorthand rule forms (--domain/--act, --match) compile to CEL that matches exactly the records its
// hand-written twin matches, over records that have, lack or mistype the fields; bad shorthand is refused by name.

import t from 'tap';
import { CelEngine } from '../../lib/engine/cel.js';
import { matchExpression } from '../../lib/engine/rule-match.js';
import type { StoredRecord } from '../../lib/kernel/record.js';

const e = new CelEngine();
const providers = { actor: 'did:sync:user:admin', trust: () => 0, now: () => new Date('2026-03-01T00:00:00Z') };

function rec(act: StoredRecord['act'], body: Record<string, unknown>, actor = 'did:sync:user:alice'): StoredRecord {
  return { id: 'b'.repeat(64), parents: [], thread: 'th_' + 'c'.repeat(64), actor, act, body, clock: 0, data_type: 'SCALAR', judged_by: null, sequence: 1, created_at: '2026-01-01T00:00:00Z' };
}

const RECORDS: StoredRecord[] = [
  rec('INTEND', { domain: 'code', goal: 'x' }),
  rec('INTEND', { domain: 'docs' }),
  rec('INTEND', {}),
  rec('KNOW', { domain: 'code', topic: 'review' }),
  rec('KNOW', { topic: 'review', meta: { level: 2, tag: 'a' } }),
  rec('KNOW', { topic: 'other', meta: 'not a map' }),
  rec('DO', { domain: 'code', meta: { level: 3 } }, 'did:sync:agent:dev'),
  rec('LEARN', { domain: 5 }),
];

function matches(expression: string): boolean[] {
  return RECORDS.map((record) => {
    const r = e.evaluateBool('routing', expression, { ...providers, record });
    return r.ok && r.value === true;
  });
}

t.test('each shorthand matches the same records as its CEL twin', async (t) => {
  const twins: Array<[Parameters<typeof matchExpression>[0], string]> = [
    [{ domain: 'code', act: 'INTEND' }, 'record.act == "INTEND" && has(record.body.domain) && record.body.domain == "code"'],
    [{ act: 'intend' }, 'record.act == "INTEND"'],
    [{ domain: 'code' }, 'has(record.body.domain) && record.body.domain == "code"'],
    [{ match: 'act=KNOW,body.topic=review' }, 'record.act == "KNOW" && has(record.body.topic) && record.body.topic == "review"'],
    [{ match: 'body.meta.level=2' }, 'has(record.body.meta) && type(record.body.meta) == map && has(record.body.meta.level) && record.body.meta.level == 2'],
    [{ match: 'actor=did:sync:agent:dev' }, 'record.actor == "did:sync:agent:dev"'],
    [{ match: 'body.domain="5"' }, 'has(record.body.domain) && record.body.domain == "5"'],
    [{}, 'true'],
  ];
  for (const [shorthand, twin] of twins) {
    const compiled = matchExpression(shorthand);
    t.ok(e.check('routing', compiled).ok, `${compiled} compiles`);
    t.same(matches(compiled), matches(twin), `${JSON.stringify(shorthand)} ≡ ${twin}`);
  }
  t.same(matches(matchExpression({ domain: 'code', act: 'INTEND' })), [true, false, false, false, false, false, false, false], 'and the twin is not trivially all-true or all-false');
  t.same(matches(matchExpression({ match: 'body.domain=5' })), [false, false, false, false, false, false, false, true], 'a number value compares as a number');
});

t.test('bad shorthand is refused, naming the problem', async (t) => {
  const refused = (s: Parameters<typeof matchExpression>[0], re: RegExp) =>
    t.throws(() => matchExpression(s), { code: 'USAGE', message: re }, `${JSON.stringify(s)} → ${re}`);
  refused({ act: 'SHOUT' }, /act must be one of INTEND DO KNOW LEARN/);
  refused({ match: 'topic' }, /'topic' has no key=value/);
  refused({ match: 'colour=red' }, /'colour' is not one of act, actor, thread, data_type or body.<field>/);
  refused({ match: 'body.a-b=1' }, /'a-b' is not a field name/);
  refused({ match: ' , ' }, /--match is empty/);
});
