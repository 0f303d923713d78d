// `spl serve` (the launcher) quick_checks the store while the instance it forks starts: the child asks for the
// verdict over the IPC channel and uses it under the early check's rule; without an answer it checks for itself.
// The child here is a real process (test/fixtures/launcher-child.ts) that opens the store as the instance does.

import t, { type Test } from 'tap';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { earlyCheckFromLauncher, LAUNCHER_CHECK_ENV, spawnDaemon } from '../../lib/instance/daemon.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { RecordLog } from '../../lib/store/record-log.js';

const CHILD = fileURLToPath(new URL('../fixtures/launcher-child.ts', import.meta.url));
// The child runs TypeScript the way this test does: with the loader this process was started with.
const TS_LOADER = process.execArgv.filter((a) => a.startsWith('--import=') && a.includes('typescript'));

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'spl-launcher-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function storeWith(path: string, n: number): Promise<void> {
  const log = await RecordLog.open(path, { create: true });
  await log.append(Array.from({ length: n }, (_, i) => validateRecord({ thread: 'th_' + (i + 1).toString(16).padStart(64, '0'), actor: 'did:sync:user:a', act: 'DO', body: { i } })));
  await log.close();
}

t.test('spawnDaemon checks the store and hands the verdict to the child, which opens the store on it', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'hub.db');
  await storeWith(path, 40);
  t.equal(TS_LOADER.length, 1, 'the TypeScript loader to run the child with');
  const ready = await spawnDaemon({ entry: TS_LOADER[0]!, args: [CHILD, path], outputFile: join(dir, 'serve.out'), env: process.env, checkStore: path });
  const report = JSON.parse(ready.bind) as { verdict: { problems: string[]; files: string } | null; used: boolean; env: string | null; records: number };
  t.same(report.verdict?.problems, [], "the launcher's verdict reached the child: sound");
  t.equal(report.used, true, 'the open relied on it');
  t.equal(report.env, null, 'the marker is not passed on to what the child runs');
  t.equal(report.records, 40);
});

t.test("a corrupt store is refused on the launcher's verdict", async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'hub.db');
  await storeWith(path, 200);
  const bytes = readFileSync(path);
  bytes.fill(0x5a, 4096, 8192); // smash the second page
  writeFileSync(path, bytes);
  await t.rejects(
    spawnDaemon({ entry: TS_LOADER[0]!, args: [CHILD, path], outputFile: join(dir, 'serve.out'), env: process.env, checkStore: path }),
    { code: 'STORE_CORRUPT', message: /failed its integrity check/ },
  );
});

t.test('a launcher that goes away without answering: the child checks the store itself', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'hub.db');
  await storeWith(path, 25);
  const child = fork(CHILD, [path], { env: { ...process.env, [LAUNCHER_CHECK_ENV]: path }, silent: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  let asked = false;
  child.on('message', (m: { type?: string }) => {
    if (m.type !== 'early-check?') return;
    asked = true;
    child.disconnect(); // gone, no answer
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.ok(asked, 'the child asked for the verdict');
  t.equal(code, 0);
  const report = JSON.parse(out.trim()) as { verdict: unknown; used: boolean; records: number };
  t.equal(report.verdict, null, 'no verdict');
  t.equal(report.used, false, 'the open checked for itself');
  t.equal(report.records, 25);
});

t.test('without the marker for this store, the child does not wait for a launcher', async (t) => {
  const path = join(tmp(t), 'hub.db');
  process.env[LAUNCHER_CHECK_ENV] = path + '.other';
  t.equal(earlyCheckFromLauncher(path), undefined, 'a marker for another store');
  t.equal(process.env[LAUNCHER_CHECK_ENV], undefined, 'and it is removed all the same');
  t.equal(earlyCheckFromLauncher(path), undefined, 'no marker');
});
