import t from 'tap';
import { validateRecord } from '../../lib/kernel/record.js';
import { sealRecord } from '../../lib/kernel/id.js';
import { isDid } from '../../lib/kernel/did.js';
import { isThreadId } from '../../lib/kernel/thread.js';
import { mintThreadId } from '../../lib/kernel/id.js';
import { SplError } from '../../lib/kernel/errors.js';

const ok = { thread: 'th_engine_config', actor: 'did:sync:user:alice', act: 'LEARN', body: { topic: 'x' } };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof SplError) return e.field;
    throw e;
  }
  return undefined;
}

t.test('fills defaults and sorts parents', async (t) => {
  const a = 'b'.repeat(64);
  const b = 'a'.repeat(64);
  const d = validateRecord({ ...ok, parents: [a, b, a] });
  t.same(d.parents, [b, a]);
  t.equal(d.data_type, 'SCALAR');
  t.equal(d.judged_by, null);
  t.equal(d.clock, undefined);
});

t.test('each malformed field is named in the error', async (t) => {
  t.equal(fieldOf(() => validateRecord({ ...ok, thread: 'nope' })), 'thread');
  t.equal(fieldOf(() => validateRecord({ ...ok, actor: 'alice' })), 'actor');
  t.equal(fieldOf(() => validateRecord({ ...ok, act: 'SHOUT' })), 'act');
  t.equal(fieldOf(() => validateRecord({ ...ok, body: [] })), 'body');
  t.equal(fieldOf(() => validateRecord({ ...ok, clock: -1 })), 'clock');
  t.equal(fieldOf(() => validateRecord({ ...ok, clock: 1.5 })), 'clock');
  t.equal(fieldOf(() => validateRecord({ ...ok, data_type: 'BLOB' })), 'data_type');
  t.equal(fieldOf(() => validateRecord({ ...ok, parents: ['x'] })), 'parents[0]');
  t.equal(fieldOf(() => validateRecord({ ...ok, judged_by: 5 })), 'judged_by');
  t.equal(fieldOf(() => validateRecord({ ...ok, colour: 'red' })), 'colour');
  t.equal(fieldOf(() => validateRecord({ ...ok, body: { a: { b: '\ud800' } } })), 'body.a.b');
  t.equal(fieldOf(() => validateRecord({ ...ok, body: { n: 2 ** 60 } })), 'body.n');
  t.equal(fieldOf(() => validateRecord({ ...ok, act: 'DO' }, 'records[3].')), undefined);
  t.equal(fieldOf(() => validateRecord({ ...ok, act: 3 }, 'records[3].')), 'records[3].act');
  t.equal(fieldOf(() => validateRecord('x')), 'record');
});

t.test('a supplied id must match the content', async (t) => {
  const d = validateRecord({ ...ok, clock: 0 });
  const sealed = sealRecord(d, 0);
  t.equal(sealRecord({ ...d, id: sealed.id }, 0).id, sealed.id);
  t.throws(() => sealRecord({ ...d, id: 'f'.repeat(64) }, 0), { code: 'INVALID_RECORD', field: 'id' });
});

t.test('DIDs and thread ids', async (t) => {
  for (const d of ['did:sync:user:alice', 'did:sync:agent:dev', 'did:sync:system:x', 'did:sync:instance:0123456789abcdef', 'did:web:example.com', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK']) {
    t.ok(isDid(d), d);
  }
  for (const d of ['alice', 'did:sync:robot:x', 'did:key:abc', 'did:sync:user:', 'did:sync:user:a b']) t.notOk(isDid(d), d);
  const minted = mintThreadId('did:sync:user:alice', 'purpose', new Uint8Array(16));
  t.match(minted, /^th_[0-9a-f]{64}$/);
  t.equal(minted, mintThreadId('did:sync:user:alice', 'purpose', new Uint8Array(16)), 'deterministic for a fixed nonce');
  t.not(minted, mintThreadId('did:sync:user:alice', 'purpose'), 'random nonce by default');
  t.ok(isThreadId('th_engine_config'));
  t.notOk(isThreadId('th_UPPER'));
  t.notOk(isThreadId('engine_config'));
});
