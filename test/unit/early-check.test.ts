// The quick_check begun before the instance loads: its verdict stands in for the open's own check only while
// the store's files are as they were when it ran; a commit, a checkpoint or another file means a check at open.

import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordLog } from '../../lib/store/record-log.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { earlyVerdict, startEarlyCheck, storeFiles } from '../../lib/store/early-check.js';

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'spl-early-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'hub.db');
}

const rec = (i: number) => validateRecord({ thread: 'th_' + (i + 1).toString(16).padStart(64, '0'), actor: 'did:sync:user:a', act: 'DO', body: { i } });

async function storeWith(path: string, n: number): Promise<void> {
  const log = await RecordLog.open(path, { create: true });
  await log.append(Array.from({ length: n }, (_, i) => rec(i)));
  await log.close();
}

t.test('an unchanged store: the open uses the early verdict instead of checking again', async (t) => {
  const path = tmp(t);
  await storeWith(path, 300);
  const early = startEarlyCheck(path)!;
  t.ok(early, 'a check begins for a store that exists');
  t.same((await early.result)?.problems, [], 'sound');
  const log = await RecordLog.open(path, { checked: early });
  t.teardown(() => log.close());
  t.equal(early.used, true, 'the open relied on it');
  t.equal(log.recordCount, 300);
});

t.test('a store committed to after the check began is checked again at open', async (t) => {
  const path = tmp(t);
  await storeWith(path, 50);
  const early = startEarlyCheck(path)!;
  await early.result;
  const writer = await RecordLog.open(path);
  await writer.append([rec(1000)]); // a commit: the WAL gains frames
  t.not(storeFiles(path), (await early.result)!.files, 'the files say so');
  t.equal(await earlyVerdict(early, path), undefined, 'no verdict for a store that has changed');
  const log = await RecordLog.open(path, { checked: early });
  t.notOk(early.used, 'the open checked for itself');
  t.equal(log.recordCount, 51);
  await log.close();
  await writer.close();
});

t.test('a verdict is only for the path it was taken on, and a missing store has none', async (t) => {
  const path = tmp(t);
  await storeWith(path, 5);
  const early = startEarlyCheck(path)!;
  t.equal(await earlyVerdict(early, path + '.other'), undefined);
  t.equal(startEarlyCheck(path + '.missing'), undefined);
  t.equal(await earlyVerdict(undefined, path), undefined);
});

t.test('a corrupt store found early is refused at open with the same error as a check at open', async (t) => {
  const path = tmp(t);
  await storeWith(path, 400);
  const bytes = readFileSync(path);
  t.ok(bytes.length > 4 * 4096, 'the store spans several pages');
  const page = Math.floor(bytes.length / 4096 / 2) * 4096; // a page in the middle: quick_check reports it, the schema still reads
  bytes.fill(0xff, page + 100, page + 2048);
  writeFileSync(path, bytes);
  const early = startEarlyCheck(path)!;
  const found = await early.result;
  t.ok(found && found.problems.length > 0, `the early check finds it (${found?.problems.length ?? 0} problems)`);
  await t.rejects(RecordLog.open(path, { checked: early }), { code: 'STORE_CORRUPT', message: /failed its integrity check/ });
  t.equal(early.used, true, 'refused on the early verdict');
  // Without the early check the refusal is the same.
  await t.rejects(RecordLog.open(path), { code: 'STORE_CORRUPT', message: /failed its integrity check/ });
});

t.test('a file that is not a store: the early check gives no verdict, and the open names the problem', async (t) => {
  const path = tmp(t);
  writeFileSync(path, 'this is not a database, just some bytes '.repeat(200));
  const early = startEarlyCheck(path)!;
  t.equal(await early.result, undefined);
  await t.rejects(RecordLog.open(path, { checked: early }), { code: 'STORE_CORRUPT' });
});

t.test('the thread count read beside the early check stands only for the same records', async (t) => {
  const path = tmp(t);
  await storeWith(path, 30); // 30 records, each on its own thread
  const early = startEarlyCheck(path)!;
  const log = await RecordLog.open(path, { checked: early });
  t.equal(log.threadCount, 30, 'counted beside the check');
  await log.close();
  const pre = async (threads: number, last: number) => ({ threads, last });
  const same = await RecordLog.open(path, { counted: pre(999, 30) });
  t.equal(same.threadCount, 999, 'a count taken at the same last sequence is used as it is');
  await same.close();
  const stale = await RecordLog.open(path, { counted: pre(999, 29) });
  t.equal(stale.threadCount, 30, 'a count taken before the last record is not: counted again');
  await stale.close();
  const none = await RecordLog.open(path, { counted: Promise.resolve(undefined) });
  t.equal(none.threadCount, 30, 'no count beforehand: counted at open');
  await none.close();
});

t.test('an aborted check gives no verdict', async (t) => {
  const path = tmp(t);
  await storeWith(path, 100);
  const early = startEarlyCheck(path)!;
  early.abort!();
  t.equal(await early.result, undefined, 'no verdict');
  t.equal(await earlyVerdict(early, path), undefined, 'so the open checks for itself');
});
