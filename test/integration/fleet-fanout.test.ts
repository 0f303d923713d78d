// Fan-out across a real coordinator and two workers on loopback (one-second beats): an INTEND with body.subtasks
// becomes child tasks spread over the live workers (--on auto, the least loaded first), each run there by a real
// child process (test/fixtures/agents/fake-claude.mjs, the agent CLI being the external edge), and the parent is
// closed by a fanout_joined DO as soon as its join holds — or can no longer hold. A malformed fan-out is a 400.

import t from 'tap';
import { http, postJson } from '../helpers/spl.js';
import { addAgent, fleetCoordinator, fleetWorker, gitRepo, until } from '../helpers/fleet.js';


t.test('subtasks spread over two workers; the parent closes when its join holds or cannot', async (t) => {
  const coord = await fleetCoordinator(t);
  const workers = [];
  for (const name of ['a', 'b']) {
    const w = await fleetWorker(t, coord, name);
    for (const [did, mode] of [['did:sync:agent:dev', 'success'], ['did:sync:agent:bad', 'nonzero']]) t.equal(await addAgent(w, did!, mode!, ['--max-concurrent', '4']), 0);
    workers.push(w);
  }
  await until(() => http(coord.port, 'GET', '/v1/fleet/status'), (r) => r.body.counts.live === 3);
  const repo = gitRepo(coord.dir);

  let n = 0;
  const fanout = async (subtasks: unknown[], joinSpec: string) => {
    const r = await postJson(coord.port, '/v1/records', { thread: `th_fan_${++n}`, actor: 'did:sync:user:ops', act: 'INTEND', body: { text: 'split it', subtasks, join: joinSpec } });
    t.equal(r.status, 201, JSON.stringify(r.body));
    const thread = r.body.thread as string;
    const joined = await until(() => http(coord.port, 'GET', `/v1/threads/${thread}/records?limit=100`), (x) => x.body.data.some((d: { body: { topic?: string } }) => d.body.topic === 'fanout_joined'), 150);
    return { intend: r.body.id as string, joined: joined.body.data.find((d: { body: { topic?: string } }) => d.body.topic === 'fanout_joined') };
  };
  const sub = (title: string, actor: string) => ({ title, brief: `Do ${title}.`, actor, repo });

  const a = await fanout([sub('part one', 'did:sync:agent:dev'), sub('part two', 'did:sync:agent:dev')], 'all');
  t.match(a.joined, { act: 'DO', parents: [a.intend], body: { result: 'satisfied', join: 'all', fulfills: a.intend, accepted: 2 } }, 'join all: satisfied, fulfilling the INTEND');
  const spreadTo = new Set(a.joined.body.children.map((c: { worker: string }) => c.worker));
  t.same([...spreadTo].sort(), workers.map((w) => w.did).sort(), 'the two children went to the two workers');
  t.match(a.joined.body.children, [{ index: 0, alias: /^SUB-\d+$/, verdict: 'accept', cost_usd: Number }, { index: 1, verdict: 'accept' }]);
  for (const c of a.joined.body.children) t.equal((await http(coord.port, 'GET', `/v1/tasks/${c.alias}`)).body.status, 'review', `${c.alias} is in review on the coordinator`);

  const b = await fanout([sub('good', 'did:sync:agent:dev'), sub('bad', 'did:sync:agent:bad')], 'k_of_n:1');
  t.match(b.joined.body, { result: 'satisfied', join: 'k_of_n:1' }, 'k_of_n:1 holds with one accepted child');

  const c = await fanout([sub('fine', 'did:sync:agent:dev'), sub('broken', 'did:sync:agent:bad')], 'any');
  t.match(c.joined.body, { result: 'satisfied' }, 'any holds');

  const d = await fanout([sub('ok', 'did:sync:agent:dev'), sub('fails', 'did:sync:agent:bad')], 'all');
  t.match(d.joined.body, { result: 'unsatisfiable', join: 'all' }, 'join all with a failed child cannot hold: the parent is closed as unsatisfiable');
  t.ok(d.joined.body.children.some((x: { verdict: string }) => x.verdict === 'failed'));

  const bad = await postJson(coord.port, '/v1/records', { thread: 'th_fan_bad', actor: 'did:sync:user:ops', act: 'INTEND', body: { subtasks: ['x', 'y'], join: 'k_of_n:3' } });
  const again = await postJson(coord.port, '/v1/records', { thread: 'th_fan_1', actor: 'did:sync:user:ops', act: 'INTEND', body: { subtasks: ['x'] } });
  t.match(again, { status: 409, body: { code: 'ALREADY_EXISTS', message: /th_fan_1 already has a fan-out/ } }, 'one fan-out per thread');
  t.match(bad, { status: 400, body: { code: 'INVALID_RECORD', message: /body.join must be all, any or k_of_n:K with K from 1 to 2/ } }, 'a malformed fan-out is refused, nothing stored');
});
