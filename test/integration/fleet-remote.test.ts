// Remote dispatch across a real coordinator and worker on loopback (one-second beats): `spl task dispatch --on`
// on the coordinator sends the task (its records and content file) to the worker with its next heartbeat reply, the
// worker runs it with its own dispatcher (a real child process in a real git worktree; the agent CLI is the external
// edge, test/fixtures/agents/fake-claude.mjs) and POSTs the dispatch records back, so task show and task diagnose on
// the coordinator tell the whole story. A worker SIGKILLed mid-dispatch leaves the task active with a
// worker_unreachable note, never failed. And the refusals: --on an unknown or stale instance, no live worker.

import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { http, postJson, runSpl, stop, serve } from '../helpers/spl.js';
import { addAgent, fleetCoordinator, fleetWorker, gitRepo, until } from '../helpers/fleet.js';
import { sealRecord } from '../../lib/kernel/id.js';
import { validateRecord } from '../../lib/kernel/record.js';


t.test('a task dispatched --on a worker runs there and its story comes back; a worker lost mid-dispatch leaves it active with a note', async (t) => {
  const coord = await fleetCoordinator(t);
  const worker = await fleetWorker(t, coord, 'a', '[dispatch]\nkill_grace_secs = 1\n');
  const { pid: wpid, did: wdid } = worker;
  const c = (args: string[]) => runSpl(args, coord.env);
  const w = (args: string[]) => runSpl(args, worker.env);
  await until(() => http(coord.port, 'GET', `/v1/fleet/instances/${wdid}`), (r) => r.body.status === 'live');

  const repo = gitRepo(coord.dir);
  for (const [did, mode] of [['did:sync:agent:dev', 'success'], ['did:sync:agent:slow', 'hang']]) {
    t.equal(await addAgent(worker, did!, mode!), 0, `adapter ${did} on the worker`);
  }
  const add = async (title: string) => JSON.parse((await c(['task', 'add', title, '--domain', 'code', '--body', `Brief for ${title}.`, '--repo', repo, '-o', 'json'])).stdout).alias as string;

  // --on auto: the only live worker. The coordinator has no adapter at all: it runs nothing itself.
  const a1 = await add('remote job');
  const d = await c(['task', 'dispatch', a1, '--on', 'auto', '--actor', 'did:sync:agent:dev']);
  t.equal(d.code, 0, d.stderr);
  t.equal(d.stdout, `${a1} dispatched to ${wdid} (http://127.0.0.1:${worker.port}): it starts with that worker's next heartbeat\n  its records come back here: spl task show ${a1}, spl task diagnose ${a1}\n`);
  const done = await until(() => http(coord.port, 'GET', `/v1/tasks/${a1}`), (r) => r.body.status === 'review');
  t.equal(done.body.status, 'review', 'the coordinator sees the task move to review');
  t.match(done.body.attempts, [{ success: true, cost_usd: Number }], 'and the attempt, with its cost');
  const diag = JSON.parse((await c(['task', 'diagnose', a1, '-o', 'json'])).stdout);
  t.match(diag, { subprocess: { exit_code: 0 }, completion: { success: true } }, 'task diagnose on the coordinator reads the worker\'s records');
  const wt = join(coord.dir, `proj-${a1}`);
  t.ok(existsSync(wt), 'the worktree is the worker\'s (the same filesystem here)');
  t.match(readFileSync(join(worker.home + '-data', 'tasks', `${a1}.md`), 'utf8'), /Brief for remote job\./, 'the content file travelled, checked against its sha256');
  t.match((await w(['task', 'show', a1])).stdout, /Status:\s+review/, 'the worker holds the same task');

  // Refusals.
  t.match(await c(['task', 'dispatch', await add('x'), '--on', 'did:sync:instance:0000000000000000']), { code: 1, stderr: /is not in this coordinator's registry\nfix: spl fleet list/ });
  const cdid = JSON.parse((await c(['status', '-o', 'json'])).stdout).instance_did as string;
  t.match(await c(['task', 'dispatch', a1, '--on', cdid]), { code: 2, stderr: /is this instance\nfix: dispatch without --on/ });

  // A worker SIGKILLed while its agent runs: the task stays active, with a worker_unreachable note.
  const a2 = await add('long remote job');
  t.equal((await c(['task', 'dispatch', a2, '--on', wdid, '--actor', 'did:sync:agent:slow'])).code, 0);
  const running = await until(() => http(coord.port, 'GET', `/v1/tasks/${a2}`), (r) => r.body.status === 'active');
  t.equal(running.body.status, 'active');
  const spawned = await until(() => http(coord.port, 'GET', `/v1/tasks/${a2}/diagnose`), (r) => r.body.subprocess?.pid > 0);
  const agentPid = spawned.body.subprocess.pid as number;
  t.teardown(() => {
    try {
      process.kill(-agentPid, 'SIGKILL'); // the agent's process group outlived its SIGKILLed instance
    } catch { /* already gone */ }
  });

  // The coordinator restarts mid-run: the worker's dispatch is not the coordinator's to settle (nor its agent to stop).
  t.equal((await stop(coord)).code, 0);
  await serve(coord);
  t.equal((await http(coord.port, 'GET', `/v1/tasks/${a2}`)).body.status, 'active', 'a coordinator restart leaves the remote run as it is');
  t.equal((await http(coord.port, 'GET', `/v1/tasks/${a2}/diagnose`)).body.completion, null, 'no dispatcher_restarted completion for it');
  t.doesNotThrow(() => process.kill(agentPid, 0), 'the worker\'s agent still runs');
  t.match(await c(['task', 'dispatch', a2]), { code: 1, stderr: /is dispatched to .*, which is live, and its run has not finished/ }, 'a local dispatch of it is refused while the worker runs it');

  // What a worker may forward: its own records, on the threads of its tasks, nothing else.
  const forged = (thread: string, actor: string) => sealRecord(validateRecord({ thread, actor, act: 'LEARN', body: { topic: 'freeze', emergency: true, active: false } }), 0);
  const fwd = (records: unknown[]) => postJson(coord.port, '/v1/fleet/records', { did: wdid, records });
  t.match(await fwd([forged('th_fleet_control', wdid)]), { status: 403, body: { message: /only of tasks dispatched to it; th_fleet_control is not one/ } }, 'not the control thread');
  t.match(await fwd([forged(running.body.thread, 'did:sync:user:ops')]), { status: 403, body: { message: /forwards only records it wrote/ } }, 'not in another actor\'s name');
  const sneak = sealRecord(validateRecord({ thread: running.body.thread, actor: wdid, act: 'KNOW', body: { sub_thread: 'th_fleet_control' } }), 900);
  t.match(await fwd([sneak, forged('th_fleet_control', wdid)]), { status: 403 }, 'a sub_thread named in any record does not open another thread');
  process.kill(wpid, 'SIGKILL');
  const noted = await until(() => http(coord.port, 'GET', `/v1/threads/${running.body.thread}/records?limit=100`), (r) => r.body.data.some((x: { body: { note?: string } }) => x.body.note === 'worker_unreachable'), 120);
  const note = noted.body.data.find((x: { body: { note?: string } }) => x.body.note === 'worker_unreachable');
  t.ok(note, 'a worker_unreachable note on the task');
  t.match(note?.body.text, new RegExp(`worker_unreachable: ${wdid} is stale`));
  t.equal((await http(coord.port, 'GET', `/v1/tasks/${a2}`)).body.status, 'active', 'the task stays active, never failed');
  t.match((await c(['task', 'dispatch', a2, '--on', wdid])).stderr, /is stale/, '--on a stale worker is refused');
  t.match((await c(['task', 'dispatch', a2, '--on', 'auto'])).stderr, /no live worker to dispatch to/, 'auto finds no live worker');
});
