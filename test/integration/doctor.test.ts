// spl doctor against real homes, running and not: one row per check, the right status and fix for each
// symptom the runbook describes, exit 0/1/2, and never a change to what it inspects.

import t from 'tap';
import { chmodSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeHome, serve, stop, runSpl, postJson, type Home } from '../helpers/spl.js';
import { doctorContext } from '../../lib/doctor/context.js';
import { exitCodeOf, runChecks } from '../../lib/doctor/runner.js';

interface Row {
  id: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  summary: string;
  fix?: string;
}

interface Report {
  home: string;
  exit_code: number;
  counts: Record<string, number>;
  checks: Row[];
}

const CHECK_IDS = ['home', 'config', 'pidfile', 'port', 'socket', 'health', 'auth', 'store', 'folds', 'engine-config', 'permissions', 'task-content', 'dispatch', 'backups', 'offsite-backup', 'secrets', 'disk', 'memory', 'systemd'];

/** A temporary home whose backups also stay inside the temporary directory. */
async function home(): Promise<Home> {
  const h = await makeHome();
  h.env.XDG_DATA_HOME = join(h.dir, 'xdg-data');
  return h;
}

async function doctor(h: Home, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; report: Report; stderr: string }> {
  const r = await runSpl(['doctor', '--json', '--port', String(h.port)], { ...h.env, ...env });
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`spl doctor printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

function row(report: Report, id: string): Row {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no ${id} row in ${JSON.stringify(report.checks.map((c) => c.id))}`);
  return found;
}

/** The exit code the rows call for: 2 for any fail, 1 for any warn, else 0. */
function expectedExit(report: Report): number {
  return report.checks.some((c) => c.status === 'fail') ? 2 : report.checks.some((c) => c.status === 'warn') ? 1 : 0;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

const DO = (i: number) => ({ thread: 'th_' + i.toString(16).padStart(64, '0'), actor: 'did:sync:user:alice', act: 'DO', body: { i } });

t.test('a healthy running instance: every check reports, one row each, and the exit code follows the rows', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  const pid = await serve(h);
  t.teardown(() => stop(h));
  await postJson(h.port, '/v1/records', [DO(1), DO(2), DO(3)]);
  const cfg = await postJson(h.port, '/v1/records', { thread: 'th_engine_config', actor: 'did:sync:user:alice', act: 'LEARN', body: { topic: 'max_concurrent', value: 2 } });
  t.equal(cfg.status, 201);

  const { code, report, stderr } = await doctor(h);
  t.equal(stderr, '');
  t.same(report.checks.map((c) => c.id), CHECK_IDS, 'every check, in order');
  t.equal(report.home, h.home);
  t.equal(code, expectedExit(report));
  t.equal(report.exit_code, code);
  for (const c of report.checks) t.match(c, { status: /^(ok|warn|fail|skip)$/, summary: /\S/ }, `${c.id} has a status and a sentence`);

  for (const id of ['home', 'config', 'pidfile', 'port', 'socket', 'health', 'auth', 'store', 'engine-config', 'permissions']) {
    t.equal(row(report, id).status, 'ok', `${id}: ${row(report, id).summary}`);
  }
  t.match(row(report, 'pidfile').summary, `pid ${pid}`);
  t.match(row(report, 'port').summary, `127.0.0.1:${h.port} is held by this instance (pid ${pid})`);
  t.match(row(report, 'socket').summary, /answers \(HTTP 200\), mode 0600/);
  t.match(row(report, 'health').summary, /ok, spl \d+\.\d+\.\d+, 4 records, 4 threads/);
  t.match(row(report, 'store').summary, /^hub\.db: quick_check ok, schema 1, 4 records, 4 threads/);
  t.match(row(report, 'engine-config').summary, /1 record on th_engine_config/);
  // Started on an empty store: the checkpoint is written at shutdown and on the service's cadence (30 s ticks).
  t.equal(row(report, 'folds').status, 'ok');
  t.match(row(report, 'folds').summary, /^(no fold checkpoint yet: the next start rebuilds every fold from all 4 records|hub\.db\.folds: covers \d of 4 records)/);
  // Taken at start-up, before the records above: present, and the newer records are reported, not warned about.
  t.equal(row(report, 'backups').status, 'ok');
  t.match(row(report, 'backups').summary, /hub\.db\.bak: 0 records.*4 records written since it was taken/);
  t.equal(row(report, 'offsite-backup').status, 'skip');
  t.match(row(report, 'secrets').status, /^(ok|skip)$/);
  // Machine-dependent: only the shape is pinned.
  t.match(row(report, 'disk').summary, /free on the filesystem holding/);
  t.match(row(report, 'memory').summary, /avail_gb=\d+\.\d|no \/proc\/meminfo/);

  const human = await runSpl(['doctor', '--port', String(h.port)], h.env);
  t.equal(human.code, code, 'the same exit code for people and programs');
  t.match(human.stdout, /^ok {4}home {2,}/m);
  t.match(human.stdout, /^ok {4}store {2,}hub\.db: quick_check ok, schema 1, 4 records, 4 threads/m);
  t.match(human.stdout, /^ok {4}backups {2,}.*4 records written since it was taken/m);
  for (const r of report.checks.filter((c: { status: string; fix?: string }) => c.status !== 'ok' && c.status !== 'skip' && c.fix)) {
    t.ok(human.stdout.includes(`fix: ${r.fix}`), `a fix line under the ${r.status} row ${r.id}`);
  }
  t.match(human.stdout, new RegExp(`${h.home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .* — \\d+ ok, \\d+ warn, \\d+ fail, \\d+ skipped\\n$`));
  const viaGlobal = await runSpl(['doctor', '-o', 'json', '--port', String(h.port)], h.env);
  t.same(JSON.parse(viaGlobal.stdout).checks.map((c: Row) => c.id), CHECK_IDS, '-o json works too');
});

t.test('the fold checkpoint: what the next start will replay, a damaged one warned about, and the file left as it is', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  await serve(h);
  await postJson(h.port, '/v1/records', [DO(1), DO(2)]);
  await stop(h); // the shutdown writes hub.db.folds
  const path = join(h.home, 'hub.db.folds');
  const first = await doctor(h);
  const records = Number(/(\d+) records?/.exec(row(first.report, 'store').summary)?.[1]);
  t.ok(records >= 2, `the store row counts the records (${records})`);
  t.equal(row(first.report, 'folds').status, 'ok');
  t.match(row(first.report, 'folds').summary, new RegExp(`^hub\\.db\\.folds: covers ${records} of ${records} records, written \\d+s ago; the next start replays 0 records$`));

  const bytes = readFileSync(path);
  writeFileSync(path, Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes[bytes.length - 1]! ^ 0xff])]), { mode: 0o600 });
  const before = sha256(path);
  const damaged = await doctor(h);
  t.equal(row(damaged.report, 'folds').status, 'warn');
  t.match(row(damaged.report, 'folds').summary, /^hub\.db\.folds is damaged \(its payload fails its sha256.*\): the next start rebuilds every fold from all \d+ records and logs a WARN/);
  t.equal(row(damaged.report, 'folds').fix, `nothing to repair; to stop the WARN now: rm ${path}`);
  t.ok(damaged.code !== null && damaged.code >= 1, 'a warn makes the exit code at least 1');
  t.equal(sha256(path), before, 'doctor does not touch the checkpoint');
});

t.test('a stale PID file: warn with the rm -f fix, exit ≥ 1', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  t.equal((await runSpl(['init'], h.env)).code, 0);
  const pidFile = join(h.home, 'run', 'spl.pid');
  writeFileSync(pidFile, '999999\n');
  const { code, report } = await doctor(h);
  const pid = row(report, 'pidfile');
  t.equal(pid.status, 'warn');
  t.match(pid.summary, `stale PID file ${pidFile}: no process 999999 exists`);
  t.equal(pid.fix, `rm -f ${pidFile}`);
  t.equal(row(report, 'health').status, 'skip', 'nothing to ask');
  t.equal(row(report, 'port').status, 'ok');
  t.ok(code !== null && code >= 1);
  t.equal(code, expectedExit(report));
  t.equal(readFileSync(pidFile, 'utf8'), '999999\n', 'doctor reports; it does not remove');
  const human = await runSpl(['doctor', '--port', String(h.port)], h.env);
  t.match(human.stdout, new RegExp(`^warn {2}pidfile {2,}stale PID file .*\\n {6,}fix: rm -f ${pidFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), 'the fix line sits under the warn row');
});

t.test('the port held by another process while spl is down: fail naming its pid, exit 2', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  t.equal((await runSpl(['init'], h.env)).code, 0);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(h.port, '127.0.0.1', () => r()));
  t.teardown(() => blocker.close());
  const started = Date.now();
  const { code, report } = await doctor(h);
  const port = row(report, 'port');
  t.equal(port.status, 'fail');
  t.match(port.summary, `127.0.0.1:${h.port} is held by pid ${process.pid} (`);
  t.match(port.summary, 'Address already in use');
  t.match(port.fix, `stop pid ${process.pid}`);
  t.equal(row(report, 'health').status, 'skip', 'a foreign listener is not taken for the instance');
  t.equal(code, 2);
  t.ok(Date.now() - started < 10000, 'no waiting on a listener that never answers');
});

t.test('secrets readable by others: fail for world, warn for group, each with the chmod fix', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  t.equal((await runSpl(['init'], h.env)).code, 0);
  const file = join(h.home, 'secrets', 'anthropic.key');
  writeFileSync(file, 'sk-secret', { mode: 0o600 });
  chmodSync(file, 0o644);
  let { code, report } = await doctor(h);
  let s = row(report, 'secrets');
  t.equal(s.status, 'fail');
  t.match(s.summary, `${file} is 0644 (want 0600)`);
  t.equal(s.fix, `chmod 600 ${file}`);
  t.equal(code, 2);

  chmodSync(file, 0o640);
  ({ code, report } = await doctor(h));
  s = row(report, 'secrets');
  t.equal(s.status, 'warn');
  t.equal(s.fix, `chmod 600 ${file}`);
  t.equal(statSync(file).mode & 0o777, 0o640, 'doctor does not chmod for you');

  chmodSync(file, 0o600);
  chmodSync(join(h.home, 'keys'), 0o755);
  ({ report } = await doctor(h));
  t.equal(row(report, 'secrets').status, 'ok');
  t.equal(row(report, 'home').status, 'warn');
  t.equal(row(report, 'home').fix, `chmod 700 ${join(h.home, 'keys')}`);
});

t.test('backups: missing before the first start (warn), present and matching the store after it', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  const init = await runSpl(['init', '-o', 'json'], h.env);
  t.equal(init.code, 0, init.stderr);
  const did = JSON.parse(init.stdout).instance_did as string;
  const dir = join(h.dir, 'xdg-data', 'syncropel', 'backups', `instance-${did.split(':').pop()}`);
  let { code, report } = await doctor(h);
  let b = row(report, 'backups');
  t.equal(b.status, 'warn');
  t.match(b.summary, `no startup backup at ${join(dir, 'hub.db.bak')}`);
  t.equal(b.fix, 'spl serve');
  t.ok(code !== null && code >= 1);

  await serve(h);
  await stop(h);
  ({ report } = await doctor(h));
  b = row(report, 'backups');
  t.equal(b.status, 'ok', 'doctor looks where spl serve wrote it');
  t.match(b.summary, `${join(dir, 'hub.db.bak')}: 0 records`);
});

t.test('off-host backups in [backup] dest: fail when there are none, warn when old, ok when fresh', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  t.equal((await runSpl(['init'], h.env)).code, 0);
  const dest = join(h.dir, 'offhost');
  writeFileSync(join(h.home, 'config.toml'), readFileSync(join(h.home, 'config.toml'), 'utf8').replace('# dest = "/var/backups/syncropel"', `dest = "${dest}"`));
  let { report } = await doctor(h);
  t.equal(row(report, 'offsite-backup').status, 'fail');
  t.equal(row(report, 'offsite-backup').fix, `spl backup create --dest ${dest}`);

  const made = await runSpl(['backup', 'create', '--dest', dest], h.env);
  t.equal(made.code, 0, made.stderr);
  ({ report } = await doctor(h));
  t.equal(row(report, 'offsite-backup').status, 'ok', row(report, 'offsite-backup').summary);

  const old = (Date.now() - 3 * 86_400_000) / 1000;
  for (const f of readdirSync(dest)) utimesSync(join(dest, f), old, old);
  ({ report } = await doctor(h));
  t.equal(row(report, 'offsite-backup').status, 'warn');
  t.match(row(report, 'offsite-backup').summary, /3d old.*older than 2 days/);
});

t.test('a corrupt store: fail with the recovery steps, and the file is never modified', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  await serve(h);
  await postJson(h.port, '/v1/records', Array.from({ length: 200 }, (_, i) => DO(i)));
  await stop(h);
  const store = join(h.home, 'hub.db');
  const bytes = readFileSync(store);
  t.ok(bytes.length > 3 * 4096, 'the store spans several pages');
  bytes.fill(0xff, 4096, 4096 + 2048); // wreck page 2
  writeFileSync(store, bytes);
  const before = sha256(store);

  const { code, report } = await doctor(h);
  const s = row(report, 'store');
  t.equal(s.status, 'fail');
  t.match(s.summary, `${store} is corrupt`);
  t.match(s.fix, `mv ${store} ${store}.corrupt.$(date +%s)`);
  t.match(s.fix, 'off-host backup');
  t.equal(row(report, 'engine-config').status, 'skip');
  t.equal(row(report, 'permissions').status, 'skip');
  t.equal(code, 2);
  t.equal(sha256(store), before, 'hub.db is byte-for-byte what it was');
});

t.test('permission lockout: enforcement on without an admin allow rule is a fail with the unlock recovery', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  await serve(h);
  // Written as a plain record, the way an older release (or a disabled admin rule) leaves it: no pre-flight.
  await postJson(h.port, '/v1/records', { thread: 'th_engine_config', actor: 'did:sync:user:alice', act: 'LEARN', body: { topic: 'permissions_enabled', enabled: true } });
  let { report } = await doctor(h, { SPL_ACTOR: 'did:sync:user:admin' });
  let p = row(report, 'permissions');
  t.equal(p.status, 'fail');
  t.match(p.summary, 'did:sync:user:admin would be denied record_write, thread_read, config_read');
  t.match(p.summary, `spl config add-permission-rule --name admin-all --action allow --priority 1000 --expression 'current_actor() == "did:sync:user:admin"'`);
  t.equal(p.fix, 'spl stop; spl config permissions-unlock; spl serve');
  await stop(h);

  ({ report } = await doctor(h, { SPL_ACTOR: 'did:sync:user:admin' }));
  t.equal(row(report, 'permissions').fix, 'spl config permissions-unlock; spl serve', 'nothing to stop');
  const unlock = await runSpl(['config', 'permissions-unlock', '--port', String(h.port)], h.env);
  t.equal(unlock.code, 0, unlock.stderr);
  ({ report } = await doctor(h, { SPL_ACTOR: 'did:sync:user:admin' }));
  p = row(report, 'permissions');
  t.equal(p.status, 'ok');
  t.match(p.summary, 'enforcement is off');
});

t.test('a config.toml that does not load: fail with loadInstanceConfig\'s message; the other checks still run', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  t.equal((await runSpl(['init'], h.env)).code, 0);
  writeFileSync(join(h.home, 'config.toml'), '[server]\nport = "ninety-one hundred"\n');
  const r = await runSpl(['doctor', '--json'], h.env);
  const report = JSON.parse(r.stdout) as Report;
  const c = row(report, 'config');
  t.equal(c.status, 'fail');
  t.match(c.summary, 'server.port must be an integer from 1 to 65535');
  t.equal(c.fix, `edit ${join(h.home, 'config.toml')}`);
  t.equal(row(report, 'port').status, 'skip');
  t.equal(row(report, 'store').status, 'skip');
  t.equal(row(report, 'home').status, 'ok');
  t.equal(report.checks.length, CHECK_IDS.length);
  t.equal(r.code, 2);
});

t.test('no home at all, instance down: a clear fail, no crash, and nothing created', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  const before = listTree(h.dir);
  const { code, report, stderr } = await doctor(h);
  t.equal(stderr, '', 'no crash');
  t.equal(code, 2);
  const hm = row(report, 'home');
  t.equal(hm.status, 'fail');
  t.match(hm.summary, `no instance home at ${h.home}`);
  t.equal(hm.fix, 'spl init');
  t.equal(row(report, 'store').status, 'fail');
  t.equal(row(report, 'pidfile').status, 'ok');
  t.equal(row(report, 'health').status, 'skip');
  const human = await runSpl(['doctor'], h.env);
  t.equal(human.code, 2);
  t.match(human.stdout, /^fail  home +no instance home at /m);
  t.same(listTree(h.dir), before, 'doctor created no file or directory');
});

t.test('the runner never throws: a check that throws or hangs becomes a fail row, and the rest still run', async (t) => {
  const h = await home();
  t.teardown(() => h.cleanup());
  const ctx = doctorContext({ env: h.env, osUser: 'tester' });
  const rows = await runChecks(
    ctx,
    [
      { id: 'throws', run: () => { throw new Error('boom'); } },
      { id: 'hangs', run: () => new Promise(() => undefined) },
      { id: 'fine', run: () => ({ status: 'ok', summary: 'all good' }) },
    ],
    200,
  );
  t.same(rows, [
    { id: 'throws', status: 'fail', summary: 'the throws check itself failed: boom' },
    { id: 'hangs', status: 'fail', summary: 'the hangs check itself failed: did not finish within 0.2s' },
    { id: 'fine', status: 'ok', summary: 'all good' },
  ]);
  t.equal(exitCodeOf(rows), 2);
  t.equal(exitCodeOf([{ id: 'a', status: 'ok', summary: '' }, { id: 'b', status: 'skip', summary: '' }]), 0);
  t.equal(exitCodeOf([{ id: 'a', status: 'warn', summary: '' }, { id: 'b', status: 'skip', summary: '' }]), 1);
});
