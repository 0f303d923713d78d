// sd_notify from the real `spl serve`, received on a real unix datagram socket that stands in for systemd's
// NOTIFY_SOCKET (the external edge; drills/systemd.sh runs the same against a booted systemd).

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { SPL, http, makeHome, runSpl, type Home } from '../helpers/spl.js';

const unix = createRequire(import.meta.url)('unix-dgram') as typeof import('unix-dgram');

interface Message {
  at: number;
  fields: Record<string, string>;
  raw: string;
}

/** A notify socket in the home's directory, recording every datagram. */
function listen(t: { teardown(fn: () => void): void }, h: Home): { path: string; messages: Message[] } {
  const path = join(h.dir, 'notify.sock');
  const messages: Message[] = [];
  const sock = unix.createSocket('unix_dgram', (buf: Buffer) => {
    const raw = buf.toString('utf8');
    messages.push({ at: Date.now(), raw, fields: Object.fromEntries(raw.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) });
  });
  sock.bind(path);
  t.teardown(() => sock.close());
  return { path, messages };
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function start(h: Home, env: NodeJS.ProcessEnv): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [SPL, 'serve', '--port', String(h.port), '--insecure-localhost'], { env: { ...h.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, out: () => out, exited };
}

const has = (m: Message, key: string, value?: string): boolean => key in m.fields && (value === undefined || m.fields[key] === value);

t.test('start-up, READY=1, STATUS=, watchdog pings, synchronous reload, STOPPING=1', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const n = listen(t, h);
  const run = start(h, { NOTIFY_SOCKET: n.path, WATCHDOG_USEC: '1000000' });
  t.teardown(() => run.child.kill('SIGKILL'));

  const ready = await until('READY=1', () => n.messages.find((m) => has(m, 'READY', '1')));
  const health = await http(h.port, 'GET', '/health');
  t.equal(health.status, 200, 'the instance answers the moment READY=1 arrives');
  const before = n.messages.slice(0, n.messages.indexOf(ready));
  t.ok(before.some((m) => /^starting: opening the store .*quick_check/.test(m.fields.STATUS ?? '')), 'STATUS= names the start-up step');
  t.ok(before.some((m) => has(m, 'EXTEND_TIMEOUT_USEC', '30000000')), 'EXTEND_TIMEOUT_USEC= while starting');
  t.equal(ready.fields.STATUS, `serving 0 records on 127.0.0.1:${h.port} and ${join(h.home, 'run', 'spl.sock')}`, 'STATUS= with records and bind');

  // WATCHDOG_USEC=1s: a ping every 500 ms, from the event loop.
  const since = Date.now();
  await new Promise((r) => setTimeout(r, 2200));
  const pings = n.messages.filter((m) => m.at >= since && has(m, 'WATCHDOG', '1')).length;
  t.ok(pings >= 3 && pings <= 6, `about 4 watchdog pings in 2.2 s at half of WATCHDOG_USEC (got ${pings})`);

  // A stopped event loop sends nothing: that is what lets systemd's watchdog act.
  run.child.kill('SIGSTOP');
  const stoppedAt = Date.now();
  await new Promise((r) => setTimeout(r, 1500));
  const resumedAt = Date.now();
  run.child.kill('SIGCONT');
  t.equal(n.messages.filter((m) => m.at > stoppedAt + 50 && m.at < resumedAt && has(m, 'WATCHDOG')).length, 0, 'no pings while the process is stopped');
  await until('pings after SIGCONT', () => n.messages.some((m) => m.at > resumedAt && has(m, 'WATCHDOG', '1')));
  t.pass('pings resume after SIGCONT');

  // Records move STATUS=.
  await runSpl(['intend', 'notify status'], h.env);
  await until('STATUS= with 1 record', () => n.messages.some((m) => m.fields.STATUS?.startsWith('serving 1 records')), 10_000);
  t.pass('STATUS= follows the record count');

  // Reload: spl reload returns only after the instance applied config.toml; RELOADING=1 … READY=1 around it.
  const config = join(h.home, 'config.toml');
  writeFileSync(config, readFileSync(config, 'utf8').replace(/^level = "info"$/m, 'level = "debug"'));
  const pid = Number(readFileSync(join(h.home, 'run', 'spl.pid'), 'utf8'));
  const reloadFrom = n.messages.length;
  const monoBefore = process.hrtime.bigint() / 1000n;
  const r = await runSpl(['reload', '--pid', String(pid)], h.env);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /reloaded spl \(pid \d+\): log level debug/);
  const after = n.messages.slice(reloadFrom);
  const reloading = after.findIndex((m) => has(m, 'RELOADING', '1'));
  t.ok(reloading >= 0, 'RELOADING=1 sent');
  const mono = BigInt(after[reloading]!.fields.MONOTONIC_USEC ?? '0');
  t.ok(mono >= monoBefore && mono <= process.hrtime.bigint() / 1000n, 'MONOTONIC_USEC= is CLOCK_MONOTONIC at the reload');
  t.ok(after.slice(reloading + 1).some((m) => has(m, 'READY', '1')), 'READY=1 after RELOADING=1');
  await http(h.port, 'GET', '/v1/instance');
  const logged = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8');
  t.match(logged, /"level":"DEBUG"/, 'the new log level applies');

  // A broken config.toml: spl reload refuses it before signalling; a bare SIGHUP keeps the running settings.
  const good = readFileSync(config, 'utf8');
  writeFileSync(config, '[server\nport = ');
  const bad = await runSpl(['reload'], h.env);
  t.equal(bad.code, 2, 'spl reload exits 2 on an invalid config.toml');
  t.match(bad.stderr, /config\.toml is not valid TOML/);
  const hupFrom = n.messages.length;
  run.child.kill('SIGHUP');
  await until('READY=1 after the failed reload', () => n.messages.slice(hupFrom).find((m) => has(m, 'READY', '1')), 10_000);
  const inst = await http(h.port, 'GET', '/v1/instance');
  t.match(inst.body.reloads, { count: 2, ok: false, log_level: 'debug' }, 'the instance reports the failed reload and keeps its level');
  t.match(inst.body.reloads.error, /not valid TOML/);
  t.equal((await http(h.port, 'GET', '/health')).status, 200, 'still serving');
  writeFileSync(config, good.replace(/^level = "debug"$/m, 'level = "warn"'));
  const fixed = await runSpl(['reload', '-o', 'json'], h.env);
  t.equal(fixed.code, 0, fixed.stderr);
  t.match(JSON.parse(fixed.stdout), { reloaded: true, count: 3, log_level: 'warn' });

  // Stop: STOPPING=1, then a clean exit.
  const stopFrom = n.messages.length;
  run.child.kill('SIGTERM');
  t.equal(await run.exited, 0, 'exits 0');
  t.ok(n.messages.slice(stopFrom).some((m) => has(m, 'STOPPING', '1')), 'STOPPING=1 sent');
  t.ok(
    n.messages.slice(stopFrom).some((m) => has(m, 'EXTEND_TIMEOUT_USEC', '30000000') && m.fields.STATUS === 'stopping: checkpointing the WAL'),
    'EXTEND_TIMEOUT_USEC= with each shutdown step (a long stop is not cut by TimeoutStopSec)',
  );
  t.match(run.out(), /^<6>syncropel_instance: instance ready /m, 'stdout (not a terminal, not the journal) has <N>-prefixed lines');
  t.match(run.out(), /^<4>syncropel_instance: SIGHUP: configuration not reloaded/m, 'the failed reload is a WARN (<4>)');
});

t.test('WATCHDOG_PID naming another process: no pings; an abstract NOTIFY_SOCKET works; a bad one is a WARN', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const n = listen(t, h);
  const run = start(h, { NOTIFY_SOCKET: n.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' });
  t.teardown(() => run.child.kill('SIGKILL'));
  await until('READY=1', () => n.messages.find((m) => has(m, 'READY', '1')));
  await new Promise((r) => setTimeout(r, 600));
  t.equal(n.messages.filter((m) => has(m, 'WATCHDOG')).length, 0, 'the watchdog belongs to pid 1, not to us');
  run.child.kill('SIGTERM');
  t.equal(await run.exited, 0);

  // An abstract NOTIFY_SOCKET ("@name", as sd_notify(3) allows): python3 binds it, standing in for systemd.
  const name = `spl-test-notify-${process.pid}-${h.port}`;
  const peer = spawn('python3', ['-u', '-c', [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind("\\0${name}")`,
    'print("bound", flush=True)',
    'while True: print(s.recv(4096).decode().replace("\\n", "|"), flush=True)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => peer.kill('SIGKILL'));
  let got = '';
  peer.stdout!.on('data', (d) => (got += d));
  await until('the abstract socket is bound', () => got.includes('bound'));
  const abs = start(h, { NOTIFY_SOCKET: `@${name}` });
  t.teardown(() => abs.child.kill('SIGKILL'));
  await until('READY=1 on the abstract socket', () => /^READY=1\|STATUS=serving 0 records/m.test(got));
  t.pass('READY=1 with STATUS= arrives on @name');
  t.match(got, /^EXTEND_TIMEOUT_USEC=30000000\|STATUS=starting: /m, 'start-up extensions too');
  abs.child.kill('SIGTERM');
  t.equal(await abs.exited, 0);
  await until('STOPPING=1 on the abstract socket', () => /^STOPPING=1\|/m.test(got));
  t.pass('STOPPING=1 on @name');

  // A NOTIFY_SOCKET that is neither: a WARN, and the instance serves anyway.
  const odd = start(h, { NOTIFY_SOCKET: 'relative/notify.sock' });
  t.teardown(() => odd.child.kill('SIGKILL'));
  await until('instance ready', () => odd.out().includes('instance ready'));
  t.match(odd.out(), /<4>syncropel_systemd: NOTIFY_SOCKET relative\/notify\.sock is neither an absolute path nor an abstract name/);
  odd.child.kill('SIGTERM');
  t.equal(await odd.exited, 0);
});

t.test('a SIGHUP during start-up does not end the process', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const n = listen(t, h);
  const run = start(h, { NOTIFY_SOCKET: n.path });
  t.teardown(() => run.child.kill('SIGKILL'));
  await until('the first start-up STATUS=', () => n.messages.some((m) => m.fields.STATUS?.startsWith('starting: ')));
  run.child.kill('SIGHUP');
  await until('READY=1', () => n.messages.find((m) => has(m, 'READY', '1')));
  t.equal((await http(h.port, 'GET', '/health')).status, 200, 'serving');
  run.child.kill('SIGTERM');
  t.equal(await run.exited, 0);
});

t.test('a failed start-up reports STATUS= and exits non-zero without READY=1', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const n = listen(t, h);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(h.port, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const run = start(h, { NOTIFY_SOCKET: n.path });
  t.teardown(() => run.child.kill('SIGKILL'));
  t.equal(await run.exited, 1, 'exit 1');
  t.notOk(n.messages.some((m) => has(m, 'READY')), 'never READY=1');
  t.ok(n.messages.some((m) => /^start-up failed: Address already in use/.test(m.fields.STATUS ?? '')), 'STATUS= says why');
});
