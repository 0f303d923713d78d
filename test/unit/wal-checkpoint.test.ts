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
import type { WalCheckpointer } from '../../lib/store/wal-checkpoint.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { walCheckpoint } from '../helpers/store.js';

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

/** A store whose catch-ups, at `catchUpFrames`, are counted as the writer asks for them. */
async function countingCatchUps(t: Test, catchUpFrames: number): Promise<{ path: string; log: RecordLog; catchUps: () => number }> {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true, walCheckpoint: { catchUpFrames, spacingMs: 0 } });
  t.teardown(() => log.close());
  const cp = (log as unknown as { checkpointer: WalCheckpointer }).checkpointer;
  let n = 0;
  const catchUp = cp.catchUp.bind(cp);
  cp.catchUp = () => {
    n++;
    return catchUp();
  };
  return { path, log, catchUps: () => n };
}

/** Every run on the log's own checkpoint connection fails from now on: a real SQLite error, not a stand-in. */
function breakCheckpointConnection(log: RecordLog): Promise<void> {
  return (log as unknown as { checkpointer: { db: Database } }).checkpointer.db.close();
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
  const catchUpFrames = 300;
  const { path, log, catchUps } = await countingCatchUps(t, catchUpFrames);
  // ~16 × 3 pages a group: 400 groups write several thousand frames, many times catchUpFrames.
  await ingest(log, 400);
  const wal = statSync(path + '-wal').size;
  t.ok(catchUps() >= 2, `the writer caught up ${catchUps()} times`);
  // Bounded by what can land between the run that saw catchUpFrames and the catch-up: a few groups (without the
  // checkpointer, the WAL would hold every one of the ~20,000 frames written).
  t.ok(wal < 3 * catchUpFrames * FRAME, `the WAL file stayed at ${wal} bytes (${Math.round(wal / FRAME)} frames) for catchUpFrames ${catchUpFrames}`);
  t.equal(log.recordCount, 6400);
});

t.test('a reader holding an old snapshot: the writer does not wait before every group, and the WAL starts over once it lets go', async (t) => {
  const catchUpFrames = 300;
  const { path, log, catchUps } = await countingCatchUps(t, catchUpFrames);
  await ingest(log, 2);
  const reader = await Database.open(path, { readonly: true });
  await reader.exec('BEGIN');
  await reader.get('SELECT count(*) AS n FROM records'); // holds this snapshot: nothing after it can be copied
  await ingest(log, 300, 16, 32);
  const held = statSync(path + '-wal').size / FRAME;
  t.ok(held > 3 * catchUpFrames, `the WAL grew to ${Math.round(held)} frames while the snapshot was held`);
  t.ok(catchUps() <= Math.ceil(held / catchUpFrames) + 1, `${catchUps()} catch-ups for ${Math.round(held)} frames, not one per group (300)`);
  await reader.exec('ROLLBACK');
  await reader.close();
  await ingest(log, 200, 16, 5000);
  // Asked of SQLite itself, on a connection of the test's own: frames in the WAL now. Without a start-over
  // since the snapshot was let go, at least the frames written while it was held would still be there.
  const probe = await Database.open(path);
  t.teardown(() => probe.close());
  const now = await walCheckpoint(probe, 'PASSIVE');
  t.ok(now.log >= 0 && now.log < held / 2, `the WAL started over once the reader let go (${now.log} frames now, ${Math.round(held)} while held)`);
  t.equal(log.recordCount, 32 + 4800 + 3200);
});

t.test('a checkpoint connection that keeps failing: reported once per streak, the writer copies the WAL itself, and it stays bounded', async (t) => {
  const path = tmpStore(t);
  const catchUpFrames = 300;
  const errors: Array<[unknown, number]> = [];
  const log = await RecordLog.open(path, { create: true, walCheckpoint: { catchUpFrames, spacingMs: 0, onError: (err, n) => errors.push([err, n]) } });
  t.teardown(() => log.close());
  await ingest(log, 2);
  await breakCheckpointConnection(log);
  await ingest(log, 400, 16, 32);
  t.ok(errors.length >= 1, 'the failure is reported');
  t.match(String(errors[0]![0]), /SQLITE_MISUSE|closed/i);
  t.equal(errors[0]![1], 1, 'the first report is the first failure of the streak');
  t.same(errors.map(([, n]) => n), errors.map((_, i) => (i === 0 ? 1 : i * 100)), 'reported at the first failure and then every 100th of the streak, not once per failed run');
  // Without the writer taking over, nothing would copy the WAL: 400 groups write many thousands of frames.
  const wal = statSync(path + '-wal').size;
  t.ok(wal < 3 * catchUpFrames * FRAME, `the WAL file stayed at ${wal} bytes (${Math.round(wal / FRAME)} frames)`);
  t.equal(log.recordCount, 32 + 6400, 'every append committed');
  await t.resolves(log.close(), 'close still checkpoints and closes');
});

t.test('an onError that throws stops neither the checkpoint nor the writer', async (t) => {
  const path = tmpStore(t);
  const log = await RecordLog.open(path, { create: true, walCheckpoint: { catchUpFrames: 300, spacingMs: 0, onError: () => { throw new Error('the report failed'); } } });
  t.teardown(() => log.close());
  await ingest(log, 2);
  await breakCheckpointConnection(log);
  await ingest(log, 100, 16, 32);
  t.equal(log.recordCount, 32 + 1600);
});
