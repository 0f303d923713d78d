// The TCP edge under abuse, against a real instance: a peer guessing bearer tokens is locked out (429, one
// AUTH FAILED line, visible in spl doctor) while other peers go on; slow, oversized and malformed requests are
// cut off with the API's JSON error envelope.

import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { httpVia, makeHome, runSpl, serve, stop, type Home, type HttpResult } from '../helpers/spl.js';

/** One request to the TCP port from a chosen loopback source address (any 127.x.y.z is this host on Linux). */
function from(localAddress: string, port: number, path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpVia({ host: '127.0.0.1', port, localAddress }, 'GET', path, undefined, headers);
}

interface Raw {
  status: number;
  headers: Record<string, string>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  closedAfterMs: number;
}

/**
 * Writes bytes on a bare TCP (or unix) connection — all at once, or (`trickle`) `head` at once and then the
 * rest one byte per `everyMs` — and reads until the server closes it.
 */
function raw(target: { port: number } | { path: string }, data: string, o: { trickle?: boolean; everyMs?: number; localAddress?: string; head?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const s = 'port' in target ? connect({ host: '127.0.0.1', port: target.port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) }) : connect({ path: target.path });
    const started = Date.now();
    let got = '';
    let timer: NodeJS.Timeout | undefined;
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    s.on('close', () => {
      clearInterval(timer);
      const [head = '', ...rest] = got.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      let body: unknown;
      try {
        body = JSON.parse(rest.join('\r\n\r\n'));
      } catch {
        body = rest.join('\r\n\r\n');
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, closedAfterMs: Date.now() - started });
    });
    if (!o.trickle) {
      s.write(data);
      return;
    }
    if (o.head) s.write(o.head);
    let i = 0;
    const next = (): void => {
      if (i < data.length && s.writable) s.write(data[i++]!);
    };
    next(); // the first byte at once: the clock runs from the start of the request
    timer = setInterval(next, o.everyMs ?? 1000);
  });
}

/** A request whose headers never end at 1 byte/s (long enough to outlast any limit under test). */
const TRICKLED = `GET /v1/threads HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'z'.repeat(200)}\r\n\r\n`;

async function withToken(t: Test, h: Home): Promise<string> {
  const created = await runSpl(['token', 'create', '--name', 'ci', '-o', 'json'], h.env);
  t.equal(created.code, 0, created.stderr);
  return JSON.parse(created.stdout).token as string;
}

t.test('a peer guessing tokens is locked out with 429 and one AUTH FAILED line; other peers, /health and the socket go on', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h, [], { auth: true });
  t.teardown(() => stop(h));
  const token = await withToken(t, h);

  // Meanwhile, from yet another address, a client trickling its headers at 1 byte/s against the default 10 s limit.
  const trickle = raw({ port: h.port }, TRICKLED, { trickle: true, localAddress: '127.0.0.3' });

  const guesses = Array.from({ length: 50 }, () => `spl_${randomBytes(32).toString('base64url')}`);
  const statuses: number[] = [];
  let first429: HttpResult | undefined;
  const started = Date.now();
  let onsetMs = 0;
  for (const guess of guesses) {
    const r = await from('127.0.0.1', h.port, '/v1/threads', { authorization: `Bearer ${guess}` });
    statuses.push(r.status);
    if (r.status === 429 && !first429) {
      first429 = r;
      onsetMs = Date.now() - started;
    }
  }
  t.same(statuses.slice(0, 10), Array(10).fill(401), 'the first 10 wrong tokens are checked and refused');
  t.same(statuses.slice(10), Array(40).fill(429), 'then every failing request is answered 429');
  t.comment(`429 from request ${statuses.indexOf(429) + 1} of 50, ${onsetMs} ms after the first`);
  t.ok(first429);
  const retryAfter = Number(first429!.headers['retry-after']);
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${first429!.headers['retry-after']}`);
  t.match(first429!.body, { object: 'error', type: 'rate_limit_error', code: 'RATE_LIMITED', message: /^too many failed credentials from 127\.0\.0\.1: locked out until \S+Z; retry in \d+s/ });

  const validLocked = await from('127.0.0.1', h.port, '/v1/threads', { authorization: `Bearer ${token}` });
  t.equal(validLocked.status, 200, 'a valid token from the locked-out peer still works: local clients share 127.0.0.1');
  t.equal((await from('127.0.0.1', h.port, '/v1/threads', { authorization: 'Basic Zm9vOmJhcg==' })).status, 429, 'any credentials');
  const forwarded = await from('127.0.0.1', h.port, '/v1/threads', { authorization: 'Bearer spl_wrong', 'x-forwarded-for': '127.0.0.9', 'x-real-ip': '127.0.0.9' });
  t.equal(forwarded.status, 429, 'forwarding headers do not change who the peer is');
  t.match((await from('127.0.0.1', h.port, '/v1/threads')).body, { code: 'AUTH_REQUIRED' }, 'no credentials: still the plain 401');
  t.equal((await from('127.0.0.1', h.port, '/health')).status, 200, '/health is never throttled');

  const other = await from('127.0.0.2', h.port, '/v1/threads', { authorization: `Bearer ${token}` });
  t.equal(other.status, 200, 'a valid token from another peer is unaffected');
  t.equal((await from('127.0.0.2', h.port, '/v1/threads', { authorization: 'Bearer spl_wrong' })).status, 401, 'and its own failures are its own');

  const viaSocket = await httpVia({ socketPath: join(h.home, 'run', 'spl.sock') }, 'GET', '/v1/instance');
  t.equal(viaSocket.status, 200, 'the unix socket is never throttled');
  t.match(viaSocket.body.auth, {
    failures_total: 11,
    lockouts_total: 1,
    last_failure_peer: '127.0.0.2',
    locked_out: [{ peer: '127.0.0.1', failures: 10, blocked: 42, strikes: 1, until: /Z$/ }],
    recent: [{ peer: '127.0.0.2', failures: 1 }],
  });

  const log = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8');
  const lines = log.split('\n').filter((l) => l.includes('AUTH FAILED'));
  t.equal(lines.length, 1, 'one line for the whole burst');
  const line = JSON.parse(lines[0]!);
  t.match(line, { level: 'WARN', target: 'syncropel_http::auth', peer: '127.0.0.1', count: 10 });
  t.match(line.msg, /^AUTH FAILED peer=127\.0\.0\.1 count=10 blocked=0: locked out for 60s until \S+ after 10 failures within 60s/);
  for (const secret of [...guesses, token]) {
    if (log.includes(secret) || log.includes(secret.slice(0, 12))) t.fail(`the log holds (a prefix of) a presented secret: ${secret.slice(0, 8)}…`);
  }
  t.notMatch(log, /spl_[A-Za-z0-9_-]{4,}/, 'no secret, not even a prefix');

  const doctor = await runSpl(['doctor', '--json', '--port', String(h.port)], h.env);
  const row = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string; summary: string; fix?: string }> }).checks.find((c) => c.id === 'auth');
  t.match(row, {
    status: 'warn',
    summary: /^1 TCP peer locked out after failed bearer tokens: 127\.0\.0\.1 \(10 failures, 42 requests refused, until \S+Z\); 11 failures since start/,
    fix: new RegExp(`^grep 'AUTH FAILED' ${join(h.home, 'logs', 'spl.log').replace(/[.]/g, '\\.')}`),
  });
  t.ok(doctor.code !== 0, 'doctor exits non-zero while a peer is locked out');

  const slow = await trickle;
  t.comment(`a client sending its headers at 1 byte/s was cut after ${slow.closedAfterMs} ms (headers limit 10 s)`);
  t.ok(slow.closedAfterMs < 20_000, 'within twice the headers limit');
  t.ok(slow.closedAfterMs >= 9_500, 'not before the limit');
  t.equal(slow.status, 408);
  t.match(slow.body, { object: 'error', code: 'REQUEST_TIMEOUT', message: /headers did not arrive within 10s/ });
});

t.test('slow, oversized and malformed requests get the JSON envelope and Connection: close', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  t.equal((await runSpl(['init'], h.env)).code, 0);
  const config = join(h.home, 'config.toml');
  const initial = readFileSync(config, 'utf8');
  writeFileSync(config, initial.replace(/^port = \d+$/m, (m) => `${m}\nheaders_timeout_secs = 20\nrequest_timeout_secs = 5`));
  const refused = await runSpl(['serve', '--port', String(h.port)], h.env);
  t.equal(refused.code, 2, 'limits that contradict each other are refused');
  t.match(refused.stderr, /server\.request_timeout_secs \(5\) must be at least server\.headers_timeout_secs \(20\)/);
  writeFileSync(config, initial.replace(/^port = \d+$/m, (m) => `${m}\nheaders_timeout_secs = 2\nrequest_timeout_secs = 3`));
  await serve(h); // TCP without tokens: what is under test here comes before authentication
  t.teardown(() => stop(h));

  const garbage = await raw({ port: h.port }, 'HELLO THERE\r\n\r\n');
  t.equal(garbage.status, 400);
  t.equal(garbage.headers.connection, 'close');
  t.equal(garbage.headers['content-type'], 'application/json; charset=utf-8');
  t.match(garbage.body, { object: 'error', type: 'invalid_request_error', code: 'INVALID_REQUEST', message: /^malformed HTTP request \(HPE_INVALID_METHOD/ });

  const badHeader = await raw({ port: h.port }, 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n');
  t.equal(badHeader.status, 400);
  t.match(badHeader.body, { code: 'INVALID_REQUEST', message: /malformed HTTP request \(HPE_INVALID_HEADER_TOKEN/ });

  const big = await raw({ port: h.port }, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
  t.equal(big.status, 431);
  t.equal(big.headers.connection, 'close');
  t.match(big.body, { object: 'error', code: 'HEADERS_TOO_LARGE', message: /larger than the 16 KiB allowed/ });

  const socketGarbage = await raw({ path: join(h.home, 'run', 'spl.sock') }, 'NOT HTTP\r\n\r\n');
  t.match(socketGarbage, { status: 400, body: { code: 'INVALID_REQUEST' } }, 'the unix socket answers alike');

  const slow = await raw({ port: h.port }, TRICKLED, { trickle: true });
  t.comment(`a client sending its headers at 1 byte/s was cut after ${slow.closedAfterMs} ms (headers limit 2 s)`);
  t.ok(slow.closedAfterMs >= 1_900 && slow.closedAfterMs < 4_000, `cut within twice the limit (${slow.closedAfterMs} ms)`);
  t.equal(slow.status, 408);
  t.equal(slow.headers.connection, 'close');
  t.match(slow.body, { object: 'error', type: 'invalid_request_error', code: 'REQUEST_TIMEOUT', message: 'the request headers did not arrive within 2s; the connection is closed', fix: /headers_timeout_secs/ });

  const idle = await raw({ port: h.port }, '', { trickle: true });
  t.ok(idle.closedAfterMs < 4_000, `a connection that sends nothing is cut too (${idle.closedAfterMs} ms)`);

  const body = await raw({ port: h.port }, '['.repeat(400), { trickle: true, everyMs: 500, head: 'POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n' });
  t.comment(`a body sent at 2 bytes/s was cut after ${body.closedAfterMs} ms (request limit 3 s)`);
  t.ok(body.closedAfterMs >= 2_900 && body.closedAfterMs < 6_000, 'within twice the request limit');
  t.match(body, { status: 408, headers: { connection: 'close' }, body: { code: 'REQUEST_TIMEOUT', message: 'the request was not complete within 3s; the connection is closed' } });

  const ok = await httpVia({ host: '127.0.0.1', port: h.port }, 'GET', '/v1/threads');
  t.equal(ok.status, 200, 'well-behaved requests are served as before');
  const log = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8');
  t.notMatch(log, /"level":"ERROR"/, 'a client cut off is not an internal error');
});
