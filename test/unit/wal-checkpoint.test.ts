// The WAL checkpoint off the commit path (lib/store/wal-checkpoint.ts), on real stores: commits never copy the
// WAL themselves, a connection of its own does in the background, the WAL stays bounded under steady ingest
// (the writer waits for a catch-up at catchUpFrames), a reader holding an old snapshot does not make the writer
// wait before every group, and a failed run is reported without losing a record.

import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordLog } from '../../lib/store/record-log.js';
import { Database } from '../../lib/store/database.js';
import { WalCheckpointer } from '../../lib/store/wal-checkpoint.js';
import { validateRecord } from '../../lib/kernel/record.js';

const ALICE = 'did:sync:user:alice';
/** One WAL frame: a 24-byte header and a 4 KiB page. */
const FRAME = 24 + 4096;

function tmpStore(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'spl-wal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'hub.db');
}

const thread = (i: number) => 'th_' + (i + 1).toString(16).padStart(64, '0');
const draft = (i: number, n: number) => validateRecord({ thread: thread(i), actor: ALICE, act: 'DO', body: { n, pad: 'p'.repeat(600) } });

/** `rounds` rounds of `width` concurrent appends, each round on the heels of the last: steady ingest. */
async function ingest(log: RecordLog, rounds: number, width = 16, from = 0): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    await Promise.all(Array.from({ length: width }, (_, i) => log.append([draft(i, from + r * width + i)])));
  }
}

async function until(t: Test, what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(cond(), what);
}

t.test('commits leave the copy to the background: the main file fills while the WAL keeps every frame', async (t) => {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true, walCheckpoint: { spacingMs: 0 } });
  t.teardown(() => log.close());
  const writer = (log as unknown as { writer: Database }).writer;
  t.same(await writer.get('PRAGMA wal_autocheckpoint'), { wal_autocheckpoint: 0 }, 'the writer never checkpoints on COMMIT');
  const mainBefore = statSync(path).size;
  await ingest(log, 30);
  await until(t, 'a background run copied frames into the main file', () => statSync(path).size > mainBefore);
  t.equal(log.recordCount, 480);
});

t.test('under steady ingest the WAL stays near catchUpFrames: the writer waits for a catch-up and the WAL starts over', async (t) => {
  const path = tmpStore(t);
  const catchUpFrames = 300;
  const log = await RecordLog.open(path, { create: true, walCheckpoint: { catchUpFrames, spacingMs: 0 } });
  t.teardown(() => log.close());
  const cp = (log as unknown as { checkpointer: WalCheckpointer }).checkpointer;
  let catchUps = 0;
  const catchUp = cp.catchUp.bind(cp);
  cp.catchUp = () => {
    catchUps++;
    return catchUp();
  };
  // ~16 × 3 pages a group: 400 groups write several thousand frames, many times catchUpFrames.
  await ingest(log, 400);
  const wal = statSync(path + '-wal').size;
  t.ok(catchUps >= 2, `the writer caught up ${catchUps} times`);
  // Bounded by what can land between the run that saw catchUpFrames and the catch-up: a few groups.
  t.ok(wal < (catchUpFrames + 400) * FRAME, `the WAL file stayed at ${wal} bytes (${Math.round(wal / FRAME)} frames) for catchUpFrames ${catchUpFrames}`);
  t.equal(log.recordCount, 6400);
});

t.test('a reader holding an old snapshot: the writer does not wait before every group, and the WAL starts over once it lets go', async (t) => {
  const path = tmpStore(t);
  const catchUpFrames = 300;
  const log = await RecordLog.open(path, { create: true, walCheckpoint: { catchUpFrames, spacingMs: 0 } });
  t.teardown(() => log.close());
  const cp = (log as unknown as { checkpointer: WalCheckpointer }).checkpointer;
  let catchUps = 0;
  const catchUp = cp.catchUp.bind(cp);
  cp.catchUp = () => {
    catchUps++;
    return catchUp();
  };
  await ingest(log, 2);
  const reader = await Database.open(path, { readonly: true });
  await reader.exec('BEGIN');
  await reader.get('SELECT count(*) AS n FROM records'); // holds this snapshot: nothing after it can be copied
  await ingest(log, 300, 16, 32);
  const held = statSync(path + '-wal').size / FRAME;
  t.ok(held > 3 * catchUpFrames, `the WAL grew to ${Math.round(held)} frames while the snapshot was held`);
  t.ok(catchUps <= Math.ceil(held / catchUpFrames) + 1, `${catchUps} catch-ups for ${Math.round(held)} frames, not one per group (300)`);
  await reader.exec('ROLLBACK');
  await reader.close();
  await ingest(log, 200, 16, 5000);
  // Without a start-over, every run would find at least the frames written while the snapshot was held.
  await until(t, 'the WAL started over once the reader let go', () => cp.lastRun.log < held / 2);
  t.equal(log.recordCount, 32 + 4800 + 3200);
});

t.test('a run that fails is reported, and nothing is due or lost', async (t) => {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true });
  t.teardown(() => log.close());
  await ingest(log, 2);
  const db = await Database.open(path);
  await db.close(); // every statement on it now fails: a real SQLite error, not a stand-in
  const errors: unknown[] = [];
  const cp = new WalCheckpointer(db, { spacingMs: 0, onError: (err) => errors.push(err) });
  cp.committed();
  await until(t, 'the failure reached onError', () => errors.length === 1);
  t.match(String(errors[0]), /SQLITE_MISUSE|closed/i);
  t.equal(cp.due, false, 'a failed run asks no catch-up of the writer');
  t.same(cp.lastRun, { log: 0, checkpointed: 0 });
  t.equal(log.recordCount, 32);
  const [o] = await log.append([draft(0, 99)]);
  t.equal(o!.record.sequence, 33, 'the store goes on');
});
