// fleet-heartbeats: a coordinator receiving heartbeats from 1,000 simulated workers at a 5 s interval (200
// heartbeats/s, spread evenly, sent by a separate process over keep-alive connections) while clients ingest
// records. Rounds alternate with and without the heartbeats against the same instance; ratio = ingest req/s with
// ÷ without; target ≥ 0.9. Beside it, not in the ratio:
//   - `spl fleet status` (the whole CLI call) and GET /v1/fleet/status at 1,000 instances: under 50 ms (checked
//     on the endpoint's median; the CLI call, node start included, reported);
//   - registry records per worker per hour, from the registry's own logic over a simulated hour of beats every
//     5 s (an injected clock: an hour in well under a second): ≤ 60;
//   - the records the live run wrote: one join per worker, nothing per beat.
//
// Env knobs: FLEET_WORKERS (default 1000), FLEET_ROUNDS (default 4).

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { FleetRegistry } from '../../dist/fleet/registry.js';
import { load } from './http-ingest.js';
import { fmt, httpJson, makeHome, median, runSpl, sleep } from './lib.js';

export const TARGET = 0.9;
const WORKERS = Number(process.env.FLEET_WORKERS ?? 1000);
const ROUNDS = Number(process.env.FLEET_ROUNDS ?? 4);
const INTERVAL_MS = 5000;

/** The heartbeat sender: its own process, so the load generator's CPU is not shared with it. */
const SENDER = `
const http = require('node:http');
const [port, workers, interval] = process.argv.slice(1).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
let sent = 0, failed = 0;
const beat = (i) => {
  const body = JSON.stringify({ did: 'did:sync:instance:' + i.toString(16).padStart(16, '0'), endpoint: 'http://10.1.' + (i >> 8) + '.' + (i & 255) + ':9201', version: '0.1.0', uptime_secs: 60, health: 'healthy', active_dispatches: 0, store_records: 100 });
  const req = http.request({ port, method: 'POST', path: '/v1/fleet/heartbeat', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => { res.resume(); if (res.statusCode !== 200) failed++; sent++; });
  req.on('error', () => { failed++; });
  req.end(body);
};
for (let i = 0; i < workers; i++) setTimeout(() => { beat(i); setInterval(() => beat(i), interval); }, (i * interval) / workers);
setInterval(() => process.send && process.send({ sent, failed }), 1000);
`;

function startSender(port) {
  const child = spawn(process.execPath, ['-e', SENDER, String(port), String(WORKERS), String(INTERVAL_MS)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let last = { sent: 0, failed: 0 };
  child.on('message', (m) => (last = m));
  return { stop: () => child.kill('SIGTERM'), stats: () => last };
}

/** Registry records per worker per hour, from the registry's logic over a simulated hour (injected clock). */
function recordsPerWorkerHour() {
  let now = 0;
  const reg = new FleetRegistry(INTERVAL_MS, () => now);
  let written = 0;
  const n = 100;
  for (let ms = 0; ms <= 3600_000; ms += INTERVAL_MS) {
    now = ms;
    for (let i = 0; i < n; i++) reg.beat({ did: `did:sync:instance:${i}`, endpoint: 'http://x:1', version: '1', uptime_secs: ms / 1000, health: 'healthy', active_dispatches: i % 3, store_records: ms });
    for (const e of reg.due()) {
      reg.recorded(e, now);
      written++;
    }
  }
  return written / n;
}

export async function fleetHeartbeats() {
  const h = await makeHome('spl-bench-fleet-');
  const problems = [];
  const o = { connections: 32, warmupS: 2, measureS: 6 };
  try {
    const up = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env);
    if (up.code !== 0) throw new Error(`spl serve failed: ${up.stderr}`);
    const sock = { socketPath: join(h.home, 'run', 'spl.sock') };
    const without = [];
    const withBeats = [];
    let sender;
    for (let round = 0; round < ROUNDS * 2; round++) {
      const beats = round % 2 === 1;
      if (beats) {
        sender = startSender(h.port);
        await sleep(INTERVAL_MS + 1000); // every worker has joined before the measurement
      }
      const run = await load(h.port, o);
      (beats ? withBeats : without).push(run.rps);
      if (run.non2xx > 0) problems.push(`round ${round}: ${run.non2xx} non-2xx ingest responses`);
      console.log(`  [round ${round}] heartbeats ${beats ? `on (${WORKERS} workers)` : 'off'}: ${fmt(run.rps)} req/s`);
      if (beats) {
        const s = sender.stats();
        if (s.failed > 0) problems.push(`round ${round}: ${s.failed} heartbeats failed`);
        sender.stop();
      }
    }
    const status = await httpJson(sock, 'GET', '/v1/fleet/status');
    const live = status.body.counts?.live ?? 0;
    if (status.body.instances?.length < WORKERS) problems.push(`GET /v1/fleet/status lists ${status.body.instances?.length} instances, expected ≥ ${WORKERS}`);
    const apiMs = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      await httpJson(sock, 'GET', '/v1/fleet/status');
      apiMs.push(performance.now() - t);
    }
    const t = performance.now();
    const cli = await runSpl(['fleet', 'status'], h.env);
    const cliMs = performance.now() - t;
    if (cli.code !== 0) problems.push(`spl fleet status exited ${cli.code}`);
    if (median(apiMs) >= 50) problems.push(`GET /v1/fleet/status at ${WORKERS} instances: median ${fmt(median(apiMs), 1)} ms (target < 50 ms)`);
    const recs = await httpJson(sock, 'GET', '/v1/threads/th_instance_registry');
    const written = recs.body.records ?? recs.body.record_count ?? null;
    const perHour = recordsPerWorkerHour();
    if (perHour > 60) problems.push(`${fmt(perHour, 1)} registry records per worker per hour (target ≤ 60)`);
    const a = median(withBeats);
    const b = median(without);
    console.log(`  ingest ${fmt(b)} req/s without heartbeats, ${fmt(a)} req/s with ${WORKERS} workers beating every ${INTERVAL_MS / 1000}s (${live} live at the end)`);
    console.log(`  GET /v1/fleet/status at ${status.body.instances?.length} instances: median ${fmt(median(apiMs), 1)} ms; spl fleet status (whole CLI call): ${fmt(cliMs, 0)} ms`);
    console.log(`  registry records: ${written ?? '?'} written in the live run (${WORKERS} joins expected, none per beat); ${fmt(perHour, 1)} per worker per hour over a simulated hour`);
    return { name: 'fleet-heartbeats', measure: 'ingest with ÷ without 1,000 workers beating', a, b, unit: 'req/s', ratio: a / b, target: TARGET, problems };
  } finally {
    await runSpl(['stop'], h.env).catch(() => undefined);
    h.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await fleetHeartbeats();
  console.log(r);
}
