// snapshotStore copies one consistent snapshot in steps while another connection keeps committing.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordLog } from '../../lib/store/record-log.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { SNAPSHOT_STEP_PAGES, inspectStoreFile, snapshotStore } from '../../lib/store/snapshot.js';

const rec = (i: number, pad = 2000) => validateRecord({ thread: 'th_' + ((i % 50) + 1).toString(16).padStart(64, '0'), actor: 'did:sync:user:a', act: 'DO', body: { i, pad: 'x'.repeat(pad) } });

t.test('a stepped snapshot is the store as it was when the copy began, while writes go on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spl-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = join(dir, 'hub.db');
  const log = await RecordLog.open(store, { create: true });
  t.teardown(() => log.close());
  // About 12 MiB: several steps of SNAPSHOT_STEP_PAGES pages.
  for (let b = 0; b < 6; b++) await log.append(Array.from({ length: 1000 }, (_, i) => rec(b * 1000 + i)));
  const before = log.recordCount;

  const progress: Array<[number, number]> = [];
  let written = 0;
  let writer: Promise<void> = Promise.resolve();
  const snap = await snapshotStore(store, join(dir, 'copy.db'), {
    onProgress: (done, total) => {
      progress.push([done, total]);
      // Between steps, the instance's connection commits more records (the case that restarts a backup
      // whose source connection holds no read transaction of its own).
      writer = writer.then(async () => {
        await log.append([rec(100_000 + written++, 100)]);
      });
    },
  });
  await writer;
  t.ok(progress.length >= 3, `progress reported per step (${progress.length} calls, ${SNAPSHOT_STEP_PAGES} pages each)`);
  t.ok(progress.every(([d, total], i) => d <= total && (i === 0 || d >= progress[i - 1]![0])), 'progress only moves forward');
  t.equal(progress.at(-1)![0], progress.at(-1)![1], 'the last report is complete');
  t.ok(written >= 2, `${written} records were committed during the copy`);
  t.match(snap, { ok: true, records: before }, 'the copy holds exactly the records of its snapshot');
  t.match(await inspectStoreFile(join(dir, 'copy.db')), { ok: true, records: before });
  t.equal(log.recordCount, before + written, 'and the store kept every write');
});
