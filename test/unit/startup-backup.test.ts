import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { RecordLog } from '../../lib/store/record-log.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { inspectStoreFile } from '../../lib/store/snapshot.js';
import { listGenerations, startupBackup, generationName } from '../../lib/instance/startup-backup.js';

function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'spl-sb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { dir, store: join(dir, 'hub.db'), backups: join(dir, 'backups'), logger, lines };
}

async function writeRecords(path: string, n: number): Promise<void> {
  const log = await RecordLog.open(path, { create: true });
  if (n > 0) await log.append(Array.from({ length: n }, (_, i) => validateRecord({ thread: 'th_' + (i + 1).toString(16).padStart(64, '0'), actor: 'did:sync:user:a', act: 'DO', body: { i } })));
  await log.close();
}

t.test('writes a verified snapshot with the store\'s records', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 25);
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  t.equal(r!.records, 25);
  t.match(await inspectStoreFile(join(s.backups, 'hub.db.bak')), { ok: true, records: 25 });
  t.notOk(existsSync(join(s.backups, 'hub.db.bak.new')), 'no temporary left behind');
});

t.test('the runbook trap: delete hub.db, restart twice — the good data survives as a generation', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 40);
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => Date.UTC(2026, 10, 1, 12, 0, 0) });
  rmSync(s.store);
  await writeRecords(s.store, 0); // the instance comes up on an empty store
  const first = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => Date.UTC(2026, 10, 2, 12, 0, 0) });
  t.equal(first!.keptGeneration, join(s.backups, 'hub.db.20261102-120000.bak'));
  const warn = s.lines.find((l) => l.level === 40);
  t.match(warn, { records: 0, previous_records: 40, msg: /fewer records \(0\) than the previous one \(40\)/ });
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => Date.UTC(2026, 10, 3, 12, 0, 0) });
  const gens = listGenerations(s.backups);
  t.equal(gens.length, 1);
  t.match(await inspectStoreFile(gens[0]!.path), { ok: true, records: 40 }, 'the 40-record backup is still restorable');
  // Restoring it the runbook's way gives the records back.
  copyFileSync(gens[0]!.path, s.store);
  const restored = await RecordLog.open(s.store);
  t.equal(restored.recordCount, 40);
  await restored.close();
});

t.test('a corrupt previous backup is replaced; a corrupt snapshot never replaces a good one', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 5);
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  writeFileSync(join(s.backups, 'hub.db.bak'), 'garbage '.repeat(1000));
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  t.match(await inspectStoreFile(join(s.backups, 'hub.db.bak')), { ok: true, records: 5 });
  t.ok(s.lines.some((l) => /previous startup backup .* failed quick_check/.test(String(l.msg))));
});

t.test('generations are pruned by count and age, never the newest', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 1);
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  const now = Date.UTC(2026, 10, 27);
  for (let i = 0; i < 5; i++) {
    const p = join(s.backups, generationName(now - (i + 1) * 86_400_000 * 20));
    copyFileSync(join(s.backups, 'hub.db.bak'), p);
    utimesSync(p, new Date(now - (i + 1) * 86_400_000 * 20), new Date(now - (i + 1) * 86_400_000 * 20));
  }
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => now, keepGenerations: 3, maxAgeDays: 50 });
  t.equal(r!.pruned.length, 3, 'older than 50 days: the 60, 80 and 100 day old ones');
  t.equal(listGenerations(s.backups).length, 2);
  const all = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => now + 365 * 86_400_000, maxAgeDays: 1 });
  t.equal(all!.pruned.length, 1, 'everything is old now, but the newest generation survives');
  t.same(readdirSync(s.backups).filter((n) => n !== 'hub.db.bak').length, 1);
});
