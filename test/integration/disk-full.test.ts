// Full and read-only disks, on small tmpfs filesystems this test mounts itself (root only, as CI runs):
// a full store disk answers 507 STORAGE_FULL for every failed write and never a plain-text 500, keeps serving
// reads, loses nothing acknowledged and takes writes again once space frees, without a restart; a full log disk
// never fails a request, a reload or the daemon, and the dropped lines are counted; a read-only store is refused.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ALICE, http, makeHome, postJson, runSpl, serve, stop, type Home } from '../helpers/spl.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'mounting tmpfs needs root (CI runs as root)';

function mountTmpfs(t: Test, dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', dir]);
    } catch {
      // already unmounted
    }
  });
}

/** Fills the filesystem holding `dir` with a ballast file until a write fails, leaving `leave` bytes free. */
function fill(dir: string, leave = 0): string {
  const ballast = join(dir, `ballast-${Date.now()}`);
  const fd = openSync(ballast, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) {
      const s = statfsSync(dir);
      if (s.bavail * s.bsize <= leave) break;
      writeSync(fd, chunk);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return ballast;
}

const rec = (n: number, pad = 0) => JSON.stringify({ thread: 'th_' + n.toString(16).padStart(64, '0'), actor: ALICE, act: 'DO', body: { n, pad: 'p'.repeat(pad) } });

function post(agent: Agent, port: number, body: string): Promise<{ status: number; json: { code?: string; message?: string; id?: string } | undefined; text: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/records', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('error', (e) => resolve({ status: 0, json: undefined, text: e.message }));
    req.end(body);
  });
}

async function configStore(h: Home, store: string): Promise<void> {
  mkdirSync(h.home, { recursive: true });
  writeFileSync(join(h.home, 'config.toml'), `[store]\npath = "${store}"\n`);
}

t.test('store disk full: 507s only, reads work, nothing acknowledged lost, ingest resumes by itself; stop cleans up', { skip }, async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const mnt = join(h.dir, 'storefs');
  mountTmpfs(t, mnt, '6m');
  const store = join(mnt, 'hub.db');
  await configStore(h, store);
  await serve(h);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => agent.destroy());

  const acked: string[] = [];
  const ballast = fill(mnt, 400 * 1024);
  const statuses = new Map<number, number>();
  const plain: string[] = [];
  let n = 0;
  let full = 0;
  // Write until the disk is full, then keep writing: every failure must be a 507 in the envelope.
  for (let round = 0; round < 200 && full < 120; round++) {
    const batch = await Promise.all(Array.from({ length: 8 }, () => post(agent, h.port, rec(++n, 2000))));
    for (const r of batch) {
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 201 && r.json?.id) acked.push(r.json.id);
      else if (r.status === 507) {
        full++;
        t.equal(r.json?.code, 'STORAGE_FULL');
        if (full === 1) t.match(r.json?.message, new RegExp(`the disk holding ${store.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is full`));
      } else plain.push(`${r.status} ${r.text.slice(0, 80)}`);
    }
  }
  t.ok(full >= 100, `${full} writes refused with 507 once full (${JSON.stringify([...statuses])})`);
  t.ok(acked.length > 0, `${acked.length} writes acknowledged before the disk filled`);
  t.same(plain, [], 'no response other than 201 or 507: no plain-text 500');

  t.equal((await http(h.port, 'GET', '/health')).status, 200, '/health answers while full');
  const some = await http(h.port, 'GET', `/v1/records/${acked[acked.length - 1]}`);
  t.equal(some.status, 200, 'reads keep working');

  rmSync(ballast);
  const resumed = await post(agent, h.port, rec(++n));
  t.equal(resumed.status, 201, 'ingest resumes once space frees, without a restart');
  acked.push(resumed.json!.id!);
  for (const id of acked) {
    const r = await http(h.port, 'GET', `/v1/records/${id}`);
    if (r.status !== 200) t.fail(`acknowledged record ${id} is missing`);
  }
  t.pass(`all ${acked.length} acknowledged records are there`);

  // spl stop with the disk full again: the checkpoint may fail, but stop must not leave the PID file and socket.
  fill(mnt);
  agent.destroy();
  const s = await stop(h);
  t.equal(s.code, 0, s.stderr);
  t.match(s.stdout, /stopped spl/);
  t.notOk(existsSync(join(h.home, 'run', 'spl.pid')), 'PID file removed');
  t.notOk(existsSync(join(h.home, 'run', 'spl.sock')), 'socket removed');
});

t.test('log disk full: requests, token creation and reload all work; dropped lines are counted and reported', { skip }, async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const logs = join(h.home, 'logs');
  mountTmpfs(t, logs, '256k');
  const ballast = fill(logs);
  const pid = await serve(h);
  t.teardown(() => stop(h));

  for (let i = 0; i < 50; i++) {
    const r = await postJson(h.port, '/v1/records', JSON.parse(rec(10_000 + i)));
    if (r.status !== 201) t.fail(`write ${i}: ${r.status} ${r.text}`);
  }
  t.pass('50 writes acknowledged with the log disk full');
  const token = await postJson(h.port, '/v1/tokens', { name: 'ci' });
  t.equal(token.status, 201, 'token created');
  t.match(token.body, { token: /^spl_/ }, 'and its secret returned');
  const reload = await runSpl(['reload'], h.env);
  t.equal(reload.code, 0, `spl reload works with the log disk full: ${reload.stderr}`);
  process.kill(pid, 0); // still alive
  const second = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.equal(second.code, 1);
  t.match(second.stderr, /already running/, 'a start-up error still reaches the terminal');

  const health = await http(h.port, 'GET', '/health');
  t.match(health.body.log, { writing: false, last_error: 'ENOSPC' });
  t.ok(health.body.log.dropped_lines > 0, `${health.body.log.dropped_lines} dropped lines counted`);
  const doctor = JSON.parse((await runSpl(['doctor', '-o', 'json'], h.env)).stdout);
  t.match(doctor.checks.find((c: { id: string }) => c.id === 'health'), { status: 'warn', summary: /log lines? could not be written .*ENOSPC.*still failing/ });

  rmSync(ballast);
  await postJson(h.port, '/v1/records', JSON.parse(rec(20_000)));
  await runSpl(['reload'], h.env);
  t.match(readFileSync(join(logs, 'spl.log'), 'utf8'), /\d+ log lines were dropped between \S+ and \S+: .*spl\.log could not be written \(ENOSPC\)/, 'once space is back, the log says what it missed');
  const after = (await http(h.port, 'GET', '/health')).body;
  t.match(after.log, { writing: true });
  t.ok(after.records >= 51, `every acknowledged write is in the store (${after.records} records)`);
});

t.test('a read-only store is refused at start-up with the reason and a fix', { skip }, async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const mnt = join(h.dir, 'rofs');
  mountTmpfs(t, mnt, '8m');
  await configStore(h, join(mnt, 'hub.db'));
  await serve(h);
  await postJson(h.port, '/v1/records', JSON.parse(rec(1)));
  await stop(h);
  execFileSync('mount', ['-o', 'remount,ro', mnt]);
  const r = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.equal(r.code, 2);
  t.match(r.stderr, /^spl: the store .*rofs\/hub\.db cannot be written: .*read-only filesystem; spl will not serve a store it cannot write\nfix: .+\n$/);
  t.notOk(existsSync(join(h.home, 'run', 'spl.pid')), 'no PID file left');
  const status = await runSpl(['status'], h.env);
  t.equal(status.code, 3, 'nothing serves it');
  const doctor = JSON.parse((await runSpl(['doctor', '-o', 'json'], h.env)).stdout);
  t.match(doctor.checks.find((c: { id: string }) => c.id === 'store'), { status: 'fail', summary: /cannot be written: .*read-only filesystem/, fix: /remount/ }, 'doctor says what spl serve will refuse');
});

t.test('a read-only home, and a home or store another user owns: exit 2, one line and a fix', { skip }, async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const ro = join(h.dir, 'rohome');
  mountTmpfs(t, ro, '1m');
  execFileSync('mount', ['-o', 'remount,ro', ro]);
  const r = await runSpl(['serve', '--port', String(h.port)], { ...h.env, SYNCROPEL_HOME: join(ro, '.syncro') });
  t.equal(r.code, 2);
  t.match(r.stderr, /^spl: .*rohome is on a read-only filesystem, so .*rohome\/\.syncro cannot be used as the home\nfix: .+\n$/);

  // As an unprivileged user (root may write anywhere): a home it does not own, and a store it may not write.
  const { chmodSync, chownSync } = await import('node:fs');
  chmodSync(h.dir, 0o755);
  const env = { ...h.env, HOME: h.dir };
  // `env -u NODE_OPTIONS`: the test runner injects its hooks into every child, and they would write its files as that user.
  const asNobody = (args: string[], home: string) => runSpl(args, { ...env, SYNCROPEL_HOME: home }, {}, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', '-u', 'NODE_OPTIONS']);
  const rootsHome = join(h.dir, 'roots-home');
  mkdirSync(rootsHome, { mode: 0o755 });
  const denied = await asNobody(['init'], rootsHome);
  t.equal(denied.code, 2, denied.stderr);
  t.match(denied.stderr, /^spl: .*roots-home is not writable by nobody, so .*roots-home cannot be used as the home\nfix: .+\n$/);

  const nobodys = join(h.dir, 'nobody');
  mkdirSync(nobodys, { mode: 0o700 });
  chownSync(nobodys, 65534, 65534);
  const nobodysHome = join(nobodys, 'nobodys-home');
  const made = await asNobody(['init'], nobodysHome);
  t.equal(made.code, 0, made.stderr);
  chmodSync(join(nobodysHome, 'hub.db'), 0o400);
  const readonly = await asNobody(['serve', '--port', String(h.port), '--insecure-localhost'], nobodysHome);
  t.equal(readonly.code, 2, readonly.stderr);
  t.match(readonly.stderr, /^spl: the store .*nobodys-home\/hub\.db cannot be written: .*hub\.db is not writable by uid 65534 \(owner this user, mode 0400\); spl will not serve a store it cannot write\nfix: chmod 600 .*hub\.db\n$/);
});
