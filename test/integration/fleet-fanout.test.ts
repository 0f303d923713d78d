// Fan-out across a real coordinator and two workers on loopback (one-second beats): an INTEND with body.subtasks
// becomes child tasks spread over the live workers (--on auto, the least loaded first), each run there by a real
// child process (test/fixtures/agents/fake-claude.mjs, the agent CLI being the external edge), and the parent is
// closed by a fanout_joined DO as soon as its join holds — or can no longer hold. A malformed fan-out is a 400.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, http, makeHome, postJson, runSpl, serve, stop, type Home } from '../helpers/spl.js';

const AGENT = fileURLToPath(new URL('../fixtures/agents/fake-claude.mjs', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, polls = 150): Promise<T> {
  let v = await probe();
  for (let i = 0; i < polls && !ok(v); i++) {
    await sleep(100);
    v = await probe();
  }
  return v;
}

t.test('subtasks spread over two workers; the parent closes when its join holds or cannot', async (t) => {
  const coord = await makeHome();
  t.teardown(() => coord.cleanup());
  mkdirSync(coord.home, { mode: 0o700 });
  writeFileSync(join(coord.home, 'config.toml'), '[fleet]\nheartbeat_interval_secs = 1\n', { mode: 0o600 });
  await serve(coord);
  t.teardown(() => stop(coord));
  const workers: Array<Home & { did: string }> = [];
  for (const name of ['a', 'b']) {
    const w = { ...coord, home: join(coord.dir, `.syncro-worker-${name}`), port: await freePort(), did: '' };
    w.env = { ...coord.env, SYNCROPEL_HOME: w.home };
    mkdirSync(w.home, { mode: 0o700 });
    writeFileSync(join(w.home, 'config.toml'), `[server]\nport = ${w.port}\n[fleet]\ncoordinator_url = "http://127.0.0.1:${coord.port}"\nheartbeat_interval_secs = 1\n`, { mode: 0o600 });
    await serve(w);
    t.teardown(() => stop(w));
    w.did = JSON.parse((await runSpl(['status', '-o', 'json'], w.env)).stdout).instance_did;
    for (const [did, mode] of [['did:sync:agent:dev', 'success'], ['did:sync:agent:bad', 'nonzero']]) {
      t.equal((await runSpl(['adapter', 'add', did!, '--family', 'claude', '--command', `${process.execPath} ${AGENT} ${mode} -p --verbose --output-format stream-json`, '--max-concurrent', '4'], w.env)).code, 0);
    }
    workers.push(w);
  }
  await until(() => http(coord.port, 'GET', '/v1/fleet/status'), (r) => r.body.counts.live === 3);
  const repo = join(coord.dir, 'proj');
  mkdirSync(repo);
  const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...a], { cwd: repo });
  git('init', '-q');
  writeFileSync(join(repo, 'README'), 'x\n');
  git('add', 'README');
  git('commit', '-q', '-m', 'first');

  let n = 0;
  const fanout = async (subtasks: unknown[], joinSpec: string) => {
    const r = await postJson(coord.port, '/v1/records', { thread: `th_fan_${++n}`, actor: 'did:sync:user:ops', act: 'INTEND', body: { text: 'split it', subtasks, join: joinSpec } });
    t.equal(r.status, 201, JSON.stringify(r.body));
    const thread = r.body.thread as string;
    const joined = await until(() => http(coord.port, 'GET', `/v1/threads/${thread}/records?limit=100`), (x) => x.body.data.some((d: { body: { topic?: string } }) => d.body.topic === 'fanout_joined'));
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
