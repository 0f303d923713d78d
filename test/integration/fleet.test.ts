// A coordinator and a worker on loopback, real processes: the worker's heartbeats make it live in fleet list,
// show and status (the runbook's output), ping reaches it; a graceful stop is recorded as left (its final
// heartbeat says draining), a SIGKILL only ever makes it stale; registry records are written on change only; a
// restarted coordinator knows its members from those records before their next beat. The thresholds themselves
// are unit-tested with an injected clock (test/unit/fleet-registry.test.ts).

import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { http, makeHome, runSpl, serve, stop } from '../helpers/spl.js';
import { fleetCoordinator, fleetWorker } from '../helpers/fleet.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('coordinator and worker: join, list/status/show/ping, left on a graceful stop, stale after a SIGKILL, records on change, restart', async (t) => {
  // One-second beats on both sides: the coordinator judges by its own interval (3 for stale).
  const coord = await fleetCoordinator(t);
  const worker = await fleetWorker(t, coord, 'a');
  const { pid: wpid, did: wdid } = worker;
  const spl = (args: string[]) => runSpl(args, coord.env);
  const cdid = JSON.parse((await spl(['status', '-o', 'json'])).stdout).instance_did as string;
  const member = async () => (await http(coord.port, 'GET', `/v1/fleet/instances/${wdid}`)).body;
  for (let i = 0; i < 50 && (await member()).status !== 'live'; i++) await sleep(100);

  const list = await spl(['fleet', 'list']);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /^DID\s+ENDPOINT\s+STATUS\s+VERSION\s+UPTIME\s+HEALTH\n/);
  t.match(list.stdout, new RegExp(`${wdid}\\s+http://127\\.0\\.0\\.1:${worker.port}\\s+live\\s+\\S+\\s+\\d+s\\s+healthy\\n`));
  t.match(list.stdout, new RegExp(`${cdid}\\s+http://127\\.0\\.0\\.1:${coord.port}\\s+live`), 'the coordinator lists itself');
  t.match(list.stdout, /\n2 live · 0 stale · 0 archived\n$/);
  const status = await spl(['fleet', 'status']);
  t.equal(status.stdout, `Fleet status\nCoordinator URL: http://127.0.0.1:${coord.port}\nHeartbeat: every 1s\nInstances: 2 live · 0 stale · 0 archived\nActive freezes: (none)\nEmergency stop: inactive\n`);
  const show = await spl(['fleet', 'show', wdid]);
  t.match(show.stdout, new RegExp(`^Instance: ${wdid}\\nEndpoint: http://127\\.0\\.0\\.1:${worker.port}\\nStatus: live\\nVersion: \\S+\\nUptime: \\d+s\\nHealth: healthy\\nActive dispatches: 0\\nStore records: \\d+\\nLast heartbeat: \\d{10} \\(unix\\)\\n$`));
  const ping = await spl(['fleet', 'ping', wdid]);
  t.equal(ping.code, 0, ping.stderr);
  t.match(ping.stdout, new RegExp(`^✓ ${wdid} reachable in \\d+ms \\(200 OK\\)\\n$`));
  t.match(JSON.parse((await spl(['fleet', 'status', '-o', 'json'])).stdout), { object: 'fleet_status', counts: { live: 2 }, instances: [{ did: /did:sync:instance:/ }, {}] });

  // Graceful stop: its final heartbeat says draining → left (recorded at once); ping fails with a clear ✗.
  t.equal((await runSpl(['stop'], worker.env)).code, 0);
  t.match(await member(), { status: 'left', health: 'draining' });
  const down = await spl(['fleet', 'ping', wdid]);
  t.equal(down.code, 1);
  t.match(down.stdout, new RegExp(`^✗ ${wdid} unreachable at http://127\\.0\\.0\\.1:${worker.port}: ECONNREFUSED\\n$`));

  // Back, then SIGKILLed: never left, stale once three intervals pass without a beat.
  const again = await serve(worker);
  for (let i = 0; i < 50 && (await member()).status !== 'live'; i++) await sleep(100);
  t.equal((await member()).status, 'live', 'a worker that comes back is live again');
  process.kill(again, 'SIGKILL');
  let seen = 'live';
  for (let i = 0; i < 100 && seen === 'live'; i++) {
    await sleep(100);
    seen = (await member()).status;
  }
  t.equal(seen, 'stale', 'silence makes it stale, not left');
  t.not(wpid, again);

  // Registry records: on change only (join, left, live again, stale — not one per beat).
  const recs = (await http(coord.port, 'GET', '/v1/threads/th_instance_registry/records?limit=100')).body.data as Array<{ body: { did: string; status: string; reason: string } }>;
  t.ok(recs.every((r) => r.body.did === wdid), 'no record for the coordinator itself');
  t.ok(recs.length >= 2 && recs.length <= 5, `${recs.length} registry records for a worker that beat ~10 times and changed 3 times`);
  t.match(recs.map((r) => r.body.status), ['live', 'left']);

  // A restarted coordinator knows the worker from its records before any beat.
  t.equal((await stop(coord)).code, 0);
  await serve(coord);
  t.match(await member(), { did: wdid, endpoint: `http://127.0.0.1:${worker.port}` });
});

t.test('spl fleet start --workers 2: the runbook\'s lines, convergence, --share; fleet stop --instance and --all', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  mkdirSync(h.home, { mode: 0o700 });
  writeFileSync(join(h.home, 'config.toml'), `[server]\nport = ${h.port}\n[fleet]\nheartbeat_interval_secs = 1\n`, { mode: 0o600 });
  await serve(h);
  const spl = (args: string[]) => runSpl(args, h.env, { timeoutMs: 60_000 });
  t.teardown(() => spl(['fleet', 'stop', '--all']));
  t.equal((await spl(['config', 'add-rule', '--name', 'code-to-dev', '--target', 'did:sync:agent:dev', '--domain', 'code', '--act', 'INTEND'])).code, 0);
  const r = await spl(['fleet', 'start', '--workers', '2']);
  t.equal(r.code, 0, r.stderr);
  const home = h.home.replace(h.dir, '~');
  t.match(r.stdout, new RegExp(`^Starting local fleet: 1 coordinator \\+ 2 workers\\n\\[coordinator\\] already running PID \\d+ on :${h.port} \\(home=${home}\\)\\n\\[worker-a\\] spawned PID \\d+ on :9201 \\(home=${home}-worker-a\\)\\n\\[worker-b\\] spawned PID \\d+ on :9202 \\(home=${home}-worker-b\\)\\nWaiting for fleet convergence \\(3 live\\)\\.\\.\\.\\n✓ fleet converged\\nFleet ready\\. Inspect with:\\n  spl fleet list\\n  spl fleet status\\n$`));
  t.match((await spl(['fleet', 'list'])).stdout, /\n3 live · 0 stale · 0 archived\n$/);
  // --share: the new worker holds the coordinator's engine configuration (the routing rule).
  const rules = await runSpl(['config', 'list-rules', '-o', 'json'], { ...h.env, SYNCROPEL_HOME: `${h.home}-worker-a` });
  t.match(JSON.parse(rules.stdout), [{ name: 'code-to-dev', body: { target: 'did:sync:agent:dev' } }]);
  const stopA = await spl(['fleet', 'stop', '--instance', 'worker-a']);
  t.match(stopA.stdout, /^\[worker-a\] stopped PID \d+/);
  t.match((await spl(['fleet', 'list'])).stdout, /\n2 live · 0 stale · 0 archived · 1 left\n$/);
  const all = await spl(['fleet', 'stop', '--all']);
  t.match(all.stdout, /^\[worker-a\] not running .*\n\[worker-b\] stopped PID \d+ .*\n\[coordinator\] stopped PID \d+/);
  const again = await spl(['fleet', 'stop']);
  t.equal(again.code, 2);
  t.match(again.stderr, /fleet stop needs exactly one of --instance NAME, --workers, --all/);
});
