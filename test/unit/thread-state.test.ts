import t from 'tap';
import { threadList, threadState, threadStateFold } from '../../lib/engine/folds/thread-state.js';
import type { StoredRecord } from '../../lib/kernel/record.js';

let seq = 0;
function rec(over: Partial<StoredRecord>): StoredRecord {
  seq++;
  return {
    id: seq.toString(16).padStart(64, '0'), parents: [], thread: 'th_t', actor: 'did:sync:user:a', act: 'DO', body: {}, clock: 0,
    data_type: 'SCALAR', judged_by: null, sequence: seq, created_at: new Date(seq * 1000).toISOString(), ...over,
  };
}

function fold(records: StoredRecord[]) {
  return records.reduce((s, r) => threadStateFold.apply(s, r), threadStateFold.init());
}

t.test('participants, clocks and status', async (t) => {
  const intent = rec({ act: 'INTEND', body: { text: 'goal' } });
  const records = [intent, rec({ actor: 'did:sync:agent:b', clock: 0 }), rec({ clock: 3 })];
  t.match(threadState(fold(records), 'th_t'), {
    records: 3, status: 'open', participants: ['did:sync:user:a', 'did:sync:agent:b'],
    actor_clocks: { 'did:sync:user:a': 3, 'did:sync:agent:b': 0 }, intents: 1, fulfilled: 0, opened_by: 'did:sync:user:a',
  });
  t.equal(threadState(fold([...records, rec({ act: 'KNOW', body: { fulfills: intent.id } })]), 'th_t')!.status, 'fulfilled');
  t.equal(threadState(fold([...records, rec({ body: { cancels: intent.id } })]), 'th_t')!.status, 'cancelled');
  t.equal(threadState(fold([rec({ act: 'LEARN' })]), 'th_t')!.status, 'open', 'a thread with no INTEND stays open');
  t.equal(threadState(fold([]), 'th_t'), undefined);
});

t.test('a fulfilment written before its INTEND still counts once the INTEND arrives', async (t) => {
  const intentId = 'f'.repeat(64);
  const s = fold([rec({ thread: 'th_x', body: { fulfills: intentId } }), rec({ thread: 'th_x', act: 'INTEND', id: intentId })]);
  t.equal(threadState(s, 'th_x')!.status, 'fulfilled');
});

t.test('thread list: most recently written first, with paging', async (t) => {
  const s = fold([rec({ thread: 'th_a' }), rec({ thread: 'th_b' }), rec({ thread: 'th_a' }), rec({ thread: 'th_c' })]);
  t.same(threadList(s, 10).map((x) => x.thread), ['th_c', 'th_a', 'th_b']);
  t.same(threadList(s, 1, 1).map((x) => x.thread), ['th_a']);
  t.equal(threadList(s, 10)[1]!.records, 2);
});
