import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordLog } from '../../lib/store/record-log.js';
import { Database } from '../../lib/store/database.js';
import { SCHEMA_VERSION } from '../../lib/store/schema.js';
import { scanPaged } from '../../lib/store/rows.js';
import { validateRecord } from '../../lib/kernel/record.js';

const ALICE = 'did:sync:user:alice';
const BOB = 'did:sync:agent:bob';
const TH = 'th_' + '1'.repeat(64);
const TH2 = 'th_' + '2'.repeat(64);

function tmpStore(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'spl-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'hub.db');
}

const draft = (over: Record<string, unknown> = {}) => validateRecord({ thread: TH, actor: ALICE, act: 'DO', body: { n: 1 }, ...over });

t.test('server-assigned clocks, idempotent repeats and the 409 rules', async (t) => {
  const log = await RecordLog.open(tmpStore(t), { create: true });
  t.teardown(() => log.close());
  const [a] = await log.append([draft({ body: { n: 1 } })]);
  const [b] = await log.append([draft({ body: { n: 2 } })]);
  const [c] = await log.append([draft({ actor: BOB, body: { n: 3 } })]);
  t.equal(a!.record.clock, 0);
  t.equal(b!.record.clock, 1);
  t.equal(c!.record.clock, 0, 'clocks are per (actor, thread)');
  t.same([a!.record.sequence, b!.record.sequence, c!.record.sequence], [1, 2, 3]);

  const [again] = await log.append([draft({ body: { n: 2 }, clock: 1 })]);
  t.equal(again!.created, false, 'same id again is an idempotent success');
  t.equal(again!.record.id, b!.record.id);
  t.equal(again!.record.sequence, 2);
  t.equal(log.recordCount, 3, 'nothing new stored');

  await t.rejects(log.append([draft({ body: { n: 99 }, clock: 1 })]), { code: 'CLOCK_CONFLICT', field: 'clock' });
  await log.append([draft({ body: { n: 4 }, clock: 5 })]);
  await t.rejects(log.append([draft({ body: { n: 5 }, clock: 3 })]), { code: 'CLOCK_REGRESSION', field: 'clock' });
  const [next] = await log.append([draft({ body: { n: 6 } })]);
  t.equal(next!.record.clock, 6, 'omitted clock takes max+1 after an explicit jump');
});

t.test('a batch is atomic: one bad record stores none of it', async (t) => {
  const log = await RecordLog.open(tmpStore(t), { create: true });
  t.teardown(() => log.close());
  await log.append([draft({ clock: 3 })]);
  const batch = [draft({ thread: TH2, body: { i: 0 } }), draft({ thread: TH2, body: { i: 1 } }), draft({ body: { bad: true }, clock: 3 })];
  await t.rejects(log.append(batch), { code: 'CLOCK_CONFLICT', field: 'records[2].clock' });
  t.equal(log.recordCount, 1);
  t.same(await log.list({ thread: TH2, limit: 10 }), []);
  const ok = await log.append(batch.slice(0, 2));
  t.same(ok.map((o) => o.record.clock), [0, 1], 'the good part goes through on its own, clocks in order');
});

t.test('group commit: concurrent appends share transactions and resolve only after COMMIT', async (t) => {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true });
  t.teardown(() => log.close());
  let commits = 0;
  log.onCommit(() => commits++);
  const observer = await Database.open(path);
  t.teardown(() => observer.close());
  const N = 200;
  const seen: boolean[] = [];
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      log.append([draft({ thread: 'th_' + i.toString(16).padStart(64, '0'), body: { i } })]).then(async ([o]) => {
        // Another connection sees the record the moment its append resolves: it was committed.
        const row = await observer.get<{ id: string }>('SELECT id FROM records WHERE id = ?', [o!.record.id]);
        seen.push(row?.id === o!.record.id);
      }),
    ),
  );
  t.equal(seen.length, N);
  t.ok(seen.every(Boolean), 'every resolved append is visible to another connection');
  t.ok(commits < N / 4, `${N} concurrent appends used ${commits} transactions`);
  t.equal(log.recordCount, N);
});

t.test('listeners see each group once, in commit order, before any of its appends resolves', async (t) => {
  const log = await RecordLog.open(tmpStore(t), { create: true });
  t.teardown(() => log.close());
  const told: number[] = [];
  log.onCommit((rows) => told.push(...rows.map((r) => r.sequence)));
  const early: number[] = [];
  // Rounds that overlap: a group's appends resolve while the next group is being written.
  await Promise.all(
    Array.from({ length: 20 }, (_, round) =>
      new Promise((r) => setTimeout(r, round)).then(() =>
        Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            log.append([draft({ thread: 'th_' + (round * 10 + i + 1).toString(16).padStart(64, '0'), body: { round, i } })]).then(([o]) => {
              if (!told.includes(o!.record.sequence)) early.push(o!.record.sequence);
            }),
          ),
        ),
      ),
    ),
  );
  t.same(early, [], 'no append resolved before the listeners were told of its record');
  t.same(told, Array.from({ length: 200 }, (_, i) => i + 1), 'every record told once, in sequence order');
});

t.test('one request failing does not fail others in the same transaction', async (t) => {
  const log = await RecordLog.open(tmpStore(t), { create: true });
  t.teardown(() => log.close());
  await log.append([draft({ clock: 0 })]);
  const results = await Promise.allSettled([
    log.append([draft({ thread: TH2, body: { a: 1 } })]),
    log.append([draft({ body: { conflict: true }, clock: 0 })]),
    log.append([draft({ thread: TH2, body: { a: 2 } })]),
  ]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  t.equal(log.recordCount, 3);
});

t.test('state survives close and reopen: heads, counts, sequences', async (t) => {
  const path = tmpStore(t);
  let log = await RecordLog.open(path, { create: true });
  await log.append([draft({ body: { n: 1 } }), draft({ body: { n: 2 } }), draft({ thread: TH2 })]);
  await log.close();
  log = await RecordLog.open(path);
  t.teardown(() => log.close());
  t.equal(log.recordCount, 3);
  const [o] = await log.append([draft({ body: { n: 3 } })]);
  t.equal(o!.record.clock, 2);
  t.equal(o!.record.sequence, 4);
  await t.rejects(log.append([draft({ body: { n: 4 }, clock: 0 })]), { code: 'CLOCK_CONFLICT' });
  const scanned: number[] = [];
  await log.scan(0, (r) => scanned.push(r.sequence));
  t.same(scanned, [1, 2, 3, 4]);
});

t.test('non-ASCII and control characters survive the store byte for byte', async (t) => {
  const log = await RecordLog.open(tmpStore(t), { create: true });
  t.teardown(() => log.close());
  const body = { text: 'zürich — 東京 😀 \u0000\u0007\n\t"\\' };
  const [o] = await log.append([draft({ body })]);
  const got = await log.get(o!.record.id);
  t.same(got!.body, body);
});

t.test('the store refuses what it must not serve', async (t) => {
  const garbage = tmpStore(t);
  writeFileSync(garbage, 'this is not a database, just some bytes '.repeat(200));
  await t.rejects(RecordLog.open(garbage), { code: 'STORE_CORRUPT', message: new RegExp(garbage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) });

  const newer = tmpStore(t);
  const log = await RecordLog.open(newer, { create: true });
  await log.close();
  const db = await Database.open(newer);
  await db.run(`UPDATE meta SET value = ? WHERE key = 'schema_version'`, [String(SCHEMA_VERSION + 1)]);
  await db.close();
  await t.rejects(RecordLog.open(newer), { code: 'STORE_TOO_NEW', message: new RegExp(`schema version ${SCHEMA_VERSION + 1}.*up to ${SCHEMA_VERSION}`) });

  await t.rejects(RecordLog.open(join(newer + '-missing')), { code: 'NOT_FOUND' });
});

t.test('close checkpoints the WAL into the main file', async (t) => {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true });
  await log.append(Array.from({ length: 50 }, (_, i) => draft({ body: { i } })));
  await log.close();
  const { statSync, existsSync } = await import('node:fs');
  t.ok(!existsSync(path + '-wal') || statSync(path + '-wal').size === 0, 'WAL is empty after close');
  const db = await Database.open(path);
  const row = await db.get<{ n: number }>('SELECT count(*) AS n FROM records');
  await db.close();
  t.equal(row!.n, 50);
});

t.test('a WAL grown past its limit while a reader held it is cut back once it starts over', async (t) => {
  const path = tmpStore(t);
  const { statSync } = await import('node:fs');
  const { WAL_SIZE_LIMIT } = await import('../../lib/store/open.js');
  const log = await RecordLog.open(path, { create: true });
  t.teardown(() => log.close());
  const reader = await Database.open(path, { readonly: true });
  await reader.exec('BEGIN');
  await reader.get('SELECT count(*) AS n FROM records'); // holds this snapshot: the WAL cannot start over
  const pad = 'x'.repeat(40_000);
  // 2,000 records of 40 KB as 40 rounds of 50 concurrent appends: many commits, as an instance under load makes.
  const burst = async (from: number): Promise<void> => {
    for (let round = 0; round < 40; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => log.append([draft({ thread: 'th_' + (i + 1).toString(16).padStart(64, '0'), body: { i: from + round * 50 + i, pad } })])));
    }
  };
  await burst(0);
  const grown = statSync(path + '-wal').size;
  t.ok(grown > WAL_SIZE_LIMIT, `the WAL grew past the limit while the snapshot was held (${grown} bytes)`);
  await reader.exec('ROLLBACK');
  await reader.close();
  await burst(2000); // checkpoints complete now, and the WAL starts over
  const after = statSync(path + '-wal').size;
  t.ok(after <= WAL_SIZE_LIMIT, `cut back to at most ${WAL_SIZE_LIMIT} bytes (${after})`);
  t.equal(log.recordCount, 4000);
});

t.test('an append made while a drain is finishing is still committed', async (t) => {
  const log = await RecordLog.open(tmpStore(t), { create: true });
  t.teardown(() => log.close());
  let n = 0;
  const next = () => draft({ thread: 'th_' + (++n).toString(16).padStart(64, '0') });
  // Back-to-back awaited pairs land their second append in the gap between a drain's last queue check and
  // its end; before the fix the third round never resolved.
  for (let i = 0; i < 20; i++) await Promise.all([log.append([next()]), log.append([next()])]);
  t.equal(log.recordCount, 40);
});

t.test('a group larger than one statement commits atomically across statements', async (t) => {
  const log = await RecordLog.open(tmpStore(t), { create: true });
  t.teardown(() => log.close());
  const many = (k: number) => Array.from({ length: 1000 }, (_, i) => draft({ thread: 'th_' + (k * 1000 + i).toString(16).padStart(64, '0') }));
  const done = await Promise.all([log.append(many(1)), log.append(many(2)), log.append(many(3)), log.append(many(4))]);
  t.same(done.map((d) => d.length), [1000, 1000, 1000, 1000]);
  t.equal(log.recordCount, 4000);
});

t.test('paged scans see every record once, in order, at every page boundary', async (t) => {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true });
  t.teardown(() => log.close());
  const drafts = Array.from({ length: 25 }, (_, i) => draft({ thread: i % 3 === 0 ? TH2 : TH, body: { i } }));
  await log.append(drafts);
  const db = await Database.open(path, { readonly: true });
  t.teardown(() => db.close());
  for (const page of [1, 4, 5, 24, 25, 26, 1000]) {
    const all: number[] = [];
    t.equal(await scanPaged(db, undefined, 0, (r) => all.push(r.sequence), page), 25, `page ${page}: count`);
    t.same(all, Array.from({ length: 25 }, (_, i) => i + 1), `page ${page}: every record in order`);
    const tail: number[] = [];
    await scanPaged(db, undefined, 20, (r) => tail.push(r.sequence), page);
    t.same(tail, [21, 22, 23, 24, 25], `page ${page}: after a sequence`);
    const th2: number[] = [];
    await scanPaged(db, { sql: 'thread = ?', params: [TH2] }, 0, (r) => th2.push((r.body as { i: number }).i), page);
    t.same(th2, [0, 3, 6, 9, 12, 15, 18, 21, 24], `page ${page}: with a condition`);
  }
  const empty: number[] = [];
  t.equal(await scanPaged(db, { sql: 'thread = ?', params: ['th_none'] }, 0, (r) => empty.push(r.sequence), 5), 0);
});

t.test('prepared INSERTs are kept per group size, the least recently used dropped: more sizes than the cache holds, all stored', async (t) => {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true });
  let n = 0;
  // 80 distinct group sizes (the cache holds 64), each appended alone so it is its own group; then the first ones again.
  for (const size of [...Array.from({ length: 80 }, (_, i) => i + 1), 1, 2, 3]) {
    const rows = Array.from({ length: size }, () => draft({ thread: 'th_' + (++n).toString(16).padStart(64, '0') }));
    t.equal((await log.append(rows)).filter((o) => o.created).length, size);
  }
  t.equal(log.recordCount, n);
  await log.close(); // finalizes the kept statements, then closes (a statement left open would fail the close)
  const again = await RecordLog.open(path);
  t.teardown(() => again.close());
  t.equal(again.recordCount, n, 'every record is in the store after close and reopen');
});

t.test('heads are a cache of the store: past its size, clocks and the 409 rules still come out of the store', async (t) => {
  const path = tmpStore(t);
  const threads = Array.from({ length: 12 }, (_, i) => 'th_' + (i + 1).toString(16).padStart(64, '0'));
  let log = await RecordLog.open(path, { create: true, headsCached: 4 });
  for (const thread of threads) await log.append([draft({ thread, body: { n: 0 } }), draft({ thread, body: { n: 1 } })]);
  t.ok(log.cachedHeads <= 4, `the cache holds at most 4 heads (${log.cachedHeads}) for 12 written`);
  // The first thread's head was evicted long ago: the next clock still follows the store's.
  const [next] = await log.append([draft({ thread: threads[0], body: { n: 2 } })]);
  t.equal(next!.record.clock, 2, 'the next clock after an evicted head of 1');
  await log.append([draft({ thread: threads[5], body: { n: 9 } })]);
  await t.rejects(log.append([draft({ thread: threads[1], clock: 1, body: { n: 'other' } })]), { code: 'CLOCK_CONFLICT' }, 'a different record at a stored clock is refused');
  await t.rejects(log.append([draft({ thread: threads[2], clock: 0, body: { n: 'other' } })]), { code: 'CLOCK_CONFLICT' });
  const [again] = await log.append([draft({ thread: threads[3], clock: 1, body: { n: 1 } })]);
  t.equal(again!.created, false, 'the same record at its clock is a repeat, not a conflict');
  // One group with more pairs than the cache holds: every one gets its right clock.
  const many = await log.append(threads.map((thread, i) => draft({ thread, body: { n: 'many', i } })));
  t.same(many.map((o) => o.record.clock), threads.map((_, i) => (i === 0 ? 3 : i === 5 ? 3 : 2)), 'each thread\'s next clock, in one group');
  await log.close();
  // A reopened store starts with no heads in memory and reads them as needed.
  log = await RecordLog.open(path, { headsCached: 4 });
  t.teardown(() => log.close());
  t.equal(log.cachedHeads, 0, 'nothing is read at open');
  const [after] = await log.append([draft({ thread: threads[7], body: { n: 'after' } })]);
  t.equal(after!.record.clock, 3);
  const [fresh] = await log.append([draft({ thread: 'th_' + 'f'.repeat(64), body: {} })]);
  t.equal(fresh!.record.clock, 0, 'a thread never written starts at 0');
});
