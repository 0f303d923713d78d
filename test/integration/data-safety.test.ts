// Data safety (SPEC §9): the runbook's backup trap cannot happen, a missing store is never replaced by an
// empty one, backups are 0600 under any umask, bad homes, configs and stores are refused in one line with a
// fix, and body bytes are kept as sent.

import t from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALICE, http, makeHome, postJson, runSpl, serve, SPL, stop, type Home } from '../helpers/spl.js';

const rec = (i: number) => ({ thread: 'th_' + (i + 1).toString(16).padStart(64, '0'), actor: ALICE, act: 'DO', body: { i } });

function backupDir(h: Home): string {
  const root = join(h.dir, '.local', 'share', 'syncropel', 'backups');
  const keys = readdirSync(root).filter((n) => n.startsWith('instance-'));
  return join(root, keys[0]!);
}

t.test('rm hub.db: serve refuses and names the best backup; the runbook\'s literal cp brings every record back', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  await postJson(h.port, '/v1/records', Array.from({ length: 50 }, (_, i) => rec(i)));
  await stop(h);
  await serve(h); // this start's backup holds all 50
  await stop(h);
  for (const f of ['hub.db', 'hub.db-wal', 'hub.db-shm']) rmSync(join(h.home, f), { force: true });

  const bak = join(backupDir(h), 'hub.db.bak');
  const refused = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.equal(refused.code, 2, 'spl serve refuses (exit 2: systemd does not restart into the same refusal)');
  t.match(refused.stderr, /the store .*hub\.db is missing, but this home had data/);
  t.match(refused.stderr, new RegExp(`the best backup is ${bak.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 50 records, taken \\d+s ago`));
  t.match(refused.stderr, /fix: spl backup restore .*hub\.db\.bak && spl serve .*cp .*hub\.db\.bak .*hub\.db.*spl serve --new-store/);
  t.notOk(existsSync(join(h.home, 'hub.db')), 'no empty store was created');
  t.notOk(existsSync(join(h.home, 'run', 'spl.pid')), 'no PID file left');
  const init = await runSpl(['init'], h.env);
  t.equal(init.code, 2, 'spl init refuses too');
  t.notOk(existsSync(join(h.home, 'hub.db')));

  const doctor = await runSpl(['doctor', '-o', 'json'], h.env);
  const row = JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === 'store');
  t.match(row, { status: 'fail', summary: /missing, but this home had data.*50 records.*spl serve refuses to start/, fix: /spl backup restore/ });

  // The runbook's own fallback, exactly as written.
  copyFileSync(bak, join(h.home, 'hub.db'));
  await serve(h);
  t.equal((await http(h.port, 'GET', '/health')).body.records, 50, 'every record is back');
  await stop(h);
});

t.test('--new-store starts empty on purpose, records it, and hub.db.bak keeps the good copy through restarts', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  await postJson(h.port, '/v1/records', Array.from({ length: 20 }, (_, i) => rec(i)));
  await stop(h);
  await serve(h);
  await stop(h);
  const existing = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost', '--new-store'], h.env);
  t.equal(existing.code, 2, '--new-store with a store present is refused');
  t.match(existing.stderr, /--new-store starts an empty store only where none exists/);

  rmSync(join(h.home, 'hub.db'));
  await serve(h, ['--new-store']);
  const learn = await http(h.port, 'GET', '/v1/records?thread=th_engine_config&limit=10');
  t.match(learn.body.data ?? learn.body, [{ act: 'LEARN', body: { topic: 'new_store', best_backup: { records: 20 } } }], 'a LEARN on th_engine_config says so');
  t.match(readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8'), /"level":"WARN".*--new-store: started an empty store/);
  await stop(h);
  await serve(h); // the trap's second restart
  await stop(h);
  const list = JSON.parse((await runSpl(['backup', 'list', '-o', 'json'], h.env)).stdout);
  const best = list.backups.find((b: { best: boolean }) => b.best);
  t.match(best, { kind: 'startup', records: 20 }, 'hub.db.bak, the best copy, still holds the 20 records');
  t.ok(list.backups.some((b: { kind: string; records: number }) => b.kind === 'generation' && b.records === 1), 'the newer, smaller snapshots are generations');
  const text = (await runSpl(['backup', 'list'], h.env)).stdout;
  t.match(text, /^\*\s+startup\s+\S+\s+20\s/m, 'the text listing marks it');
});

t.test('every backup file is 0600 and a restored store is 0600, under umask 000', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const dest = join(h.dir, 'offhost');
  const spl000 = (args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
    const c = spawn('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, SPL, ...args], { env: h.env });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('close', (code) => resolve({ code, out }));
  });
  t.equal((await spl000(['serve', '--port', String(h.port), '--insecure-localhost'])).code, 0);
  await postJson(h.port, '/v1/records', [rec(1), rec(2)]);
  mkdirSync(join(h.dir, '.syncro-data', 'tasks'), { recursive: true });
  writeFileSync(join(h.dir, '.syncro-data', 'tasks', 'T-1.md'), '# T-1\n');
  const created = await spl000(['backup', 'create', '--dest', dest]);
  t.equal(created.code, 0, created.out);
  await stop(h);
  const bakFile = readdirSync(dest).find((n) => n.endsWith('.bak'))!;
  const restored = await spl000(['backup', 'restore', join(dest, bakFile)]);
  t.equal(restored.code, 0, restored.out);
  const loose: string[] = [];
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if ((st.mode & 0o077) !== 0) loose.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    }
  };
  walk(dest);
  walk(join(h.dir, '.local', 'share', 'syncropel', 'backups'));
  t.same(loose, [], 'no backup file has group or other bits');
  t.ok(readdirSync(dest).some((n) => n.endsWith('.tar.gz')) && readdirSync(dest).some((n) => n.startsWith('manifest.')), 'snapshot, tarball and manifest were all checked');
  t.equal(statSync(join(h.home, 'hub.db')).mode & 0o777, 0o600, 'the restored hub.db is 0600');
});

t.test('doctor flags backup files readable by others', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  await stop(h);
  const loose = join(backupDir(h), 'hub.db.bak');
  const { chmodSync } = await import('node:fs');
  chmodSync(loose, 0o644);
  const doctor = await runSpl(['doctor', '-o', 'json'], h.env);
  const row = JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === 'backups');
  t.match(row, { status: 'warn', summary: /backup files are readable by others.*hub\.db\.bak is 0644 \(want 0600\)/, fix: /^chmod 600 .*hub\.db\.bak/ });
});

t.test('home problems: one line, a fix, exit 2, no stack trace, nothing created', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const cases: Array<[string, () => NodeJS.ProcessEnv, RegExp]> = [
    ['home is a file', () => {
      writeFileSync(join(h.dir, 'file-home'), 'x');
      return { ...h.env, SYNCROPEL_HOME: join(h.dir, 'file-home') };
    }, /file-home is a file, not a directory/],
    ['home under a file', () => {
      writeFileSync(join(h.dir, 'plain'), 'x');
      return { ...h.env, SYNCROPEL_HOME: join(h.dir, 'plain', 'home') };
    }, /plain is a file, so .*plain\/home cannot be created under it/],
  ];
  for (const [name, env, message] of cases) {
    for (const cmd of [['serve', '--port', String(h.port)], ['init']]) {
      const r = await runSpl(cmd, env());
      t.equal(r.code, 2, `${name}: spl ${cmd[0]} exits 2`);
      t.match(r.stderr, message, name);
      t.match(r.stderr, /\nfix: /, `${name}: a fix`);
      t.notMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
      t.equal(r.stderr.trim().split('\n').length, 2, `${name}: one line and the fix`);
    }
  }
});

t.test('config: a non-loopback host without TCP auth is refused before anything is created; an unknown table gets the nearest name', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  mkdirSync(h.home, { recursive: true });
  writeFileSync(join(h.home, 'config.toml'), '[server]\nhost = "0.0.0.0"\n');
  const r = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.equal(r.code, 2);
  t.match(r.stderr, /server\.host is 0\.0\.0\.0, which other hosts can reach/);
  t.same(readdirSync(h.home), ['config.toml'], 'no keys/, logs/, run/ or secrets/ were created');
  t.notOk(existsSync(join(h.dir, '.syncro-data')), 'no .syncro-data either');

  writeFileSync(join(h.home, 'config.toml'), '[sever]\nport = 9100\n');
  const typo = await runSpl(['serve', '--port', String(h.port)], h.env);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /unknown table \[sever\]; did you mean \[server\]\?/);
  writeFileSync(join(h.home, 'config.toml'), '[server]\nprot = 9100\n');
  const key = await runSpl(['status'], h.env);
  t.equal(key.code, 2);
  t.match(key.stderr, /unknown key prot in \[server\]; did you mean port\?/);
  writeFileSync(join(h.home, 'config.toml'), 'level = "debug"\n');
  const top = await runSpl(['status'], h.env);
  t.match(top.stderr, /unknown key level; did you mean level under \[log\]\?/);
  t.same(readdirSync(h.home), ['config.toml'], 'still nothing created');
});

t.test('a store path SQLite cannot open is not called corrupt', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  mkdirSync(h.home, { recursive: true });
  writeFileSync(join(h.home, 'config.toml'), '[store]\npath = "/proc/spl-test/hub.db"\n');
  const r = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.not(r.code, 0);
  t.match(r.stderr, /\/proc\/spl-test\/hub\.db/);
  t.notMatch(r.stderr, /corrupt|integrity/, 'no corruption advice');
  t.match(r.stderr, /fix: .*\[store\] path/);
  await runSpl(['stop', '--port', String(h.port)], h.env);
});

t.test('a body that is not valid UTF-8 is 400 naming the offset; nothing is stored', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  const json = JSON.stringify({ thread: 'th_' + 'b'.repeat(64), actor: ALICE, act: 'DO', body: { s: 'aXXb' } });
  const at = Buffer.from(json).indexOf('aXXb') + 1;
  const bytes = Buffer.from(json);
  bytes[at] = 0xff;
  bytes[at + 1] = 0xfe;
  const r = await http(h.port, 'POST', '/v1/records', bytes, { 'content-type': 'application/json' });
  t.equal(r.status, 400);
  t.match(r.body, { code: 'INVALID_ENCODING', message: new RegExp(`byte 0xff at offset ${at}\\b`) });
  t.equal((await http(h.port, 'GET', '/health')).body.records, 0, 'nothing stored');
  const ok = await postJson(h.port, '/v1/records', { thread: 'th_' + 'b'.repeat(64), actor: ALICE, act: 'DO', body: { s: 'grüße 🌍' } });
  t.equal(ok.status, 201, 'valid multi-byte UTF-8 is accepted');
});
