// Engine config as LEARN records: add, disable, list — and a restart rebuilds exactly the same rules.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, serve, stop, runSpl } from '../helpers/spl.js';

t.test('rules survive a restart identically; the config history is the thread', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  const env = { ...h.env, SPL_ACTOR: 'did:sync:user:admin' };
  const ok = async (args: string[]) => {
    const r = await runSpl(args, env);
    t.equal(r.code, 0, `spl ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  await ok(['config', 'add-rule', 'to-dev', '--expression', 'record.act == "INTEND"', '--priority', '5']);
  await ok(['config', 'add-rule', 'fallback', '--expression', 'true', '--priority', '1']);
  await ok(['config', 'add-rule', 'old', '--expression', 'false', '--priority', '9']);
  await ok(['config', 'disable-rule', 'old']);
  await ok(['config', 'add-permission-rule', 'admin-all', '--expression', 'current_actor() == "did:sync:user:admin"', '--priority', '100']);
  await ok(['config', 'add-health', 'has-records', '--expression', 'records >= 0']);

  const rules = JSON.parse((await ok(['config', 'list-rules', '-o', 'json'])).stdout);
  t.same(
    rules.filter((r: { topic: string }) => r.topic === 'routing_rule').map((r: { name: string; priority: number }) => [r.name, r.priority]),
    [['to-dev', 5], ['fallback', 1]],
    'enabled routing rules, highest priority first; the disabled one is gone',
  );
  const all = JSON.parse((await ok(['config', 'list-rules', '--topic', 'routing_rule', '--all', '-o', 'json'])).stdout);
  t.same(all.map((r: { name: string; enabled: boolean }) => [r.name, r.enabled]), [['old', false], ['to-dev', true], ['fallback', true]]);
  const perms = JSON.parse((await ok(['config', 'list-permission-rules', '-o', 'json'])).stdout);
  t.match(perms, [{ name: 'admin-all', priority: 100, body: { effect: 'allow' } }]);
  const table = await ok(['config', 'list-rules']);
  t.match(table.stdout, /^TOPIC\s+NAME\s+PRIORITY\s+ENABLED\s+EFFECT\s+EXPRESSION/);
  t.match(table.stdout, /routing_rule\s+to-dev\s+5\s+yes\s+-\s+record\.act == "INTEND"/);
  const show = JSON.parse((await ok(['config', 'show', '-o', 'json'])).stdout);
  t.match(show, { records: 6, rules: { routing_rule: { enabled: 2, total: 3 }, permission_rule: { enabled: 1 }, health_rule: { enabled: 1 } } });

  const history = await ok(['thread', 'records', 'th_engine_config']);
  t.equal(history.stdout.trim().split('\n').length, 7, 'header + six LEARN records: the config history');
  t.match(history.stdout, /LEARN\s+did:sync:user:admin\s+3\s+\w+\s+topic=routing_rule name=old/);

  const opened = JSON.parse((await ok(['intend', 'review the patch', '-o', 'json'])).stdout);
  for (const verdict of ['accept', 'accept', 'reject']) {
    await ok(['know', 'reviewed', '--thread', opened.thread, '--body', JSON.stringify({ verdict, domain: 'code', judged_by: 'did:sync:agent:dev' })]);
  }
  await ok(['know', 'self-review', '--thread', opened.thread, '--actor', 'did:sync:agent:dev', '--body', JSON.stringify({ verdict: 'accept', domain: 'code', judged_by: 'did:sync:agent:dev' })]);
  const trust = JSON.parse((await ok(['trust', '-o', 'json'])).stdout);
  t.match(trust, [{ actor: 'did:sync:agent:dev', domain: 'code', success: 2, total: 3 }], 'self-judgement does not count');
  t.ok(trust[0].trust > 0 && trust[0].trust < 2 / 3, `Wilson lower bound below the raw rate: ${trust[0].trust}`);
  t.match((await ok(['trust'])).stdout, /ACTOR\s+DOMAIN\s+SUCCESS\s+TOTAL\s+TRUST\ndid:sync:agent:dev\s+code\s+2\s+3\s+0\.\d{3}/);

  const snapshot = async () => ({
    rules: (await ok(['config', 'list-rules', '--all', '-o', 'json'])).stdout,
    perms: (await ok(['config', 'list-permission-rules', '--all', '-o', 'json'])).stdout,
    trust: JSON.parse((await ok(['trust', '-o', 'json'])).stdout).map((r: { actor: string; domain: string; success: number; total: number; trust: number }) => ({ ...r, trust: r.trust.toFixed(6) })),
  });
  const before = await snapshot();
  await ok(['stop']);
  await serve(h);
  const after = await snapshot();
  t.same(after, before, 'list-rules, list-permission-rules and trust -o json are identical after the restart rebuild');
  t.match(readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8'), /"target":"syncropel_engine::folds".*"records":11.*"duration_ms":\d+.*rebuild_from_store complete/);
});

t.test('config commands refuse bad input with the fix', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  const noExpr = await runSpl(['config', 'add-rule', 'x'], h.env);
  t.equal(noExpr.code, 2);
  t.match(noExpr.stderr, /needs --expression/);
  const badTopic = await runSpl(['config', 'list-rules', '--topic', 'nope'], h.env);
  t.equal(badTopic.code, 2);
  t.match(badTopic.stderr, /--topic must be one of routing_rule/);
  const missing = await runSpl(['config', 'disable-rule', 'ghost'], h.env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no routing_rule named ghost/);
  const effect = await runSpl(['config', 'add-permission-rule', 'p', '--expression', 'true', '--effect', 'maybe'], h.env);
  t.equal(effect.code, 2);
  t.match(effect.stderr, /--effect must be allow or deny/);
});
