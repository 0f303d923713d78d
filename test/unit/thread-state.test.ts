import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveThreadState, threadState, threadStateFold } from '../../lib/engine/folds/thread-state.js';
import { RecordLog } from '../../lib/store/record-log.js';
import { validateRecord } from '../../lib/kernel/record.js';
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

t.test('thread list from the store: most recently written first, with paging; count and existence', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spl-threads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const th = (c: string) => 'th_' + c.repeat(64);
  let log = await RecordLog.open(join(dir, 'hub.db'), { create: true, headsCached: 2 });
  const put = (thread: string) => log.append([validateRecord({ thread, actor: 'did:sync:user:a', act: 'DO', body: { n: Math.random() } })]);
  for (const c of ['a', 'b', 'a', 'c']) await put(th(c));
  t.same((await log.recentThreads(10)).map((x) => x.thread), [th('c'), th('a'), th('b')]);
  t.same((await log.recentThreads(1, 1)).map((x) => x.thread), [th('a')]);
  t.match((await log.recentThreads(10))[1], { records: 2, first_sequence: 1, last_sequence: 3, last_written_at: String });
  t.same(await log.recentThreads(5, 3), [], 'past the end: nothing');
  t.equal(log.threadCount, 3);
  // More threads than the cache holds, some written again, in one group and across groups.
  await Promise.all([put(th('d')), put(th('e')), put(th('b')), put(th('d'))]);
  t.equal(log.threadCount, 5, 'a thread is counted once, whether or not it is cached');
  t.ok(await log.threadExists(th('a')), 'an evicted thread still exists');
  t.notOk(await log.threadExists(th('9')));
  await log.close();
  log = await RecordLog.open(join(dir, 'hub.db'), { headsCached: 2 });
  t.teardown(() => log.close());
  t.equal(log.threadCount, 5, 'the count is the store\'s after a restart');
  await put(th('a'));
  await put(th('f'));
  t.equal(log.threadCount, 6);
  t.same((await log.recentThreads(3)).map((x) => x.thread), [th('f'), th('a'), th('d')]);
  const state = await deriveThreadState((thread, on) => log.scanThread(thread, on), th('a'));
  t.match(state, { thread: th('a'), records: 3, status: 'open' });
  t.equal(await deriveThreadState((thread, on) => log.scanThread(thread, on), th('9')), undefined);
});
