import t from 'tap';
import { AuthGuard, peerAddress, type AuthGuardOptions } from '../../lib/http/auth-guard.js';
import { createLogger } from '../../lib/instance/logger.js';

/** A guard on a hand-moved clock, logging through the real logger into an array of parsed lines. */
function setup(o: AuthGuardOptions = {}) {
  let clock = Date.parse('2026-03-01T10:00:00.000Z');
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'debug', extra: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
  const guard = new AuthGuard({ now: () => clock, logger: log.root, ...o });
  return {
    guard,
    lines,
    auth: () => lines.filter((l) => String(l.msg).startsWith('AUTH FAILED')),
    advance: (ms: number) => (clock += ms),
    now: () => clock,
  };
}

t.test('the 10th failure within a minute locks the peer out for a minute; other peers are not affected', async (t) => {
  const { guard, advance } = setup();
  for (let i = 1; i <= 9; i++) {
    t.same(guard.fail('127.0.0.1', 'unknown_token'), { locked: false }, `failure ${i} does not lock`);
    t.same(guard.check('127.0.0.1'), { locked: false });
    advance(1000);
  }
  const v = guard.fail('127.0.0.1', 'unknown_token');
  t.match(v, { locked: true, retryAfterSecs: 60 });
  const c = guard.check('127.0.0.1');
  t.match(c, { locked: true, retryAfterSecs: 60 });
  t.same(guard.check('127.0.0.2'), { locked: false }, 'another peer is not locked out');
  advance(30_500);
  t.match(guard.check('127.0.0.1'), { locked: true, retryAfterSecs: 30 }, 'Retry-After counts down (rounded up)');
  advance(29_499);
  t.match(guard.check('127.0.0.1'), { locked: true, retryAfterSecs: 1 });
  advance(1);
  t.same(guard.check('127.0.0.1'), { locked: false }, 'the lockout ends on time');
});

t.test('failures spread wider than the window never lock out', async (t) => {
  const { guard, advance } = setup();
  for (let i = 0; i < 50; i++) {
    t.same(guard.fail('127.0.0.1', 'unknown_token'), { locked: false });
    advance(7_000); // 9 per minute at most
  }
  t.equal(guard.tally().lockouts_total, 0);
  t.equal(guard.tally().failures_total, 50);
});

t.test('the window slides: ten failures within any 60 s lock out, whatever minute they started in', async (t) => {
  const { guard, advance } = setup();
  t.same(guard.fail('127.0.0.1', 'unknown_token'), { locked: false }, 'one at 0 s');
  advance(52_000);
  for (let i = 0; i < 8; i++) {
    t.same(guard.fail('127.0.0.1', 'unknown_token'), { locked: false }, `at ${52 + i} s`);
    advance(1_000);
  }
  advance(1_000);
  t.same(guard.fail('127.0.0.1', 'unknown_token'), { locked: false }, 'at 61 s: ten failures, but over 61 s');
  advance(1_000);
  t.match(guard.fail('127.0.0.1', 'unknown_token'), { locked: true }, 'at 62 s: the last ten came within 10 s');
});

t.test('each lockout in a row doubles, up to the cap; a quiet peer starts afresh', async (t) => {
  const { guard, advance } = setup({ lockoutMs: 60_000, maxLockoutMs: 300_000 });
  const burst = (): number => {
    let v = guard.fail('::1', 'unknown_token');
    for (let i = 1; i < 10; i++) v = guard.fail('::1', 'unknown_token');
    t.equal(v.locked, true);
    return v.locked ? v.retryAfterSecs : 0;
  };
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    seen.push(burst());
    advance(seen[seen.length - 1]! * 1000);
    guard.tick();
  }
  t.same(seen, [60, 120, 240, 300, 300], 'doubling, capped at max_lockout');
  t.equal(guard.tally().lockouts_total, 5);
  advance(300_000); // quiet for the cap after the last failure
  guard.tick();
  t.equal(guard.size, 0, 'forgotten');
  t.equal(burst(), 60, 'back to the first lockout');
});

t.test('50 tries and 300 more while locked out: one WARN, a summary per interval, one closing line', async (t) => {
  const { guard, auth, advance } = setup();
  for (let i = 0; i < 50; i++) {
    if (!guard.check('10.0.0.7').locked) guard.fail('10.0.0.7', 'unknown_token');
    advance(10);
  }
  for (let i = 0; i < 200; i++) guard.check('10.0.0.7');
  guard.tick();
  let lines = auth();
  t.equal(lines.length, 1, 'one line so far');
  t.match(lines[0], { level: 'WARN', target: 'syncropel_http::auth', peer: '10.0.0.7', count: 10, reason: 'unknown_token' });
  t.match(String(lines[0]!.msg), /^AUTH FAILED peer=10\.0\.0\.7 count=10 blocked=0: locked out for 60s until 2026-03-01T10:01:00\.\d{3}Z after 10 failures within 60s/);

  advance(30_000);
  for (let i = 0; i < 100; i++) guard.check('10.0.0.7');
  guard.tick();
  t.equal(auth().length, 1, 'no summary within the interval');

  advance(30_000); // the lockout is over; these are failures again
  for (let i = 0; i < 5; i++) guard.fail('10.0.0.7', 'malformed_header');
  lines = auth();
  t.equal(lines.length, 2, 'a summary once the interval has passed');
  t.match(String(lines[1]!.msg), /^AUTH FAILED peer=10\.0\.0\.7 count=\d+ blocked=\d+: burst goes on/);
  t.equal(lines[1]!.count, 11, 'the burst count: 10 before the lockout, 1 since (the summary comes at the first)');

  advance(59_999);
  guard.tick();
  t.equal(auth().length, 2, 'not over until a quiet window has passed');
  advance(1);
  guard.tick();
  lines = auth();
  t.equal(lines.length, 3);
  t.match(lines[2], { peer: '10.0.0.7', count: 15, blocked: 340, ended: true });
  t.match(String(lines[2]!.msg), /burst over: 15 failures and 340 requests refused while locked out/);
  guard.tick();
  advance(600_000);
  guard.tick();
  t.equal(auth().length, 3, 'nothing more once it is over');
});

t.test('a few failures below the threshold: no lockout, one line when the burst is over', async (t) => {
  const { guard, auth, advance } = setup();
  guard.fail('127.0.0.1', 'unknown_token');
  advance(5_000);
  guard.fail('127.0.0.1', 'unknown_token');
  guard.tick();
  t.equal(auth().length, 0, 'not yet: the burst may still grow into a lockout');
  t.match(guard.tally().recent, [{ peer: '127.0.0.1', failures: 2 }]);
  advance(60_000);
  guard.tick();
  const lines = auth();
  t.equal(lines.length, 1);
  t.match(String(lines[0]!.msg), /^AUTH FAILED peer=127\.0\.0\.1 count=2 blocked=0: burst over: 2 failures .* below the lockout threshold of 10 within 60s$/);
  t.equal(guard.size, 0, 'a peer without lockouts is forgotten once its burst is over');
  t.same(guard.tally().recent, []);
  t.equal(guard.tally().failures_total, 2, 'the total stays');
});

t.test('a new failure after a quiet window closes the old burst before starting the next', async (t) => {
  const { guard, auth, advance } = setup();
  guard.fail('127.0.0.1', 'unknown_token');
  advance(61_000); // no tick in between
  guard.fail('127.0.0.1', 'unknown_token');
  t.equal(auth().length, 1);
  t.match(auth()[0], { count: 1, ended: true });
});

t.test('the peer table is bounded: a client cycling through addresses is forgotten oldest first', async (t) => {
  const { guard, auth, advance } = setup({ maxPeers: 100 });
  for (let i = 0; i < 10_000; i++) guard.fail(`127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'unknown_token');
  t.equal(guard.size, 100);
  t.equal(guard.tally().peers_forgotten, 9_900);
  // The most recent peers are the ones kept.
  for (let i = 0; i < 9; i++) guard.fail('127.0.39.15', 'unknown_token'); // i = 9999, already one failure
  t.equal(guard.check('127.0.39.15').locked, true);
  guard.tick();
  const forgotten = auth().filter((l) => l.peers_forgotten !== undefined);
  t.equal(forgotten.length, 1, 'one line for the forgotten peers');
  t.match(String(forgotten[0]!.msg), /^AUTH FAILED from more than 100 peers: 9900 least recent peers forgotten/);
  advance(1000);
  guard.tick();
  t.equal(auth().filter((l) => l.peers_forgotten !== undefined).length, 1, 'not repeated');
});

t.test('the tally: totals, the locked-out peers with until-when, the last failure', async (t) => {
  const { guard, advance, now } = setup();
  t.match(guard.tally(), { failures_total: 0, lockouts_total: 0, last_failure_at: null, locked_out: [], recent: [] });
  for (let i = 0; i < 12; i++) {
    if (!guard.check('127.0.0.9').locked) guard.fail('127.0.0.9', 'unknown_token');
  }
  guard.fail('127.0.0.3', 'malformed_header');
  advance(1000);
  const tally = guard.tally();
  t.match(tally, {
    failures_total: 11,
    blocked_total: 2,
    lockouts_total: 1,
    last_failure_peer: '127.0.0.3',
    last_failure_at: new Date(now() - 1000).toISOString(),
    locked_out: [{ peer: '127.0.0.9', failures: 10, blocked: 2, strikes: 1, until: new Date(now() - 1000 + 60_000).toISOString() }],
    recent: [{ peer: '127.0.0.3', failures: 1 }],
    limits: { max_failures: 10, window_secs: 60, lockout_secs: 60, max_lockout_secs: 900 },
  });
});

t.test('peer addresses: IPv4-mapped IPv6 is written as IPv4', async (t) => {
  t.equal(peerAddress('::ffff:127.0.0.2'), '127.0.0.2');
  t.equal(peerAddress('::1'), '::1');
  t.equal(peerAddress('127.0.0.1'), '127.0.0.1');
  t.equal(peerAddress(undefined), 'unknown');
});
