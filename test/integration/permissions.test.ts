// Governance end to end: TCP bearer tokens, permission enforcement, and the runbook's lockout recovery.

import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { adminHome, makeHome, serve, stop, runSpl, http, postJson } from '../helpers/spl.js';

const ADMIN = 'did:sync:user:admin';


t.test('TCP needs a bearer token (except /health); the socket is trusted; tokens are stored hashed', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h, [], { auth: true });
  t.teardown(() => stop(h));
  const env = { ...h.env, SPL_ACTOR: ADMIN };

  t.equal((await http(h.port, 'GET', '/health')).status, 200, '/health is never gated');
  const anon = await http(h.port, 'GET', '/v1/threads');
  t.equal(anon.status, 401);
  t.match(anon.body, { object: 'error', code: 'AUTH_REQUIRED', fix: /spl token create/ });

  const created = await runSpl(['token', 'create', '--name', 'ci', '-o', 'json'], env);
  t.equal(created.code, 0, created.stderr);
  const token = JSON.parse(created.stdout).token as string;
  t.match(token, /^spl_[A-Za-z0-9_-]{40,}$/);
  const authed = await http(h.port, 'GET', '/v1/threads', undefined, { authorization: `Bearer ${token}` });
  t.equal(authed.status, 200);
  const wrote = await http(h.port, 'POST', '/v1/records', JSON.stringify({ thread: 'th_engine_config', actor: ADMIN, act: 'LEARN', body: { note: 1 } }), {
    authorization: `Bearer ${token}`, 'content-type': 'application/json',
  });
  t.equal(wrote.status, 201);

  const file = readFileSync(join(h.home, 'secrets', 'api-tokens.json'), 'utf8');
  t.notMatch(file, token, 'the secret is not stored');
  t.match(file, /"sha256": "[0-9a-f]{64}"/);
  t.equal(statSync(join(h.home, 'secrets', 'api-tokens.json')).mode & 0o777, 0o600);
  t.notMatch(readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8'), token, 'the secret is never logged');

  const list = await runSpl(['token', 'list'], env);
  t.match(list.stdout, /ci\s+did:sync:user:admin\s+\S+\s+active/);
  t.equal((await runSpl(['token', 'revoke', 'ci'], env)).code, 0);
  const revoked = await http(h.port, 'GET', '/v1/threads', undefined, { authorization: `Bearer ${token}` });
  t.equal(revoked.status, 401, 'a revoked token stops working at once');

  // The CLI over TCP with SPL_TOKEN and SPL_SERVE_URL.
  const t2 = JSON.parse((await runSpl(['token', 'create', '--name', 'remote', '-o', 'json'], env)).stdout).token as string;
  const tcp = await runSpl(['thread', 'list', '-o', 'json'], { ...env, SPL_SERVE_URL: `http://127.0.0.1:${h.port}`, SPL_TOKEN: t2 });
  t.equal(tcp.code, 0, tcp.stderr);
  const noToken = await runSpl(['thread', 'list'], { ...env, SPL_SERVE_URL: `http://127.0.0.1:${h.port}` });
  t.equal(noToken.code, 1);
  t.match(noToken.stderr, /Bearer/);
});

t.test('the runbook lockout: enable, lose the admin rule, 403, then stop; permissions-unlock; serve', async (t) => {
  const h = await adminHome(ADMIN);
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  const env = { ...h.env, SPL_ACTOR: ADMIN };
  const run = (args: string[], e = env) => runSpl(args, e);

  const refused = await run(['config', 'permissions-enable']);
  t.equal(refused.code, 1, 'pre-flight refuses without an admin allow rule');
  t.match(refused.stderr, /would lock you out/);
  const fix = /fix: (spl config add-permission-rule .*)/.exec(refused.stderr)?.[1];
  t.ok(fix, 'prints the exact command that fixes it');
  t.match(fix!, `current_actor() == "${ADMIN}"`);

  // Run the printed command as written (through a shell, quotes and all).
  const { execFileSync } = await import('node:child_process');
  execFileSync('bash', ['-c', fix!.replace(/^spl /, `${process.execPath} ${join(process.cwd(), 'bin', 'spl')} `)], { env });
  t.equal((await run(['config', 'add-permission-rule', 'bob-reads', '--expression', 'current_actor() == "did:sync:user:bob" && resource == "thread_read"', '--priority', '10'])).code, 0);
  const enabled = await run(['config', 'permissions-enable']);
  t.equal(enabled.code, 0, enabled.stderr);

  const bob = { ...h.env, SPL_ACTOR: 'did:sync:user:bob' };
  t.equal((await run(['thread', 'list'], bob)).code, 0, 'bob may read threads');
  const bobWrite = await run(['intend', 'sneaky'], bob);
  t.equal(bobWrite.code, 1);
  t.match(bobWrite.stderr, /did:sync:user:bob may not record_write/);
  const denied = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').filter((l) => l.includes('PERMISSION DENIED'));
  t.ok(denied.length >= 1, 'grep "PERMISSION DENIED" finds the denial');
  t.match(JSON.parse(denied[0]!), { level: 'WARN', target: 'syncropel_http::permissions', actor: 'did:sync:user:bob', resource: 'record_write', method: 'POST', path: '/v1/records', rule: /no rule matched/ });
  t.equal((await http(h.port, 'GET', '/health')).status, 200, '/health stays exempt under enforcement');
  const expr = await run(['expr', 'eval', 'current_actor()', '-o', 'json']);
  t.match(JSON.parse(expr.stdout), { ok: true, value: ADMIN });

  // Disable the admin rule by mistake: now the admin is locked out.
  t.equal((await run(['config', 'disable-rule', 'admin-all', '--topic', 'permission_rule'])).code, 0);
  const locked = await run(['config', 'permissions-disable']);
  t.equal(locked.code, 1);
  t.match(locked.stderr, /may not config_write/);

  const whileRunning = await run(['config', 'permissions-unlock']);
  t.equal(whileRunning.code, 1, 'unlock refuses while the instance runs');
  t.match(whileRunning.stderr, /spl stop; spl config permissions-unlock; spl serve/);

  t.equal((await stop(h)).code, 0);
  const unlock = await run(['config', 'permissions-unlock']);
  t.equal(unlock.code, 0, unlock.stderr);
  t.match(unlock.stdout, /permissions_enabled=false/);
  await serve(h);
  const show = JSON.parse((await run(['config', 'show', '-o', 'json'])).stdout);
  t.equal(show.permissions_enabled, false, 'enforcement is off after the restart');
  t.equal((await run(['intend', 'back in'], bob)).code, 0, 'writes work again');
});

t.test('expression cache stats and uncompilable rules', async (t) => {
  const h = await adminHome(ADMIN);
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  const bad = await runSpl(['config', 'add-rule', 'broken', '--expression', 'record.act ==='], h.env);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /does not compile in the routing context/);
  const check = await runSpl(['expr', 'check', 'records > 1 &&', '--context', 'health_check'], h.env);
  t.equal(check.code, 2);
  const wrongCtx = await runSpl(['expr', 'check', 'records > 1', '--context', 'permission'], h.env);
  t.equal(wrongCtx.code, 2, 'records is not bound in the permission context');
  // A rule written straight as a record that does not compile is skipped with a WARN, not a failure.
  const rec = await postJson(h.port, '/v1/records', { thread: 'th_engine_config', actor: ADMIN, act: 'LEARN', body: { topic: 'permission_rule', name: 'junk', expression: 'current_actor( ==', priority: 5 } });
  t.equal(rec.status, 201);
  await runSpl(['config', 'add-permission-rule', 'admin-all', '--expression', `current_actor() == "${ADMIN}"`], h.env);
  t.equal((await runSpl(['config', 'permissions-enable'], { ...h.env, SPL_ACTOR: ADMIN })).code, 0);
  t.equal((await runSpl(['thread', 'list'], { ...h.env, SPL_ACTOR: ADMIN })).code, 0);
  t.match(readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8'), /"level":"WARN".*"target":"syncropel_engine::config".*permission_rule junk does not compile and is skipped/);
  const stats = await http(h.port, 'GET', '/v1/engine/expression_cache/stats');
  t.match(stats.body, { object: 'expression_cache_stats', hits: Number, misses: Number, size: Number, capacity: 512 });
  t.ok(stats.body.hits > 0, 'repeated rule evaluations hit the cache');
  const health = await runSpl(['health', 'check', '-o', 'json'], h.env);
  t.match(JSON.parse(health.stdout), { status: 'no_rules' });
});
