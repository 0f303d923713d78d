// The upstream CLI forms operators' scripts use, run against a real instance: add-rule with --name/--target and
// --domain/--act or --match, add-permission-rule --name --action, disable-rule found by name across topics, the
// lockout pre-flight's upstream command, and serve --daemon / serve --stop.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { adminHome, makeHome, postJson, runSpl, serve, stop, type Home } from '../helpers/spl.js';

const ADMIN = 'did:sync:user:admin';

interface RuleView {
  topic: string;
  name: string;
  priority: number;
  enabled: boolean;
  expression: string | null;
  body: Record<string, unknown>;
}

async function started(t: Test): Promise<{ h: Home; run: (args: string[]) => ReturnType<typeof runSpl> }> {
  const h = await adminHome(ADMIN);
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  const env = { ...h.env, SPL_ACTOR: ADMIN };
  return { h, run: (args) => runSpl(args, env) };
}

const RECORDS = [
  { act: 'INTEND', actor: 'did:sync:user:alice', body: { domain: 'code', goal: 'fix the parser' } },
  { act: 'INTEND', actor: 'did:sync:user:alice', body: { domain: 'docs', goal: 'write the guide' } },
  { act: 'INTEND', actor: 'did:sync:user:alice', body: { goal: 'no domain' } },
  { act: 'KNOW', actor: 'did:sync:agent:dev', body: { domain: 'code', topic: 'review' } },
  { act: 'KNOW', actor: 'did:sync:agent:dev', body: { topic: 'review' } },
  { act: 'KNOW', actor: 'did:sync:agent:dev', body: { topic: 'other', domain: 'code' } },
  { act: 'DO', actor: 'did:sync:agent:dev', body: { domain: 'code' } },
];

/** Which of RECORDS the expression matches, asked of the running instance (the routing context). */
async function matching(h: Home, expression: string): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const r of RECORDS) {
    const res = await postJson(h.port, '/v1/engine/expr', { expression, context: 'routing', record: { ...r, thread: 'th_' + 'd'.repeat(64), clock: 0 }, evaluate: true });
    if (res.status !== 200 || res.body.ok !== true) throw new Error(`evaluating ${expression}: ${res.status} ${JSON.stringify(res.body)}`);
    out.push(res.body.value === true);
  }
  return out;
}

t.test('add-rule --name --target with --domain/--act or --match: stored as CEL that matches what its CEL twin matches', async (t) => {
  const { h, run } = await started(t);
  const short = await run(['config', 'add-rule', '--name', 'code-to-dev', '--target', 'did:sync:agent:dev', '--domain', 'code', '--act', 'INTEND', '--priority', '10']);
  t.equal(short.code, 0, short.stderr);
  t.match(short.stdout, /routing_rule code-to-dev set \(priority 10, target did:sync:agent:dev\) by record [0-9a-f]{64}\n  matches: record\.act == "INTEND" && /);
  const twin = await run(['config', 'add-rule', 'code-to-dev-cel', '--target', 'did:sync:agent:dev', '--expression', 'record.act == "INTEND" && has(record.body.domain) && record.body.domain == "code"', '--priority', '9']);
  t.equal(twin.code, 0, twin.stderr);
  const matched = await run(['config', 'add-rule', '--name', 'reviews', '--target', 'did:sync:agent:reviewer', '--match', 'act=KNOW,body.topic=review']);
  t.equal(matched.code, 0, matched.stderr);

  const rules: RuleView[] = JSON.parse((await run(['config', 'list-rules', '--topic', 'routing_rule', '-o', 'json'])).stdout);
  const byName = Object.fromEntries(rules.map((r) => [r.name, r]));
  t.match(byName['code-to-dev'], { priority: 10, enabled: true, body: { target: 'did:sync:agent:dev', topic: 'routing_rule' } }, 'the routing rule carries its target');
  t.match(byName.reviews, { body: { target: 'did:sync:agent:reviewer' } });

  const shortMatches = await matching(h, byName['code-to-dev']!.expression!);
  t.same(shortMatches, await matching(h, byName['code-to-dev-cel']!.expression!), 'the --domain/--act rule and its CEL twin match the same records');
  t.same(shortMatches, [true, false, false, false, false, false, false], 'which are exactly the INTENDs in domain code');
  t.same(await matching(h, byName.reviews!.expression!), await matching(h, 'record.act == "KNOW" && has(record.body.topic) && record.body.topic == "review"'), 'the --match rule and its CEL twin agree');
  t.same(await matching(h, byName.reviews!.expression!), [false, false, false, true, true, false, false]);

  const table = await run(['config', 'list-rules']);
  t.match(table.stdout, /^TOPIC\s+NAME\s+PRIORITY\s+ENABLED\s+EFFECT\s+EXPRESSION\s+TARGET/);
  t.match(table.stdout, /routing_rule\s+code-to-dev\s+10\s+yes\s+-\s+record\.act == "INTEND".*did:sync:agent:dev/);
});

t.test('add-rule refuses mixed, bad or incomplete forms with the problem named', async (t) => {
  const { run } = await started(t);
  const cases: Array<[string[], RegExp]> = [
    [['--name', 'r', '--expression', 'true', '--domain', 'code'], /give --expression or the shorthand \(--domain\/--act\/--match\), not both/],
    [['--name', 'r', '--act', 'SHOUT'], /act must be one of INTEND DO KNOW LEARN GET PUT CALL MAP \(got SHOUT\)/],
    [['--name', 'r', '--match', 'colour=red'], /--match key 'colour' is not one of act, actor, thread, data_type or body.<field>/],
    [['--name', 'r', '--target', 'dev', '--act', 'DO'], /--target must be a DID such as did:sync:agent:dev \(got dev\)/],
    [['--name', 'r', '--topic', 'health_rule', '--act', 'DO'], /a health_rule needs --expression/],
    [['--name', 'r', '--topic', 'health_rule', '--target', 'did:sync:agent:dev', '--expression', 'true'], /a health_rule has none/],
    [['one', '--name', 'two', '--act', 'DO'], /the rule is named twice: one \(argument\) and two \(--name\)/],
    [['--act', 'DO'], /the rule needs a name: --name N/],
    [['--name', 'r', '--target', 'did:sync:agent:dev'], /needs --expression '<CEL>', --match key=value,… or --domain\/--act/],
  ];
  for (const [args, re] of cases) {
    const r = await run(['config', 'add-rule', ...args]);
    t.equal(r.code, 2, `add-rule ${args.join(' ')} exits 2`);
    t.match(r.stderr, re);
  }
  const none = JSON.parse((await run(['config', 'list-rules', '--all', '-o', 'json'])).stdout);
  t.same(none, [], 'nothing was written by any refused command');
});

t.test('add-permission-rule --name --action, disable-rule by name across topics, and the lockout pre-flight in the upstream form', async (t) => {
  const { h, run } = await started(t);
  const refused = await run(['config', 'permissions-enable']);
  t.equal(refused.code, 1);
  const fix = /fix: (spl config add-permission-rule .*)/.exec(refused.stderr)?.[1];
  t.equal(fix, `spl config add-permission-rule --name admin-all --action allow --priority 1000 --expression 'current_actor() == "${ADMIN}"'`, 'the pre-flight prints the upstream form');
  // Run as printed (through a shell, quotes and all): afterwards enabling passes its pre-flight.
  execFileSync('bash', ['-c', fix!.replace(/^spl /, `${process.execPath} ${join(process.cwd(), 'bin', 'spl')} `)], { env: { ...h.env, SPL_ACTOR: ADMIN }, stdio: 'ignore' });
  t.match(JSON.parse((await run(['config', 'list-permission-rules', '-o', 'json'])).stdout), [{ name: 'admin-all', priority: 1000, body: { effect: 'allow' } }]);

  const deny = await run(['config', 'add-permission-rule', '--name', 'no-eve', '--action', 'deny', '--priority', '50', '--expression', 'current_actor() == "did:sync:user:eve"']);
  t.equal(deny.code, 0, deny.stderr);
  const disagree = await run(['config', 'add-permission-rule', '--name', 'x', '--action', 'allow', '--effect', 'deny', '--expression', 'true']);
  t.equal(disagree.code, 2);
  t.match(disagree.stderr, /--action allow and --effect deny disagree/);
  t.match(JSON.parse((await run(['config', 'list-permission-rules', '-o', 'json'])).stdout), [{ name: 'admin-all' }, { name: 'no-eve', priority: 50, body: { effect: 'deny' } }]);

  const off = await run(['config', 'disable-rule', 'no-eve']);
  t.equal(off.code, 0, off.stderr);
  t.match(off.stdout, /^permission_rule no-eve disabled by record [0-9a-f]{64}/, 'found under permission_rule without --topic');
  t.same(JSON.parse((await run(['config', 'list-permission-rules', '-o', 'json'])).stdout).map((r: RuleView) => r.name), ['admin-all'], 'no-eve is off');

  t.equal((await run(['config', 'add-rule', 'shared', '--act', 'DO'])).code, 0);
  t.equal((await run(['config', 'add-health', '--name', 'shared', '--expression', 'records >= 0'])).code, 0);
  const ambiguous = await run(['config', 'disable-rule', '--name', 'shared']);
  t.equal(ambiguous.code, 2);
  t.match(ambiguous.stderr, /rules of 2 topics are named shared \(routing_rule, health_rule\); say which\nfix: spl config disable-rule shared --topic routing_rule/);
  const chosen = await run(['config', 'disable-rule', 'shared', '--topic', 'health_rule']);
  t.equal(chosen.code, 0, chosen.stderr);
  t.match(chosen.stdout, /^health_rule shared disabled/);
});

t.test('serve --daemon starts in the background; serve --stop stops', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const up = await runSpl(['serve', '--daemon', '--port', String(h.port)], h.env);
  t.equal(up.code, 0, up.stderr);
  t.match(up.stdout, /serving on 127\.0\.0\.1:\d+ \(pid \d+/);
  t.equal((await runSpl(['status'], h.env)).code, 0, 'running');
  const both = await runSpl(['serve', '--stop', '--foreground'], h.env);
  t.equal(both.code, 2);
  t.match(both.stderr, /--stop stops the instance; it does not combine with --foreground or --daemon/);
  const down = await runSpl(['serve', '--stop'], h.env);
  t.equal(down.code, 0, down.stderr);
  t.match(down.stdout, /^stopped spl \(pid \d+\)/);
  t.equal((await runSpl(['status'], h.env)).code, 3, 'not running');
});

t.test('--help shows usage examples', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const help = await runSpl(['config', 'add-rule', '--help'], h.env);
  t.equal(help.code, 0);
  t.match(help.stdout, /Examples\n\s+\$ spl config add-rule --name code-to-dev --target did:sync:agent:dev --domain code --act INTEND --priority 10/);
});
