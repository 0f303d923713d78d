// The record-writing and reading commands against a real instance, including -o json and exit codes.

import t from 'tap';
import { makeHome, serve, stop, runSpl } from '../helpers/spl.js';

t.test('intend/do/know/learn, thread list/show/records, logs', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h, ['--log-level', 'debug']);
  t.teardown(() => stop(h));
  const env = { ...h.env, SPL_ACTOR: 'did:sync:user:alice' };

  const intend = await runSpl(['intend', 'Ship v2', '--body', '{"task":true}', '-o', 'json'], env);
  t.equal(intend.code, 0, intend.stderr);
  const opened = JSON.parse(intend.stdout);
  t.match(opened, { act: 'INTEND', actor: 'did:sync:user:alice', clock: 0, body: { text: 'Ship v2', task: true } });
  t.match(opened.thread, /^th_[0-9a-f]{64}$/);
  const thread: string = opened.thread;

  const did = await runSpl(['do', 'cut the branch', '--thread', thread, '--actor', 'did:sync:agent:dev'], env);
  t.equal(did.code, 0, did.stderr);
  t.match(did.stdout, /recorded DO [0-9a-f]{64}/);
  t.match(did.stdout, /actor\s+did:sync:agent:dev/, '--actor beats SPL_ACTOR');

  const know = await runSpl(['know', 'tests pass', '--thread', thread, '--fulfills', '-o', 'json'], env);
  t.equal(know.code, 0, know.stderr);
  const known = JSON.parse(know.stdout);
  t.equal(known.body.fulfills, opened.id, '--fulfills without a value names the latest INTEND');
  t.same(known.parents, [opened.id]);
  t.equal(known.clock, 1, 'alice\'s second record on the thread');

  const learn = await runSpl(['learn', '--thread', 'th_engine_config', '--body', '{"topic":"routing_rule","name":"r1","priority":5}'], env);
  t.equal(learn.code, 0, learn.stderr);

  const show = JSON.parse((await runSpl(['thread', 'show', thread, '-o', 'json'], env)).stdout);
  t.match(show, { thread, records: 3, status: 'fulfilled', actor_clocks: { 'did:sync:user:alice': 1, 'did:sync:agent:dev': 0 } });
  const human = await runSpl(['thread', 'show', thread], env);
  t.match(human.stdout, /status\s+fulfilled/);

  const list = await runSpl(['thread', 'list'], env);
  t.match(list.stdout, /^THREAD\s+RECORDS/);
  t.match(list.stdout, thread);
  t.match(list.stdout, 'th_engine_config');

  const records = await runSpl(['thread', 'records', 'th_engine_config'], env);
  t.match(records.stdout, /LEARN\s+did:sync:user:alice\s+0\s+[0-9a-f]{12}\s+topic=routing_rule name=r1/);
  const recJson = JSON.parse((await runSpl(['thread', 'records', thread, '-o', 'json'], env)).stdout);
  t.same(recJson.map((r: { act: string }) => r.act), ['INTEND', 'DO', 'KNOW']);

  const logs = await runSpl(['logs', '-n', '5', '--target', 'syncropel_http', '-o', 'json'], env);
  t.equal(logs.code, 0);
  const lines = logs.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.ok(lines.length > 0 && lines.every((l) => l.target.startsWith('syncropel_http')), 'target filter');
  t.ok(lines.some((l) => l.msg === 'record appended' && l.record && l.thread && l.actor), 'ingest lines carry record, thread, actor');
  const warn = await runSpl(['logs', '--level', 'warn', '-o', 'json'], env);
  t.ok(warn.stdout.trim().split('\n').filter(Boolean).every((l) => ['WARN', 'ERROR'].includes(JSON.parse(l).level)), 'level filter');
});

t.test('errors say what to do, with stable exit codes', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const down = await runSpl(['intend', 'x'], h.env);
  t.equal(down.code, 3, 'instance not running → 3');
  t.match(down.stderr, /no spl instance is answering/);
  t.match(down.stderr, /fix: spl serve/);

  await serve(h);
  t.teardown(() => stop(h));
  const noThread = await runSpl(['do', 'x'], h.env);
  t.equal(noThread.code, 2);
  t.match(noThread.stderr, /DO needs --thread/);
  const badBody = await runSpl(['intend', 'x', '--body', '{nope'], h.env);
  t.equal(badBody.code, 2);
  t.match(badBody.stderr, /--body is not valid JSON/);
  const badThread = await runSpl(['do', 'x', '--thread', 'nope'], h.env);
  t.equal(badThread.code, 2);
  t.match(badThread.stderr, /--thread nope is not a thread id/);
  const badActor = await runSpl(['intend', 'x', '--actor', 'bob'], h.env);
  t.equal(badActor.code, 2);
  t.match(badActor.stderr, /--actor bob is not a DID/);
  const missing = await runSpl(['thread', 'show', 'th_' + 'f'.repeat(64)], h.env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no records on thread/);
  const badOutput = await runSpl(['status', '-o', 'yaml'], h.env);
  t.equal(badOutput.code, 2);
  t.match(badOutput.stderr, /-o\/--output must be text or json/);
  const badPort = await runSpl(['serve', '--port', '70000'], h.env);
  t.equal(badPort.code, 2);
  t.match(badPort.stderr, /port must be an integer from 1 to 65535/);
});

t.test('a broken config.toml is named with the key at fault', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  t.teardown(() => stop(h)); // in case a start wrongly succeeds
  await runSpl(['init'], h.env);
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  writeFileSync(join(h.home, 'config.toml'), '[server]\nport = "ninety"\n');
  const r = await runSpl(['serve', '--port', String(h.port)], h.env);
  t.equal(r.code, 2);
  t.match(r.stderr, /config\.toml: server\.port must be an integer from 1 to 65535/);
  writeFileSync(join(h.home, 'config.toml'), '[server\nport = 1\n');
  const r2 = await runSpl(['status'], h.env);
  t.equal(r2.code, 2);
  t.match(r2.stderr, /config\.toml is not valid TOML/);
  writeFileSync(join(h.home, 'config.toml'), '[server]\nhost = "0.0.0.0"\n');
  const r3 = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
  t.equal(r3.code, 2);
  t.match(r3.stderr, /allowed on loopback only; server\.host is 0\.0\.0\.0/);
});
