import t from 'tap';
import { reduceThread } from '../../lib/engine/thread-state.js';
import type { StoredRecord } from '../../lib/kernel/record.js';

let seq = 0;
function rec(over: Partial<StoredRecord>): StoredRecord {
  seq++;
  return {
    id: seq.toString(16).padStart(64, '0'), parents: [], thread: 'th_t', actor: 'did:sync:user:a', act: 'DO', body: {}, clock: 0,
    data_type: 'SCALAR', judged_by: null, sequence: seq, created_at: '', ...over,
  };
}

t.test('participants, clocks and status', async (t) => {
  const intent = rec({ act: 'INTEND', body: { text: 'goal' } });
  const records = [intent, rec({ actor: 'did:sync:agent:b', clock: 0 }), rec({ clock: 3 })];
  const open = reduceThread('th_t', records);
  t.match(open, { records: 3, status: 'open', participants: ['did:sync:user:a', 'did:sync:agent:b'], actor_clocks: { 'did:sync:user:a': 3, 'did:sync:agent:b': 0 }, intents: 1, fulfilled: 0, opened_by: 'did:sync:user:a' });
  t.equal(reduceThread('th_t', [...records, rec({ act: 'KNOW', body: { fulfills: intent.id } })]).status, 'fulfilled');
  t.equal(reduceThread('th_t', [...records, rec({ body: { cancels: intent.id } })]).status, 'cancelled');
  t.equal(reduceThread('th_t', [rec({ act: 'LEARN' })]).status, 'open', 'a thread with no INTEND stays open');
});
