// Backups that cannot betray you: startup backup generations, off-host sets, verify, restore, corrupt stores.

import t from 'tap';
import { existsSync, readFileSync, readdirSync, writeFileSync, rmSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { makeHome, serve, stop, runSpl, postJson, http } from '../helpers/spl.js';

async function allIds(port: number): Promise<string[]> {
  const ids: string[] = [];
  let after = 0;
  for (;;) {
    const page = await http(port, 'GET', `/v1/records?limit=1000&after_sequence=${after}`);
    ids.push(...page.body.data.map((r: { id: string }) => r.id));
    if (page.body.next_after_sequence === null) return ids;
    after = page.body.next_after_sequence;
  }
}

const rec = (i: number) => ({ thread: 'th_' + i.toString(16).padStart(64, '0'), actor: 'did:sync:user:alice', act: 'DO', body: { i } });

t.test('create while serving, list, verify, restore round-trip with the same ids', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  await postJson(h.port, '/v1/records', Array.from({ length: 300 }, (_, i) => rec(i)));
  writeFileSync(join(h.home, 'secrets', 'anthropic.key'), 'sk-secret-value', { mode: 0o600 });
  writeFileSync(join(h.dir, '.syncro-data', 'tasks', 'MY-001.md'), '# task body\n');
  const dest = join(h.dir, 'offhost');

  // Ingest keeps going while the snapshot is taken.
  let writing = true;
  let n = 1000;
  const writer = (async () => {
    while (writing) await postJson(h.port, '/v1/records', rec(n++));
  })();
  const created = await runSpl(['backup', 'create', '--dest', dest, '-o', 'json'], h.env);
  writing = false;
  await writer;
  t.equal(created.code, 0, created.stderr);
  const set = JSON.parse(created.stdout);
  t.ok(set.store.records >= 300, `snapshot holds ${set.store.records} records`);
  t.match(set.store.sha256, /^[0-9a-f]{64}$/);
  const manifest = JSON.parse(readFileSync(set.manifest, 'utf8'));
  t.match(manifest, { store: { records: set.store.records }, secrets: /not included/ });
  const entries: string[] = [];
  await tar.t({ file: set.data.file, onReadEntry: (e) => void entries.push(e.path) });
  t.ok(entries.some((e) => e.endsWith('tasks/MY-001.md')), 'task content is in the tarball');
  t.notOk(entries.some((e) => e.includes('secrets')), 'secrets never are');
  t.notMatch(readFileSync(set.store.file).toString('latin1'), 'sk-secret-value');

  const blocked = join(h.dir, 'not-a-dir');
  writeFileSync(blocked, 'a file where the destination should be');
  const unwritable = await runSpl(['backup', 'create', '--dest', blocked], h.env);
  t.equal(unwritable.code, 2);
  t.match(unwritable.stderr, `cannot write backups to ${blocked}`);
  t.match(unwritable.stderr, /fix: pick a directory this user/);
  const human = await runSpl(['backup', 'create', '--dest', join(h.dir, 'second')], h.env);
  t.match(human.stdout, /secrets are not included: they live in .*secrets/);

  const listed = JSON.parse((await runSpl(['backup', 'list', '--dest', dest, '-o', 'json'], h.env)).stdout);
  t.ok(listed.backups.some((b: { kind: string }) => b.kind === 'startup'), 'the startup backup is listed');
  t.ok(listed.backups.some((b: { kind: string; file: string }) => b.kind === 'off-host' && b.file === set.store.file));
  const verify = await runSpl(['backup', 'verify', set.store.file], h.env);
  t.equal(verify.code, 0, verify.stderr);
  t.match(verify.stdout, /quick_check ok.*checksum match/);

  const refused = await runSpl(['backup', 'restore', set.store.file], h.env);
  t.equal(refused.code, 1, 'restore refuses while the instance runs');
  t.match(refused.stderr, /spl stop; spl backup restore/);

  // Restore round-trip: the ids in the backup are exactly the ids after restore.
  const { Database } = await import('../../lib/store/database.js');
  const bdb = await Database.open(set.store.file, { readonly: true });
  const backupIds = (await bdb.all<{ id: string }>('SELECT id FROM records ORDER BY sequence')).map((r) => r.id);
  await bdb.close();
  t.equal((await stop(h)).code, 0);
  const restored = await runSpl(['backup', 'restore', set.store.file], h.env);
  t.equal(restored.code, 0, restored.stderr);
  t.match(restored.stdout, new RegExp(`restored ${backupIds.length} records`));
  t.ok(readdirSync(h.home).some((f) => /^hub\.db\.corrupt\.\d+$/.test(f)), 'the previous store was moved aside, not deleted');
  await serve(h);
  t.same(await allIds(h.port), backupIds, 'same ids, same order');

  const bad = join(h.dir, 'bad.bak');
  writeFileSync(bad, 'not a database '.repeat(500));
  const v2 = await runSpl(['backup', 'verify', bad], h.env);
  t.equal(v2.code, 1);
  t.match(v2.stderr, /not a good backup/);
});

t.test('the trap: delete hub.db, restart twice — hub.db.bak still holds the good data and the runbook\'s cp restores it', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  await postJson(h.port, '/v1/records', Array.from({ length: 50 }, (_, i) => rec(i)));
  await stop(h);
  await serve(h); // startup backup now holds 50
  await stop(h);
  for (const f of ['hub.db', 'hub.db-wal', 'hub.db-shm']) rmSync(join(h.home, f), { force: true });
  // The runbook's trap needs an empty start; spl refuses it unless asked on purpose (--new-store).
  await serve(h, ['--new-store']);
  await stop(h);
  await serve(h);
  await stop(h);
  const list = JSON.parse((await runSpl(['backup', 'list', '-o', 'json'], h.env)).stdout);
  const startup = list.backups.find((b: { kind: string }) => b.kind === 'startup');
  t.match(startup, { records: 50, best: true }, 'hub.db.bak still holds the 50 records, marked best');
  t.ok(list.backups.filter((b: { kind: string }) => b.kind === 'generation').length >= 1, 'the smaller snapshots were written beside it');
  const v = await runSpl(['backup', 'verify', startup.file, '-o', 'json'], h.env);
  t.match(JSON.parse(v.stdout), { ok: true, records: 50 });
  t.match(readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8'), /"level":"WARN".*fewer records \(1\) than .*hub\.db\.bak \(50\)/);
  // The runbook's own manual procedure, literally: cp …/hub.db.bak ~/.syncro/hub.db.
  for (const f of ['hub.db', 'hub.db-wal', 'hub.db-shm']) rmSync(join(h.home, f), { force: true });
  copyFileSync(startup.file, join(h.home, 'hub.db'));
  await serve(h);
  t.equal((await http(h.port, 'GET', '/health')).body.records, 50);
  await stop(h);
});

t.test('a corrupt store is refused, never served, and never backed up over the good copy', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  await postJson(h.port, '/v1/records', Array.from({ length: 20 }, (_, i) => rec(i)));
  await stop(h);
  await serve(h);
  await stop(h);
  const list = JSON.parse((await runSpl(['backup', 'list', '-o', 'json'], h.env)).stdout);
  const startup = list.backups.find((b: { kind: string }) => b.kind === 'startup').file as string;
  const before = readFileSync(startup);
  const store = join(h.home, 'hub.db');
  const bytes = readFileSync(store);
  bytes.fill(0x5a, 4096, 8192); // smash the second page
  writeFileSync(store, bytes);
  const r = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`the store ${store.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} failed its integrity check`));
  t.match(r.stderr, /will not back it up over a good copy/);
  t.match(r.stderr, /fix: spl stop; mv .*hub\.db .*hub\.db\.corrupt\.\$\(date \+%s\)/);
  t.same(readFileSync(startup), before, 'the startup backup is untouched');
  t.notOk(existsSync(join(h.home, 'run', 'spl.pid')), 'nothing left running');
  t.equal((await http(h.port, 'GET', '/health').catch(() => ({ status: 0 }))).status, 0, 'nothing is served');
});
