// Security at the HTTP edge, probed as an attacker holding one low-privilege token: every route in every
// case and encoding variant is checked against the resource of the route that matched; records and tokens
// are written only as the DIDs the caller's token speaks for; a bind beyond loopback needs TCP auth.

import t from 'tap';
import pino from 'pino';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp, routeTables } from '../../lib/http/app.js';
import type { ApiDeps } from '../../lib/http/context.js';
import type { RouteSpec } from '../../lib/http/route.js';
import { adminHome, makeHome, serve, stop, runSpl, http, httpVia } from '../helpers/spl.js';

const ADMIN = 'did:sync:user:admin';
const BOB = 'did:sync:user:bob';
const ROOT = 'did:sync:user:root';
const THREAD = 'th_' + 'b'.repeat(64);


/** The route table as the app registers it. Building the app only registers routes; nothing here is served. */
function routeTable(): readonly RouteSpec[] {
  const app = createApp({ logger: pino({ level: 'silent' }), bodyLimit: 1024 } as unknown as ApiDeps);
  return routeTables.get(app)!;
}

function mixedCase(path: string): string {
  let upper = false;
  return path.replace(/[a-z]/g, (c) => ((upper = !upper) ? c.toUpperCase() : c));
}

/** Every spelling of `path` an attacker would try, with what each must get when the route's resource is denied. */
function variants(path: string): Array<{ path: string; expect: number[] }> {
  const denied = [403];
  const noRoute = [404];
  const ambiguous = [400];
  const out = [
    { path, expect: denied },
    { path: path.toUpperCase(), expect: path === path.toUpperCase() ? denied : noRoute },
    { path: mixedCase(path), expect: noRoute },
    { path: `${path}/`, expect: denied },
    { path: `/${path}`, expect: ambiguous },
    { path: path.replace('/v1/', '/v1//'), expect: ambiguous },
    { path: path.replace('/v1/', '/v1/./'), expect: ambiguous },
    { path: `${path}.`, expect: ambiguous },
    { path: path.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`), expect: ambiguous },
    { path: path.replace(/\/([^/]*)$/, '%2F$1'), expect: ambiguous },
    { path: path.replace(/\/([^/]*)$/, '%2f$1'), expect: ambiguous },
  ];
  return out.filter((v, i) => out.findIndex((w) => w.path === v.path) === i);
}

t.test('every route, in every case and encoding, is checked against its own resource: none served to a caller denied it', async (t) => {
  const h = await adminHome(ADMIN);
  t.teardown(() => h.cleanup());
  await serve(h, [], { auth: true });
  t.teardown(() => stop(h));
  const env = { ...h.env, SPL_ACTOR: ADMIN };
  const run = (args: string[]) => runSpl(args, env);
  // One record and thread to name in paths.
  const seeded = await run(['intend', 'seed', '--thread', THREAD, '-o', 'json']);
  t.equal(seeded.code, 0, seeded.stderr);
  const recordId = JSON.parse(seeded.stdout).id as string;
  const adminToken = JSON.parse((await run(['token', 'create', '--name', 'admin', '-o', 'json'])).stdout).token as string;
  const bobToken = JSON.parse((await run(['token', 'create', '--name', 'bob', '--actor', BOB, '-o', 'json'])).stdout).token as string;
  t.equal((await run(['config', 'add-permission-rule', 'admin-all', '--expression', `current_actor() == "${ADMIN}"`, '--priority', '1000'])).code, 0);
  t.equal((await run(['config', 'add-permission-rule', 'bob-reads', '--expression', `current_actor() == "${BOB}" && resource in ["record_read", "thread_read"]`, '--priority', '10'])).code, 0);
  const enabled = await run(['config', 'permissions-enable']);
  t.equal(enabled.code, 0, enabled.stderr);
  const bob = { authorization: `Bearer ${bobToken}`, 'content-type': 'application/json' };

  // The issue as reported: bob's POST /V1/tokens minted an admin token, /V1/config/permissions/disable turned
  // enforcement off, DELETE /V1/TOKENS/x revoked the admin's.
  t.equal((await http(h.port, 'POST', '/v1/tokens', JSON.stringify({ name: 'root', actor: ROOT }), bob)).status, 403);
  for (const [method, path, body] of [
    ['POST', '/V1/tokens', { name: 'root1', actor: ROOT }],
    ['POST', '/V1/config/permissions/disable', undefined],
    ['DELETE', '/V1/TOKENS/admin', undefined],
    ['POST', '/v1/Tokens', { name: 'root2', actor: ROOT }],
    ['POST', '/v1/tokens/', { name: 'root3', actor: ROOT }],
    ['POST', '/v1/%74okens', { name: 'root4', actor: ROOT }],
  ] as const) {
    const r = await http(h.port, method, path, body === undefined ? undefined : JSON.stringify(body), bob);
    t.ok([400, 403, 404].includes(r.status), `${method} ${path} → ${r.status} ${r.body?.code}`);
    t.equal(r.body?.object, 'error', `${method} ${path} answers the error envelope`);
  }

  const specs = routeTable();
  t.ok(specs.length >= 20, `the route table lists every route (${specs.length})`);
  const bodies: Record<string, unknown> = {
    '/v1/tokens': { name: 'walk', actor: ROOT },
    '/v1/records': { thread: THREAD, actor: BOB, act: 'INTEND', body: { walk: true } },
    '/v1/records/query': { limit: 1 },
    '/v1/engine/expr': { expression: 'true' },
  };
  const params = (p: string) => p.replace(':id/records', `${THREAD}/records`).replace('/v1/threads/:id', `/v1/threads/${THREAD}`).replace(':id', recordId).replace(':name', 'admin');
  let requests = 0;
  const served: string[] = [];
  for (const spec of specs) {
    const path = params(spec.path);
    const body = spec.method === 'POST' ? JSON.stringify(bodies[spec.path] ?? {}) : undefined;
    const allowed = spec.gate === 'open' || spec.gate === 'record_read' || spec.gate === 'thread_read';
    if (allowed) {
      // The walk can tell "served": what bob may do, he gets.
      const r = await http(h.port, spec.method, path, body, bob);
      requests++;
      t.equal(r.status, 200, `${spec.method} ${path} (${spec.gate}) is served to bob`);
      continue;
    }
    for (const v of variants(path)) {
      const r = await http(h.port, spec.method, v.path, body, bob);
      requests++;
      if (r.status < 400) served.push(`${spec.method} ${v.path} → ${r.status}`);
      if (!v.expect.includes(r.status)) t.fail(`${spec.method} ${v.path} (${spec.gate}) → ${r.status} ${r.text.slice(0, 120)}; expected ${v.expect.join('/')}`);
      // OPTIONS must not hand out the Allow list past the gate either (it answers to the path's GET gate).
      const getGate = specs.find((s) => s.path === spec.path && s.method === 'GET')?.gate;
      if (v.path === path && !(getGate === 'record_read' || getGate === 'thread_read')) {
        const o = await http(h.port, 'OPTIONS', v.path, undefined, bob);
        requests++;
        if (o.status < 400) served.push(`OPTIONS ${v.path} → ${o.status}`);
      }
    }
  }
  t.same(served, [], `no denied request was served (${requests} requests over ${specs.length} routes)`);

  // Nothing bob tried took effect.
  const tokens = JSON.parse((await run(['token', 'list', '-o', 'json'])).stdout) as Array<{ name: string; revoked_at: string | null }>;
  t.same(tokens.map((x) => [x.name, x.revoked_at]), [['admin', null], ['bob', null]], 'no token minted or revoked by bob');
  t.equal(JSON.parse((await run(['config', 'show', '-o', 'json'])).stdout).permissions_enabled, true, 'enforcement is still on');
  const admin = await http(h.port, 'GET', '/v1/tokens', undefined, { authorization: `Bearer ${adminToken}` });
  t.equal(admin.status, 200, 'the admin token still works');
  const options = await http(h.port, 'OPTIONS', '/v1/tokens', undefined, { authorization: `Bearer ${adminToken}` });
  t.same(String(options.headers.allow).split(', ').sort(), ['GET', 'HEAD', 'POST'], 'OPTIONS answers the admin');
  t.equal((await http(h.port, 'GET', '/health/')).status, 200, '/health stays open, trailing slash and all');
});

t.test('a token writes records only as the DIDs it speaks for; the socket may name any actor', async (t) => {
  const h = await adminHome(ADMIN);
  t.teardown(() => h.cleanup());
  await serve(h, [], { auth: true });
  t.teardown(() => stop(h));
  const env = { ...h.env, SPL_ACTOR: ADMIN };
  const worker = 'did:sync:instance:worker-a';
  const alice = JSON.parse((await runSpl(['token', 'create', '--name', 'alice', '--actor', 'did:sync:user:alice', '-o', 'json'], env)).stdout).token as string;
  const created = await runSpl(['token', 'create', '--name', 'fleet', '--actor', 'did:sync:user:ops', '--allow-actor', worker, '-o', 'json'], env);
  t.equal(created.code, 0, created.stderr);
  t.same(JSON.parse(created.stdout).allowed_actors, [worker]);
  const fleet = JSON.parse(created.stdout).token as string;
  const post = (token: string, value: unknown) => http(h.port, 'POST', '/v1/records', JSON.stringify(value), { authorization: `Bearer ${token}`, 'content-type': 'application/json' });
  const rec = (actor: string, n: number) => ({ thread: THREAD, actor, act: 'KNOW', body: { n } });

  t.equal((await post(alice, rec('did:sync:user:alice', 1))).status, 201, 'as its own actor');
  const as = await post(alice, rec('did:sync:user:bob', 2));
  t.equal(as.status, 403);
  t.match(as.body, { code: 'DID_CLAIM_DENIED', field: 'actor', message: /token alice acts as did:sync:user:alice; it may not write a record as did:sync:user:bob/, fix: /--allow-actor did:sync:user:bob/ });
  const batch = await post(alice, [rec('did:sync:user:alice', 3), rec(ROOT, 4)]);
  t.equal(batch.status, 403, 'one foreign actor refuses the whole batch');
  t.equal((await post(fleet, rec(worker, 5))).status, 201, 'an allowed actor (a fleet worker\'s instance DID)');
  t.equal((await post(fleet, rec('did:sync:user:ops', 6))).status, 201, 'and the token\'s own actor');
  t.equal((await post(fleet, rec(ROOT, 7))).status, 403);

  // Minting over TCP is bound by the same claims; over the socket the operator may mint for anyone.
  const mint = await http(h.port, 'POST', '/v1/tokens', JSON.stringify({ name: 'escalate', actor: ROOT }), { authorization: `Bearer ${alice}`, 'content-type': 'application/json' });
  t.equal(mint.status, 403);
  t.match(mint.body, { code: 'DID_CLAIM_DENIED', message: /may not mint a token for did:sync:user:root/ });
  const own = await http(h.port, 'POST', '/v1/tokens', JSON.stringify({ name: 'alice-2' }), { authorization: `Bearer ${alice}`, 'content-type': 'application/json' });
  t.equal(own.status, 201, 'a token may mint one for its own actor');

  // A record nested past what CEL reads is refused before it reaches the evaluation thread.
  const deep = `{"expression":"1","record":{"body":{"d":${'['.repeat(20000)}${']'.repeat(20000)}}}}`;
  const deepExpr = await http(h.port, 'POST', '/v1/engine/expr', deep, { authorization: `Bearer ${alice}`, 'content-type': 'application/json' });
  t.equal(deepExpr.status, 400, deepExpr.text.slice(0, 200));
  t.match(deepExpr.body, { code: 'INVALID_REQUEST', field: 'record', message: /nests deeper than 128 levels/ });

  const socket = await runSpl(['know', 'from the host', '--thread', THREAD, '-o', 'json'], { ...h.env, SPL_ACTOR: 'did:sync:user:bob' });
  t.equal(socket.code, 0, socket.stderr);
  t.equal(JSON.parse(socket.stdout).actor, 'did:sync:user:bob', 'the socket writes as SPL_ACTOR');

  const stored = await httpVia({ socketPath: join(h.home, 'run', 'spl.sock') }, 'GET', `/v1/records?thread=${THREAD}&limit=100`);
  t.same(stored.body.data.map((r: { actor: string; body: { n?: number } }) => [r.actor, r.body.n ?? null]), [
    ['did:sync:user:alice', 1], [worker, 5], ['did:sync:user:ops', 6], ['did:sync:user:bob', null],
  ], 'only the allowed writes are stored');

  const log = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').filter((l) => l.includes('token created'));
  const alice2 = log.map((l) => JSON.parse(l)).find((l) => l.token === 'alice-2');
  t.match(alice2, { requester: 'did:sync:user:alice', via: 'token alice', actor: 'did:sync:user:alice' }, 'token creation names the requester');
  const viaSocket = log.map((l) => JSON.parse(l)).find((l) => l.token === 'fleet');
  // The CLI's --actor is also the acting DID of the request itself.
  t.match(viaSocket, { requester: 'did:sync:user:ops', via: 'socket', actor: 'did:sync:user:ops', allowed_actors: [worker] });
});

t.test('beyond loopback only with TCP auth on', async (t) => {
  const h = await adminHome(ADMIN);
  t.teardown(() => h.cleanup());
  const file = join(h.home, 'config.toml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('host = "127.0.0.1"', 'host = "0.0.0.0"'));
  const insecure = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.equal(insecure.code, 2);
  t.match(insecure.stderr, /--insecure-localhost turns TCP authentication off, which is allowed on loopback only; server\.host is 0\.0\.0\.0/);
  await serve(h, [], { auth: true });
  t.teardown(() => stop(h));
  t.equal((await http(h.port, 'GET', '/health')).status, 200, '/health answers without a token');
  t.equal((await http(h.port, 'GET', '/v1/threads')).status, 401, 'everything else needs one');
  const status = JSON.parse((await runSpl(['status', '-o', 'json'], h.env)).stdout);
  t.equal(status.bind, `0.0.0.0:${h.port}`);
  const warned = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').find((l) => l.includes('serving beyond loopback'));
  t.ok(warned, 'the start logs a WARN naming the exposure');
  const doctor = await runSpl(['doctor', '-o', 'json'], h.env);
  const config = JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === 'config');
  t.match(config, { status: 'warn', summary: /reachable beyond this host/ });
});
