import t, { type Test } from 'tap';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, writeSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { RecordLog } from '../../lib/store/record-log.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { inspectStoreFile } from '../../lib/store/inspect.js';
import { listGenerations, startupBackup } from '../../lib/instance/startup-backup.js';
import { generationName } from '../../lib/store/backup-names.js';
import { truncateWal } from '../helpers/store.js';

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

t.test('the runbook trap: delete hub.db, restart twice — hub.db.bak keeps the good data, the literal cp restores it', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 40);
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => Date.UTC(2026, 10, 1, 12, 0, 0) });
  rmSync(s.store);
  await writeRecords(s.store, 0); // an instance came up on an empty store
  const first = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => Date.UTC(2026, 10, 2, 12, 0, 0) });
  t.equal(first!.generation, join(s.backups, 'hub.db.20261102-120000.bak'), 'the worse snapshot is written beside hub.db.bak');
  t.equal(first!.path, first!.generation);
  const warn = s.lines.find((l) => l.level === 40);
  t.match(warn, { records: 0, previous_records: 40, msg: /fewer records \(0\) than .*hub\.db\.bak \(40\): .*hub\.db\.bak is kept as the best copy/ });
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => Date.UTC(2026, 10, 3, 12, 0, 0) });
  t.match(await inspectStoreFile(join(s.backups, 'hub.db.bak')), { ok: true, records: 40 }, 'hub.db.bak still holds the 40 records');
  const gens = listGenerations(s.backups);
  t.equal(gens.length, 2, 'both empty snapshots are generations');
  for (const g of gens) t.match(await inspectStoreFile(g.path), { ok: true, records: 0 });
  // The runbook's literal fallback: cp …/hub.db.bak ~/.syncro/hub.db.
  rmSync(s.store);
  copyFileSync(join(s.backups, 'hub.db.bak'), s.store);
  const restored = await RecordLog.open(s.store);
  t.equal(restored.recordCount, 40, 'every record is back');
  await restored.close();
  // A store that has grown past hub.db.bak replaces it again.
  await writeRecords(s.store, 5);
  const better = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  t.equal(better!.generation, null);
  t.match(await inspectStoreFile(join(s.backups, 'hub.db.bak')), { ok: true, records: 45 });
});

t.test('pruning never removes the copy holding the most records, whatever its age', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 30);
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  // An old generation (from a release that demoted the good copy) holds the most; hub.db.bak holds fewer.
  const now = Date.UTC(2026, 10, 27);
  const old = join(s.backups, generationName(now - 200 * 86_400_000));
  copyFileSync(join(s.backups, 'hub.db.bak'), old);
  utimesSync(old, new Date(now - 200 * 86_400_000), new Date(now - 200 * 86_400_000));
  rmSync(join(s.backups, 'hub.db.bak'));
  rmSync(s.store);
  await writeRecords(s.store, 2);
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => now - 1000 });
  const newest = join(s.backups, generationName(now));
  copyFileSync(join(s.backups, 'hub.db.bak'), newest);
  utimesSync(newest, new Date(now), new Date(now));
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, now: () => now, keepGenerations: 1, maxAgeDays: 1 });
  t.same(r!.pruned, [], 'the newest generation and the best copy both stay');
  t.ok(existsSync(old), 'the 200-day-old generation with 30 records survives');
  t.match(await inspectStoreFile(old), { ok: true, records: 30 });
});

t.test('temporary files of an interrupted backup are removed at the next start; every file is 0600 under umask 000', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 3);
  const previous = process.umask(0);
  t.teardown(() => process.umask(previous));
  await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  // What a SIGKILL mid-snapshot leaves: the .new file and a .tmp-<pid> of a process that no longer exists.
  writeFileSync(join(s.backups, 'hub.db.bak.new'), 'x'.repeat(1000));
  writeFileSync(join(s.backups, 'hub.db.bak.new.tmp-999999999'), 'x'.repeat(15000));
  writeFileSync(join(s.backups, 'hub.db.bak.new.tmp-999999999-journal'), 'j');
  writeFileSync(join(s.backups, `hub.db.bak.new.tmp-${process.ppid}`), 'a live process\'s copy in progress');
  writeFileSync(join(s.backups, 'loose.bak'), 'loose', { mode: 0o666 });
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  t.same(r!.leftovers.sort(), ['hub.db.bak.new', 'hub.db.bak.new.tmp-999999999', 'hub.db.bak.new.tmp-999999999-journal'].map((n) => join(s.backups, n)));
  t.ok(s.lines.some((l) => /removed .*hub\.db\.bak\.new\.tmp-999999999 \(15000 bytes\), left by a backup that was interrupted/.test(String(l.msg))));
  t.same(readdirSync(s.backups).sort(), ['hub.db.bak', `hub.db.bak.new.tmp-${process.ppid}`, 'loose.bak'], 'a live process\'s temporary file is left alone');
  for (const n of readdirSync(s.backups)) t.equal(statSync(join(s.backups, n)).mode & 0o777, 0o600, `${n} is 0600`);
  t.equal(statSync(s.backups).mode & 0o777, 0o700, 'the directory is 0700');
});

t.test('a leftover of a killed writer that is still a zombie (not reaped yet) is removed too', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 3);
  // The shell execs into `sleep 10`, which never reaps its child; `sleep 0.5` exits after that exec, so it stays a
  // zombie until `sleep 10` ends. (A child that exited before the exec could be reaped by the shell itself.)
  const { spawn } = await import('node:child_process');
  const sh = spawn('sh', ['-c', 'sleep 0.5 & echo $!; exec sleep 10'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => sh.kill('SIGKILL'));
  const zombie = Number(await new Promise<string>((resolve) => sh.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
  const { readFileSync } = await import('node:fs');
  const state = () => {
    try {
      return readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]?.[0];
    } catch {
      return undefined;
    }
  };
  for (let i = 0; i < 400 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(state(), 'Z', `process ${zombie} is a zombie`);
  mkdirSync(s.backups, { recursive: true });
  writeFileSync(join(s.backups, `hub.db.bak.new.tmp-${zombie}`), 'half a copy');
  writeFileSync(join(s.backups, `hub.db.bak.new.tmp-${zombie}-journal`), 'j');
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger });
  t.same(r!.leftovers.sort(), [`hub.db.bak.new.tmp-${zombie}`, `hub.db.bak.new.tmp-${zombie}-journal`].map((n) => join(s.backups, n)));
  t.same(readdirSync(s.backups), ['hub.db.bak']);
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

t.test('an unchanged store skips the snapshot; hub.db.bak is re-checked after start-up and replaced if it fails', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 2000);
  const first = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, skipUnchanged: true });
  t.equal(first!.verify, undefined, 'no hub.db.bak yet: the snapshot is taken');
  const bak = join(s.backups, 'hub.db.bak');
  const inode = statSync(bak).ino;

  const later = Date.now() + 40 * 86_400_000;
  const again = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, skipUnchanged: true, now: () => later });
  t.equal(statSync(bak).ino, inode, 'unchanged store: hub.db.bak is not rewritten');
  t.match(again, { records: 2000, generation: null, durationMs: 0 });
  t.ok(s.lines.some((l) => /startup backup not needed: .*hub\.db\.bak already holds this store's 2000 records/.test(String(l.msg))));
  await again!.verify!();
  t.ok(s.lines.some((l) => /re-checked: quick_check ok, 2000 records/.test(String(l.msg))), 'the re-check after start-up passes');
  t.equal(Math.round(statSync(bak).mtimeMs / 1000), Math.round(later / 1000), 'and its time is the re-check\'s, so its age (spl doctor) says when it was last known good');

  // A shutdown during the re-check interrupts it: nothing is replaced, the next start checks again.
  const skipped = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, skipUnchanged: true });
  const aborted = new AbortController();
  aborted.abort();
  await skipped!.verify!(aborted.signal);
  t.ok(s.lines.some((l) => /re-check of .*hub\.db\.bak was interrupted by the shutdown/.test(String(l.msg))), 'an interrupted re-check says so');
  t.equal(statSync(bak).ino, inode, 'and replaces nothing');

  // One more record: the snapshot is taken again.
  await writeRecords(s.store, 1);
  const grown = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, skipUnchanged: true });
  t.equal(grown!.verify, undefined);
  t.match(await inspectStoreFile(bak), { ok: true, records: 2001 });

  // hub.db.bak damaged in the middle, its last record still readable: skipped at start, caught by the re-check.
  const size = statSync(bak).size;
  const fd = openSync(bak, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(size / 4096 / 2) * 4096);
  closeSync(fd);
  const damaged = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, skipUnchanged: true });
  t.type(damaged!.verify, 'function', 'the damage is not on the path to the last record: skipped at start');
  await damaged!.verify!();
  t.ok(s.lines.some((l) => l.level === 40 && /failed quick_check after start-up; taking a fresh startup backup/.test(String(l.msg))), 'a WARN names it');
  t.match(await inspectStoreFile(bak), { ok: true, records: 2001 }, 'and a fresh snapshot replaced it');
});

/** Records on one thread per 100, bodies of ~1 KB: a store of tens of MiB in a few seconds. */
async function fillLarge(path: string, n: number): Promise<void> {
  const log = await RecordLog.open(path, { create: true });
  const pad = 'x'.repeat(1000);
  for (let from = 0; from < n; from += 2000) {
    const batch = Array.from({ length: Math.min(2000, n - from) }, (_, i) => validateRecord({ thread: 'th_' + (Math.floor((from + i) / 100) + 1).toString(16).padStart(64, '0'), actor: 'did:sync:user:a', act: 'DO', body: { i: from + i, pad } }));
    await log.append(batch);
  }
  await log.close();
}

t.test('a deferred startup backup copies the store as it was when it was pinned, whatever is committed before and during the copy', async (t) => {
  const s = setup(t);
  await fillLarge(s.store, 40_000);
  t.ok(statSync(s.store).size > 3 * 16 * 1048576, `the store spans several copy steps (${statSync(s.store).size} bytes)`);
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, deferAbove: 0 });
  t.equal(r!.records, 40_000, 'the pinned records');
  t.type(r!.deferred, 'function');
  t.notOk(existsSync(join(s.backups, 'hub.db.bak')), 'nothing is copied before the deferred part runs');
  t.match(s.lines.at(-1), { records: 40_000, msg: /startup backup of 40000 records: the store as it is now is held by a read snapshot/ });

  // The instance serves and writes: before the copy starts, and while it runs.
  const live = await RecordLog.open(s.store);
  t.teardown(() => live.close());
  const more = (k: number) => live.append(Array.from({ length: 500 }, (_, i) => validateRecord({ thread: 'th_' + 'e'.repeat(64), actor: 'did:sync:user:b', act: 'DO', body: { k, i } })));
  await more(0);
  const copying = r!.deferred!();
  await more(1);
  await copying;
  t.equal(live.recordCount, 41_000);
  t.match(await inspectStoreFile(join(s.backups, 'hub.db.bak')), { ok: true, records: 40_000 }, 'hub.db.bak holds exactly the pinned store');
  t.match(s.lines.at(-1), { records: 40_000, msg: 'startup backup written and verified' });
  t.same(readdirSync(s.backups), ['hub.db.bak'], 'no temporary left behind');
  // The pin is released: a full checkpoint can now truncate the WAL (a reader holding old frames would stop it).
  t.match(await truncateWal(live), { busy: 0 }, 'no reader holds the WAL');
});

t.test('a deferred startup backup stopped by a shutdown leaves hub.db.bak as it was and no partial copy; the next start takes it again', async (t) => {
  const s = setup(t);
  await fillLarge(s.store, 40_000);
  const old = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger }); // taken before READY: no deferAbove
  t.equal(old!.records, 40_000);
  await writeRecords(s.store, 10);
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, deferAbove: 0, skipUnchanged: true });
  t.equal(r!.records, 40_010);
  const ac = new AbortController();
  // Stop as soon as the first step has written pages: the copy is then neither empty nor whole.
  const watch = setInterval(() => {
    const tmp = readdirSync(s.backups).find((n) => n.includes('.tmp-'));
    if (tmp && statSync(join(s.backups, tmp)).size > 0) ac.abort();
  }, 1);
  await r!.deferred!(ac.signal);
  clearInterval(watch);
  t.ok(ac.signal.aborted, 'the shutdown came during the copy');
  t.match(s.lines.at(-1), { msg: /the startup backup was interrupted by the shutdown; .*hub\.db\.bak is left as it was, and the next start takes it again/ });
  t.same(readdirSync(s.backups), ['hub.db.bak'], 'the partial copy is removed');
  t.match(await inspectStoreFile(join(s.backups, 'hub.db.bak')), { ok: true, records: 40_000 }, 'the previous good copy is untouched');

  const next = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, deferAbove: 0, skipUnchanged: true });
  t.equal(next!.verify, undefined, 'not taken for unchanged: hub.db.bak is behind the store');
  await next!.deferred!();
  t.match(await inspectStoreFile(join(s.backups, 'hub.db.bak')), { ok: true, records: 40_010 });
});

t.test('a deferred startup backup whose start failed releases its snapshot without copying', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 30);
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, deferAbove: 0 });
  await r!.deferred!(AbortSignal.abort());
  t.same(readdirSync(s.backups), [], 'nothing written');
  const live = await RecordLog.open(s.store);
  // A commit after the pin: a snapshot still held would keep its frame out of the main file, and the check busy.
  await live.append([validateRecord({ thread: 'th_' + 'f'.repeat(64), actor: 'did:sync:user:c', act: 'DO', body: {} })]);
  t.match(await truncateWal(live), { busy: 0 }, 'the read snapshot is released');
  await live.close();
});

t.test('a deferred startup backup that cannot be written says so with what to do, and releases its snapshot', async (t) => {
  const s = setup(t);
  await writeRecords(s.store, 20);
  const r = await startupBackup({ storePath: s.store, dir: s.backups, logger: s.logger, deferAbove: 0 });
  rmSync(s.backups, { recursive: true, force: true }); // the directory is gone by the time the copy starts
  await r!.deferred!();
  const warn = s.lines.at(-1);
  t.match(warn, { level: 40, msg: /^startup backup failed: .*ENOENT.*; .*hub\.db\.bak is left as it was and the next start takes the copy again \(for a copy now: spl backup create --dest DIR\)$/ });
  const live = await RecordLog.open(s.store);
  await live.append([validateRecord({ thread: 'th_' + 'f'.repeat(64), actor: 'did:sync:user:c', act: 'DO', body: {} })]);
  t.match(await truncateWal(live), { busy: 0 }, 'the read snapshot is released');
  await live.close();
});
