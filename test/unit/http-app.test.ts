// HTTP behaviour through the in-process harness (test/helpers/app.ts): the real app, store and engine, real
// listeners, and a clock the test moves, so time-dependent answers are checked exactly instead of waited for.

import t from 'tap';
import type { HealthBody, InstanceInfo, ListBody, TokenInfo } from '../../lib/kernel/wire.js';
import { appHarness } from '../helpers/app.js';

const ALICE = 'did:sync:user:alice';
const THREAD = 'th_' + 'b'.repeat(64);

t.test('/health and /v1/instance report uptime by the injected clock', async (t) => {
  const h = await appHarness();
  t.teardown(() => h.close());
  h.clock.advance(90_500);
  const health = await h.request('GET', '/health');
  t.equal(health.status, 200);
  const hb = health.body as HealthBody;
  t.same({ status: hb.status, uptime_secs: hb.uptime_secs, records: hb.records, instance_did: hb.instance_did }, { status: 'ok', uptime_secs: 90, records: 0, instance_did: 'did:sync:instance:harness' });
  t.notOk('folds' in hb, 'no folds member while every fold is healthy');

  const info = (await h.request('GET', '/v1/instance', { via: 'socket' })).body as InstanceInfo;
  t.equal(info.object, 'instance');
  t.equal(info.uptime_secs, 90);
  t.equal(info.started_at, '2026-01-01T00:00:00.000Z');
  t.equal(info.status, 'running');

  h.phase.set('stopping');
  const draining = await h.request('GET', '/health');
  t.equal(draining.status, 503, 'a stopping instance is not ready');
  t.equal((draining.body as HealthBody).status, 'stopping');
});

t.test('TCP needs a token; the socket is trusted; a token acts only as its actors', async (t) => {
  const h = await appHarness({ adminActor: ALICE });
  t.teardown(() => h.close());
  const bare = await h.request('GET', '/v1/threads');
  t.equal(bare.status, 401, 'TCP without a bearer token is refused');

  const made = await h.request('POST', '/v1/tokens', { via: 'socket', body: { name: 'ci', actor: ALICE } });
  t.equal(made.status, 201);
  const secret = (made.body as { token: string }).token;
  t.match(secret, /^spl_/);
  const auth = { authorization: `Bearer ${secret}` };

  const own = await h.request('POST', '/v1/records', { headers: auth, body: { thread: THREAD, actor: ALICE, act: 'INTEND', body: { text: 'x' } } });
  t.equal(own.status, 201, 'a record in the token\'s own name is accepted');
  const other = await h.request('POST', '/v1/records', { headers: auth, body: { thread: THREAD, actor: 'did:sync:user:mallory', act: 'KNOW', body: {} } });
  t.equal(other.status, 403);
  t.equal((other.body as { code: string }).code, 'DID_CLAIM_DENIED');
  t.equal(h.deps.log.recordCount, 1, 'the refused record was not written');

  const listed = (await h.request('GET', '/v1/tokens', { via: 'socket' })).body as ListBody<TokenInfo>;
  t.same(listed.data.map((x) => [x.name, x.actor, x.revoked_at]), [['ci', ALICE, null]]);
  t.notOk(JSON.stringify(listed).includes(secret), 'the list never carries the secret');
});

t.test('a lockout ends when the injected clock passes it', async (t) => {
  const h = await appHarness();
  t.teardown(() => h.close());
  const wrong = { authorization: 'Bearer spl_' + 'x'.repeat(43) };
  for (let i = 0; i < 10; i++) t.equal((await h.request('GET', '/v1/threads', { headers: wrong })).status, 401);
  const locked = await h.request('GET', '/v1/threads', { headers: wrong });
  t.equal(locked.status, 429, 'the eleventh failure in the window is refused unread');
  t.equal(locked.headers['retry-after'], '60');
  t.ok(h.lines.some((l) => String(l.msg).startsWith('AUTH FAILED')), 'the lockout is logged');
  h.clock.advance(61_000);
  t.equal((await h.request('GET', '/v1/threads', { headers: wrong })).status, 401, 'after the lockout the token is looked at again');
});
