// The runbook's "Instance lifecycle" section, as written, against the real daemon in a temporary home.

import t from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeHome, serve, stop, http, runSpl, freePort, SPL } from '../helpers/spl.js';

t.test('serve, status, /health, stop: files at the runbook paths with tight modes', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pid = await serve(h);
  const run = join(h.home, 'run');
  t.equal(readFileSync(join(run, 'spl.pid'), 'utf8').trim(), String(pid));
  t.ok(statSync(join(run, 'spl.sock')).isSocket());
  t.equal(statSync(join(run, 'spl.sock')).mode & 0o777, 0o600, 'socket 0600');
  t.equal(statSync(run).mode & 0o777, 0o700, 'run/ 0700');
  t.equal(statSync(join(h.home, 'keys', 'instance.key')).mode & 0o777, 0o600, 'instance key 0600');
  t.equal(statSync(join(h.home, 'hub.db')).mode & 0o777, 0o600, 'store 0600');
  t.ok(existsSync(join(h.home, 'config.toml')), 'config.toml written on first start');
  t.ok(existsSync(join(h.dir, '.syncro-data', 'tasks')), '~/.syncro-data/tasks exists for the backup script');
  t.ok(existsSync(join(h.home, 'logs', 'spl.log')));

  const st = await runSpl(['status'], h.env);
  t.equal(st.code, 0);
  t.match(st.stdout, /running: ok/);
  t.match(st.stdout, /version\s+0\.\d+\.\d+/);
  t.match(st.stdout, new RegExp(`pid\\s+${pid}`));
  t.match(st.stdout, /records\s+0/);
  const js = JSON.parse((await runSpl(['status', '-o', 'json'], h.env)).stdout);
  t.equal(js.pid, pid);
  t.equal(js.bind, `127.0.0.1:${h.port}`);
  t.equal(js.socket, join(run, 'spl.sock'));
  t.equal(js.store, join(h.home, 'hub.db'));
  // The memory report the runbook asks for when memory grows: RSS, heap, each fold's size.
  t.match(js.memory, { rss_bytes: Number, heap_used_bytes: Number, heap_total_bytes: Number, fold_entries: { trust: 0, tasks: 0, engine_config: 0 } });
  t.notOk('thread_state' in js.memory.fold_entries, 'thread state is derived on demand, not held per thread');
  t.ok(js.memory.rss_bytes > js.memory.heap_used_bytes && js.memory.heap_used_bytes > 0, 'RSS covers the heap');
  t.match(st.stdout, /memory\s+rss \d+\.\d MiB, heap \d+\.\d MiB/);

  const health = await http(h.port, 'GET', '/health');
  t.equal(health.status, 200);
  t.equal(health.body.status, 'ok');
  t.match(health.body.version, /^\d+\.\d+\.\d+/);
  t.equal(health.body.records, 0);
  t.match(health.body.instance_did, /^did:sync:instance:[0-9a-f]{16}$/);

  const ver = await runSpl(['version'], h.env);
  t.match(ver.stdout, /^spl \d+\.\d+\.\d+\nstore .*hub\.db: schema 1; this binary understands schema 1\n$/);

  const s = await stop(h);
  t.equal(s.code, 0, s.stderr);
  t.match(s.stdout, new RegExp(`stopped spl \\(pid ${pid}\\)`));
  t.notOk(existsSync(join(run, 'spl.pid')), 'PID file removed');
  t.notOk(existsSync(join(run, 'spl.sock')), 'socket removed');
  t.ok(!existsSync(join(h.home, 'hub.db-wal')) || statSync(join(h.home, 'hub.db-wal')).size === 0, 'WAL checkpointed');
  const logText = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8');
  for (const line of logText.trim().split('\n')) {
    const o = JSON.parse(line);
    t.match(o, { time: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, level: /^(ERROR|WARN|INFO|DEBUG|TRACE)$/, target: /^syncropel_/, msg: String });
  }
  t.match(logText, /shutdown complete/);

  const after = await runSpl(['status'], h.env);
  t.equal(after.code, 3, 'status exits 3 when not running');
  t.match(after.stdout, /not running/);
  const again = await stop(h);
  t.equal(again.code, 3, 'stop on a stopped instance says so');
  t.match(again.stderr, /not running/);
});

t.test('a stale PID file is detected and replaced, never trusted', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await runSpl(['init'], h.env);
  writeFileSync(join(h.home, 'run', 'spl.pid'), '999999\n');
  const st = await runSpl(['status'], h.env);
  t.equal(st.code, 3);
  t.match(st.stdout, /stale PID file/);
  const pid = await serve(h);
  t.not(pid, 999999);
  t.match(readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8'), /"level":"WARN".*stale PID file/);
  await stop(h);
});

t.test('two instances can never share one home', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pid = await serve(h);
  const other = await freePort();
  const second = await runSpl(['serve', '--port', String(other)], h.env);
  t.equal(second.code, 1);
  t.match(second.stderr, `another spl instance (pid ${pid}) is already running on ${h.home}`);
  t.equal(readFileSync(join(h.home, 'run', 'spl.pid'), 'utf8').trim(), String(pid), 'the PID file still names the first instance');
  await stop(h);
});

t.test('port taken: "Address already in use" names the holder', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(h.port, '127.0.0.1', () => r()));
  t.teardown(() => blocker.close());
  const r = await runSpl(['serve', '--port', String(h.port)], h.env);
  t.equal(r.code, 1);
  t.match(r.stderr, `Address already in use: 127.0.0.1:${h.port}`);
  t.match(r.stderr, new RegExp(`pid ${process.pid}`), 'names the process holding the port');
  t.notOk(existsSync(join(h.home, 'run', 'spl.pid')), 'a failed start leaves no PID file');
  t.notOk(existsSync(join(h.home, 'run', 'spl.sock')), 'nor a socket');
});

t.test('spl stop finds an instance whose PID file was lost (through the socket, else the port)', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pid = await serve(h);
  rmSync(join(h.home, 'run', 'spl.pid'));
  const s = await stop(h);
  t.equal(s.code, 0, s.stderr);
  t.match(s.stderr, /found the instance .* through its socket/);
  t.match(s.stdout, `stopped spl (pid ${pid})`);

  const pid2 = await serve(h);
  rmSync(join(h.home, 'run', 'spl.pid'));
  rmSync(join(h.home, 'run', 'spl.sock'));
  const s2 = await stop(h);
  t.equal(s2.code, 0, s2.stderr);
  t.match(s2.stderr, /through its port/);
  t.match(s2.stdout, `stopped spl (pid ${pid2})`);
  const health = await http(h.port, 'GET', '/health').catch((e: Error) => e);
  t.ok(health instanceof Error, 'the port is free again');
});

t.test('restart keeps every record; foreground mode under INVOCATION_ID', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  const w = await runSpl(['intend', 'Ship v2'], h.env);
  t.equal(w.code, 0, w.stderr);
  const r = await runSpl(['restart', '--port', String(h.port)], h.env);
  t.equal(r.code, 0, r.stderr);
  const health = await http(h.port, 'GET', '/health');
  t.equal(health.body.records, 1);
  await stop(h);

  // Started by systemd (INVOCATION_ID set) spl serve stays in the foreground; SIGTERM stops it cleanly.
  const child = spawn(process.execPath, [SPL, 'serve', '--port', String(h.port)], { env: { ...h.env, INVOCATION_ID: 'test' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  while (!out.includes('instance ready')) await new Promise((res) => setTimeout(res, 50));
  t.equal(readFileSync(join(h.home, 'run', 'spl.pid'), 'utf8').trim(), String(child.pid), 'the foreground process is the instance');
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 after a graceful SIGTERM');
  t.notOk(existsSync(join(h.home, 'run', 'spl.pid')));
});

/** stdout of a command ('' when it fails, as pgrep does when it finds nothing). */
function runCmd(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, (err, stdout) => resolve(err ? '' : stdout)));
}

t.test('an instance whose launching spl serve is killed while it starts keeps serving, and stops cleanly', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.equal((await runSpl(['intend', 'Ship v2'], h.env)).code, 0);
  await stop(h);
  // The launcher checks the store and waits for the instance; killed (an impatient Ctrl-C, a lost terminal) before
  // the instance is ready, it leaves the instance with a closed channel to report on.
  const launcher = spawn(process.execPath, [SPL, 'serve', '--port', String(h.port), '--insecure-localhost'], { env: h.env, stdio: 'ignore' });
  let child = '';
  for (let i = 0; i < 500 && child === ''; i++) {
    child = (await runCmd('pgrep', ['-P', String(launcher.pid)])).trim();
    if (child === '') await new Promise((res) => setTimeout(res, 10));
  }
  t.match(child, /^\d+$/, 'the instance was forked');
  launcher.kill('SIGKILL');
  let health = await http(h.port, 'GET', '/health').catch(() => ({ status: 0, body: {} as { records?: number } }));
  for (let i = 0; i < 300 && health.status !== 200; i++) {
    await new Promise((res) => setTimeout(res, 50));
    health = await http(h.port, 'GET', '/health').catch(() => ({ status: 0, body: {} }));
  }
  t.equal(health.status, 200, 'it serves');
  t.equal(health.body.records, 1);
  const stopped = await stop(h);
  t.equal(stopped.code, 0, `spl stop: ${stopped.stderr}`);
  t.match(stopped.stdout, new RegExp(`stopped spl \\(pid ${child}\\)`), 'it was still running when stopped');
  const log = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8');
  t.notMatch(log, /unexpected error/, 'it did not exit on the closed channel');
});
