// snapshotStore copies one consistent state of the store while another connection keeps committing;
// WriterPacer yields only while the store's WAL moves; prefetchReads never asks for more than one chunk.

import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordLog } from '../../lib/store/record-log.js';
import { Database } from '../../lib/store/database.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { WriterPacer } from '../../lib/store/pace.js';
import { inspectStoreFile } from '../../lib/store/inspect.js';
import { prefetchReads, snapshotStore, type SnapshotPhase } from '../../lib/store/snapshot.js';

const rec = (i: number, pad = 2000) => validateRecord({ thread: 'th_' + ((i % 50) + 1).toString(16).padStart(64, '0'), actor: 'did:sync:user:a', act: 'DO', body: { i, pad: 'x'.repeat(pad) } });

async function fixture(t: Test): Promise<{ dir: string; store: string; log: RecordLog }> {
  const dir = mkdtempSync(join(tmpdir(), 'spl-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = join(dir, 'hub.db');
  const log = await RecordLog.open(store, { create: true });
  t.teardown(() => log.close());
  return { dir, store, log };
}

t.test('a snapshot is one state of the store, whole, while writes go on', async (t) => {
  const { dir, store, log } = await fixture(t);
  // About 24 MiB: several warm-up steps, and a copy that takes a while.
  for (let b = 0; b < 12; b++) await log.append(Array.from({ length: 1000 }, (_, i) => rec(b * 1000 + i)));
  const before = log.recordCount;

  // The instance's connection commits one record after another for as long as the snapshot runs.
  let running = true;
  let written = 0;
  const writer = (async () => {
    while (running) {
      await log.append([rec(100_000 + written, 100)]);
      written++;
    }
  })();
  while (written < 2) await new Promise((r) => setTimeout(r, 5));
  const writtenBefore = written;

  const progress: Array<[number, number, SnapshotPhase]> = [];
  const snap = await snapshotStore(store, join(dir, 'copy.db'), {
    pacer: new WriterPacer(store),
    onProgress: (done, total, phase) => progress.push([done, total, phase]),
  });
  const writtenDuring = written - writtenBefore;
  running = false;
  await writer;

  const reading = progress.filter((p) => p[2] === 'reading');
  const copyingReports = progress.filter((p) => p[2] === 'copying');
  t.ok(reading.length >= 3, `reading the store reported per step (${reading.length} reports)`);
  t.equal(reading.at(-1)![0], reading.at(-1)![1], 'reading reaches the end of the file');
  t.ok(copyingReports.length >= 1 && copyingReports.at(-1)![0] === copyingReports.at(-1)![1], 'the copy reports its completion');
  for (const phase of [reading, copyingReports]) {
    t.ok(phase.every(([d, total], i) => d <= total && (i === 0 || d >= phase[i - 1]![0])), 'progress only moves forward within a phase');
  }
  t.ok(writtenDuring > 0, `${writtenDuring} records were committed while the snapshot ran`);

  t.equal(snap.ok, true, 'the copy passed quick_check');
  t.ok(snap.records >= before && snap.records <= before + written, `the copy holds ${snap.records} records: at least what was there before, at most what was there after`);
  // One state, not a mix: the copy holds exactly the records up to its last sequence, and each is the
  // store's own.
  const copy = await Database.open(join(dir, 'copy.db'), { readonly: true });
  t.teardown(() => copy.close());
  const last = await copy.get<{ n: number; max: number; min: number }>('SELECT count(*) AS n, max(sequence) AS max, min(sequence) AS min FROM records');
  t.same([last!.min, last!.n], [1, last!.max], 'the copy is the store as it was at one commit: sequences 1..N, no gaps');
  t.equal(await copy.get('PRAGMA integrity_check').then((r) => (r as { integrity_check: string }).integrity_check), 'ok', 'and integrity_check finds every index entry in place');
  t.match(await inspectStoreFile(join(dir, 'copy.db')), { ok: true, records: snap.records });
  t.equal(log.recordCount, before + written, 'the store kept every write');
});

t.test('a snapshot of a missing store fails and leaves nothing behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spl-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await t.rejects(snapshotStore(join(dir, 'nope.db'), join(dir, 'copy.db')), { code: 'NOT_FOUND', message: /no store at .*nope\.db/ });
  const { readdirSync } = await import('node:fs');
  t.same(readdirSync(dir), [], 'no store was created and no copy left behind');
});

t.test('WriterPacer waits only after work during which the store was committed to', async (t) => {
  const { store, log } = await fixture(t);
  await log.append([rec(1)]);
  const pacer = new WriterPacer(store, 0.5);
  await new Promise((r) => setTimeout(r, 20));
  await pacer.pause();
  t.equal(pacer.waitedMs, 0, 'nothing committed: no wait');

  await log.append([rec(2)]);
  await new Promise((r) => setTimeout(r, 20)); // 20 ms of "work" during which the instance committed
  await pacer.pause();
  const waited = pacer.waitedMs;
  t.ok(waited >= 15, `a commit happened: it waited about as long as the work took, at a half share (${waited.toFixed(1)} ms)`);

  await pacer.pause();
  t.equal(pacer.waitedMs, waited, 'no commit since the last pause: no further wait');

  const third = new WriterPacer(store, 0.25);
  await log.append([rec(3)]);
  await new Promise((r) => setTimeout(r, 10));
  await third.pause();
  t.ok(third.waitedMs >= 3 * 8, `a quarter share waits three times the work (${third.waitedMs.toFixed(1)} ms)`);
});

t.test('prefetchReads covers the range exactly, last chunk first, no read larger than a chunk', async (t) => {
  t.same(prefetchReads(0, 0, 4), [], 'an empty range needs no read');
  t.same(prefetchReads(0, 10, 4), [
    { position: 6, length: 4 },
    { position: 2, length: 4 },
    { position: 0, length: 2 },
  ]);
  for (const [from, to, chunk] of [[0, 4 << 20, 256 << 10], [4096, 4096 * 1000 + 17, 65536], [100, 101, 4096]] as const) {
    const reads = prefetchReads(from, to, chunk);
    t.ok(reads.every((r) => r.length > 0 && r.length <= chunk), `[${from}, ${to}): every read is at most one chunk`);
    t.ok(reads.every((r, i) => i === 0 || r.position + r.length === reads[i - 1]!.position), 'each read ends where the previous one began');
    t.same([reads.at(-1)!.position, reads[0]!.position + reads[0]!.length], [from, to], 'from the end of the range back to its start');
  }
});
