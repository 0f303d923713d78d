// Freezes and the emergency stop across a real coordinator and worker on loopback (one-second beats): a freeze set
// on the coordinator reaches the worker with its next heartbeat reply and refuses INTEND/DO/CALL there (KNOW and
// LEARN pass); only the coordinator can lift it; a hard freeze refuses every write once its grace runs out; the
// emergency stop refuses everything but reads, KNOW and LEARN, stops a running worker subprocess (its exit
// recorded) and refuses new dispatches; the CEL fleet_… functions see all of it. The agent CLI is the external
// edge: test/fixtures/agents/fake-claude.mjs, a real child process in a real git worktree.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { http, makeHome, postJson, runSpl, serve, stop } from '../helpers/spl.js';
import { addAgent, fleetCoordinator, fleetWorker, gitRepo, until, writeWorkerConfig } from '../helpers/fleet.js';

t.test('freezes and the emergency stop reach a worker through its heartbeats', async (t) => {
  const coord = await fleetCoordinator(t);
  const grace = '[dispatch]\nkill_grace_secs = 1\n';
  const worker = await fleetWorker(t, coord, 'a', grace);
  const c = (args: string[]) => runSpl(args, coord.env);
  const w = (args: string[], cwd?: string) => runSpl(args, worker.env, cwd ? { cwd } : {});
  const intend = (port: number, ns: string) => postJson(port, '/v1/records', { thread: 'th_ops', actor: 'did:sync:user:ops', act: 'INTEND', body: { namespace: ns, text: 'go' } });

  // Soft freeze on the coordinator: refused on the worker within about one interval.
  const k = await c(['kill', '--namespace', 'payments', '--reason', 'bad deploy']);
  t.equal(k.stdout, "✓ soft freeze of 'payments' recorded (INTEND, DO and CALL refused)\n", k.stderr);
  const refused = await until(() => intend(worker.port, 'payments'), (r) => r.status === 403, 40);
  t.equal(refused.status, 403, 'the worker refuses an INTEND in the frozen namespace');
  t.match(refused.body, { code: 'NAMESPACE_FROZEN', message: /namespace 'payments' is frozen \(soft.*bad deploy.*on the coordinator/, fix: /spl unkill --namespace payments on the coordinator/ });
  t.equal((await intend(coord.port, 'payments')).status, 403, 'and so does the coordinator');
  t.equal((await intend(worker.port, 'payments_eu')).status, 403, 'a namespace under it is frozen too');
  t.equal((await intend(worker.port, 'shipping')).status, 201, 'another namespace is not');
  const know = await postJson(worker.port, '/v1/records', { thread: 'th_payments', actor: 'did:sync:user:ops', act: 'KNOW', body: { text: 'status' } });
  t.equal(know.status, 201, 'KNOW passes a soft freeze');
  const doOnThread = await postJson(worker.port, '/v1/records', { thread: 'th_payments_jobs', actor: 'did:sync:user:ops', act: 'DO', body: { text: 'x' } });
  t.match(doOnThread, { status: 403, body: { code: 'NAMESPACE_FROZEN' } }, 'a DO on the named thread th_payments_… is in the namespace');
  t.match((await w(['fleet', 'status'])).stdout, /Active freezes: payments \(soft, from the coordinator\)\n/);
  const lift = await w(['unkill', '--namespace', 'payments']);
  t.equal(lift.code, 2, 'a worker cannot lift its coordinator\'s freeze');
  t.match(lift.stderr, /set on the coordinator.*\nfix: run spl unkill --namespace payments on the coordinator/);
  t.equal((await c(['unkill', '--namespace', 'payments'])).stdout, "✓ freeze of 'payments' lifted\n");
  t.equal((await until(() => intend(worker.port, 'payments'), (r) => r.status === 201, 40)).status, 201, 'lifted on the worker within an interval');

  // A hard freeze refuses KNOW too once its grace has run out.
  t.match((await c(['kill', '--namespace', 'ledger', '--level', 'hard', '--grace', '2'])).stdout, /✓ hard freeze of 'ledger' recorded \(every write refused after 2s/);
  const knowLedger = () => postJson(coord.port, '/v1/records', { thread: 'th_ledger', actor: 'did:sync:user:ops', act: 'KNOW', body: { text: 'x' } });
  t.equal((await knowLedger()).status, 201, 'KNOW passes within the grace');
  t.equal((await until(knowLedger, (r) => r.status === 403, 50)).status, 403, 'KNOW refused past the grace');
  const cel = await postJson(coord.port, '/v1/engine/expr', { expression: 'fleet_frozen_namespaces() == ["ledger"] && fleet_hard_frozen_past_grace() == ["ledger"] && !fleet_emergency_active() && fleet_instances_live() == 2' });
  t.match(cel.body, { ok: true, value: true }, 'the CEL fleet functions');
  t.equal((await c(['unkill', '--namespace', 'ledger'])).stdout, "✓ freeze of 'ledger' lifted\n", 'a hard freeze past its grace can still be lifted');
  t.equal((await knowLedger()).status, 201, 'and writes flow again');

  // The emergency stop: a running worker on the worker instance is stopped and its exit recorded.
  const repo = gitRepo(worker.dir);
  t.equal(await addAgent(worker, 'did:sync:agent:dev', 'hang'), 0);
  const alias = JSON.parse((await w(['task', 'add', 'long job', '--domain', 'code', '--body', 'Work.', '--repo', repo, '-o', 'json'])).stdout).alias as string;
  const d = await w(['task', 'dispatch', alias, '--actor', 'did:sync:agent:dev']);
  t.equal(d.code, 0, d.stderr);
  await until(() => http(worker.port, 'GET', `/v1/tasks/${alias}`), (r) => r.body.dispatch?.state === 'running' && r.body.dispatch?.pid > 0);
  t.match((await c(['kill', '--emergency', '--reason', 'runaway agents'])).stdout, /^✓ emergency stop recorded \(runaway agents\)/);
  const ended = await until(() => http(worker.port, 'GET', `/v1/tasks/${alias}`), (r) => r.body.dispatch === null, 80);
  t.equal(ended.body.dispatch, null, 'the running worker was stopped');
  const diag = await w(['task', 'diagnose', alias, '-o', 'json']);
  t.match(JSON.parse(diag.stdout), { completion: { failure_reason: 'interrupted' } }, 'its exit is recorded as interrupted');
  t.match((await w(['task', 'dispatch', alias, '--actor', 'did:sync:agent:dev'])).stderr, /emergency stop is active \(runaway agents\)/, 'no new dispatch starts');
  const doAny = await postJson(worker.port, '/v1/records', { thread: 'th_ops', actor: 'did:sync:user:ops', act: 'DO', body: { text: 'x' } });
  t.match(doAny, { status: 403, body: { code: 'EMERGENCY_STOP' } }, 'any DO, anywhere, is refused');
  t.equal((await postJson(worker.port, '/v1/records', { thread: 'th_ops', actor: 'did:sync:user:ops', act: 'LEARN', body: { text: 'x' } })).status, 201, 'LEARN passes');
  t.match(await postJson(worker.port, '/v1/tasks', { title: 'new' }), { status: 403, body: { code: 'EMERGENCY_STOP' } }, 'a task route is refused');
  t.match((await c(['fleet', 'status'])).stdout, /Emergency stop: ACTIVE \(runaway agents\)\n/);
  // A worker restarted during the stop starts (and enforces it from its first moment, before any beat).
  t.equal((await stop(worker)).code, 0);
  writeWorkerConfig(worker, 'http://127.0.0.1:1');
  await serve(worker);
  t.match(await postJson(worker.port, '/v1/records', { thread: 'th_ops', actor: 'did:sync:user:ops', act: 'DO', body: { text: 'x' } }), { status: 403, body: { code: 'EMERGENCY_STOP' } }, 'the saved stop holds with the coordinator unreachable');
  t.equal((await stop(worker)).code, 0);
  writeWorkerConfig(worker, `http://127.0.0.1:${coord.port}`, grace);
  await serve(worker);
  t.equal((await c(['unkill', '--emergency'])).stdout, '✓ emergency stop lifted\n');
  const back = await until(() => postJson(worker.port, '/v1/records', { thread: 'th_ops', actor: 'did:sync:user:ops', act: 'DO', body: { text: 'y' } }), (r) => r.status === 201, 40);
  t.equal(back.status, 201, 'writes flow again once it is lifted');
  const log = execFileSync('grep', ['-c', 'EMERGENCY STOP in force', join(worker.home, 'logs', 'spl.log')], { encoding: 'utf8' }).trim();
  t.equal(log, '3', 'the worker logged the stop once per start (three starts while it was in force)');
});

t.test('spl kill / unkill refuse what makes no sense, with the fix', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  const spl = (args: string[]) => runSpl(args, h.env);
  t.match(await spl(['kill']), { code: 2, stderr: /needs --namespace NS or --emergency/ });
  t.match(await spl(['kill', '--emergency']), { code: 2, stderr: /--emergency needs --reason TEXT/ });
  t.match(await spl(['kill', '--namespace', 'Pay-Ments']), { code: 2, stderr: /a namespace is lowercase letters/ });
  t.match(await spl(['kill', '--namespace', 'p', '--level', 'medium']), { code: 2, stderr: /--level must be soft or hard/ });
  t.match(await spl(['kill', '--namespace', 'p', '--grace', '5']), { code: 2, stderr: /--grace applies to a hard freeze only\nfix: spl kill --namespace p --level hard --grace 5/ });
  t.match(await spl(['unkill', '--namespace', 'p']), { code: 1, stderr: /namespace 'p' is not frozen here/ });
  t.match(await spl(['unkill', '--emergency']), { code: 1, stderr: /the emergency stop is not active here/ });
  const rec = JSON.parse((await spl(['kill', '--namespace', 'p', '-o', 'json'])).stdout);
  t.match(rec, { thread: 'th_fleet_control', act: 'LEARN', body: { topic: 'freeze', namespace: 'p', active: true, level: 'soft', grace_secs: 0 } });
});
