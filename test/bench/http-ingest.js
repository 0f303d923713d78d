// http-ingest: single-record POST /v1/records over keep-alive HTTP (autocannon) against a real spl daemon,
// versus a bare node:http server (read body, JSON.parse, 201) in a child process. Same connections, same
// warm-up and measured window, same request generator for both; runs alternate (spl, bare, bare, spl, …)
// and the median of each side is compared. Ratio = spl req/s ÷ bare req/s.
//
// Every request is a distinct record (a per-run tag plus a global counter in the body; the clock is left to
// the server). Each load run ends with a graceful drain (no request is cut off in flight), so after an spl
// run the record count in GET /health must equal the number of 2xx responses, and a full listing of the
// store must hold exactly the acknowledged records: nothing lost, nothing extra.
//
// A third side, "stubbed", is the same spl daemon with RecordLog#append answered without the store
// (append-stub.js, preloaded with NODE_OPTIONS=--import): the route's own cost. spl ÷ stubbed is the share of
// the rate the store leaves (target ≥ 0.75). That side is checked to have stored nothing, so a stub that did
// not load cannot pass for one.
//
// For context (reported, not gated): the raw node-sqlite3 writer's own ceiling (raw-writer.js), with the same
// schema and pragmas and records shaped like this load's, at the group sizes 32 connections can form: 32 rows
// a commit (every connection in one commit) and 16 (the two alternating halves they settle into). Measured in
// every round beside the three sides, it shows what the store's engine alone allows on this machine against
// the rate the targets ask of spl.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { fmt, httpJson, makeHome, median, runSpl, sleep } from './lib.js';
import { writerCeiling } from './raw-writer.js';

export const TARGET = 0.4;
export const STORE_TARGET = 0.75;
const STUB = fileURLToPath(new URL('./append-stub.js', import.meta.url));

const ACTOR = 'did:sync:user:bench';
const thread = (i) => 'th_' + createHash('sha256').update(`bench-thread-${i}`).digest('hex');

/**
 * Drives `port` with POST /v1/records for warmupS + measureS seconds, then stops each connection after its
 * in-flight response (graceful drain). Returns the measured rate and per-request accounting.
 */
export async function load(port, { connections, warmupS, measureS }) {
  const tag = randomBytes(6).toString('hex');
  // As many threads as connections, used round-robin: records spread over threads like independent writers.
  const THREADS = Array.from({ length: connections }, (_, i) => thread(i));
  let next = 0; // records generated (= requests sent)
  const acked = new Set(); // n of each 2xx response
  const statuses = new Map(); // status code -> count
  let measured = 0;
  let measuring = false;
  let created200 = 0;
  const clients = [];
  let window = 0;

  const result = await new Promise((resolve, reject) => {
    const tracker = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections,
        pipelining: 1,
        duration: warmupS + measureS + 60, // backstop only: the run ends by draining below
        sampleInt: 100,
        timeout: 20,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupClient: (client) => clients.push(client),
        requests: [
          {
            method: 'POST',
            path: '/v1/records',
            setupRequest(req, context) {
              const n = next++;
              context.n = n;
              req.body = `{"thread":"${THREADS[n % THREADS.length]}","actor":"${ACTOR}","act":"DO","body":{"kind":"bench.ingest.event","run":"${tag}","n":${n}}}`;
              return req;
            },
            onResponse(status, _body, context) {
              statuses.set(status, (statuses.get(status) ?? 0) + 1);
              if (status >= 200 && status < 300) {
                acked.add(context.n);
                if (status === 200) created200++;
                if (measuring) measured++;
              }
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    let t0 = 0;
    setTimeout(() => {
      measuring = true;
      t0 = performance.now();
    }, warmupS * 1000);
    setTimeout(() => {
      measuring = false;
      window = (performance.now() - t0) / 1000;
      // Graceful drain: each client destroys itself after the response to the request it has in flight, and
      // autocannon finishes once every client is done. (Uses autocannon 9's Client.responseMax / reqsMade, the
      // same fields its own `amount` option relies on; autocannon's `duration` would cut requests off mid-flight.)
      for (const c of clients) c.responseMax = Math.max(1, c.reqsMade);
      setTimeout(() => tracker.stop(), 10000).unref(); // only if something never answers
    }, (warmupS + measureS) * 1000);
  });
  const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
  return {
    tag,
    rps: measured / window,
    measured,
    window,
    sent: next,
    answered,
    acked,
    statuses,
    created200,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
  };
}

async function withBareServer(fn) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./bare-server.js', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) resolve(JSON.parse(line).port);
    });
    child.once('exit', (code) => reject(new Error(`bare server exited (${code}) before listening`)));
  });
  try {
    return await fn(port);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

async function withSpl(fn, { stubbed = false } = {}) {
  const h = await makeHome();
  try {
    // The bare baseline has no authentication either, so spl runs without TCP bearer tokens here.
    const env = stubbed ? { ...h.env, NODE_OPTIONS: `${h.env.NODE_OPTIONS ?? ''} --import=${STUB}`.trim() } : h.env;
    const r = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], env);
    if (r.code !== 0) throw new Error(`spl serve failed (${r.code}): ${r.stderr}${r.stdout}`);
    try {
      return await fn(h.port);
    } finally {
      const s = await runSpl(['stop'], h.env);
      if (s.code !== 0) throw new Error(`spl stop failed (${s.code}): ${s.stderr}${s.stdout}`);
    }
  } finally {
    h.cleanup();
  }
}

/** The raw writer's rows/s in 32-row and 16-row commits, records shaped like load()'s. */
async function writerCeilings(connections, seconds) {
  const dir = mkdtempSync(join(tmpdir(), 'spl-bench-ceiling-'));
  try {
    const rowFor = (n) => ({ thread: thread(n % connections), actor: ACTOR, act: 'DO', body: { kind: 'bench.ingest.event', run: 'ceiling', n } });
    const got = {};
    for (const groupSize of [32, 16]) got[groupSize] = await writerCeiling(join(dir, `raw-${groupSize}.db`), { groupSize, seconds, rowFor });
    return got;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Lists every record in the store (paged by sequence) and checks it against what autocannon was told. */
async function reconcile(port, run) {
  const health = await httpJson(port, 'GET', '/health');
  if (health.status !== 200) throw new Error(`GET /health answered ${health.status}: ${health.text}`);
  const healthRecords = health.body.records;

  const seen = new Set();
  let duplicates = 0;
  let foreign = 0;
  let after = 0;
  let listed = 0;
  for (;;) {
    const page = await httpJson(port, 'GET', `/v1/records?limit=1000&after_sequence=${after}`);
    if (page.status !== 200) throw new Error(`GET /v1/records answered ${page.status}: ${page.text}`);
    for (const r of page.body.data) {
      listed++;
      if (r.body.run !== run.tag) {
        foreign++;
        continue;
      }
      if (seen.has(r.body.n)) duplicates++;
      seen.add(r.body.n);
    }
    if (page.body.next_after_sequence === null) break;
    after = page.body.next_after_sequence;
  }
  let lost = 0;
  for (const n of run.acked) if (!seen.has(n)) lost++;
  let unacknowledged = 0; // stored, but the client never saw a 2xx for it (in flight when a connection broke)
  for (const n of seen) if (!run.acked.has(n)) unacknowledged++;
  const unanswered = run.sent - run.answered; // requests cut off by a timeout or a broken connection
  const problems = [];
  if (run.acked.size === 0) problems.push('no request was acknowledged with a 2xx');
  if (healthRecords !== listed) problems.push(`/health says ${healthRecords} records but the listing has ${listed}`);
  if (lost > 0) problems.push(`${lost} acknowledged records are missing from the store`);
  if (duplicates > 0) problems.push(`${duplicates} records stored twice`);
  if (foreign > 0) problems.push(`${foreign} records that the benchmark did not send`);
  if (unacknowledged > unanswered) problems.push(`${unacknowledged} stored records were never acknowledged (only ${unanswered} requests went unanswered)`);
  if (unanswered === 0 && healthRecords !== run.acked.size) problems.push(`/health says ${healthRecords} records but autocannon counted ${run.acked.size} 2xx responses`);
  if (run.created200 > 0) problems.push(`${run.created200} requests answered 200 (idempotent repeat) instead of 201`);
  return { healthRecords, listed, lost, duplicates, unacknowledged, unanswered, problems };
}

export async function httpIngest(opts = {}) {
  const o = { connections: 32, warmupS: 2, measureS: 9, rounds: 3, ceilingS: 4, log: console.log, ...opts };
  const log = o.log;
  log(`http-ingest: POST /v1/records, ${o.connections} keep-alive connections, ${o.warmupS}s warm-up + ${o.measureS}s measured, ${o.rounds} rounds alternating`);
  const spl = [];
  const bare = [];
  const stubbed = [];
  const ceilings = []; // per round: rows/s by commit size
  const problems = [];
  const runSplOnce = async (round) => {
    const r = await withSpl(async (port) => {
      const run = await load(port, o);
      const check = await reconcile(port, run);
      return { run, check };
    });
    spl.push(r.run.rps);
    const codes = [...r.run.statuses].map(([c, k]) => `${c}×${k}`).join(' ');
    log(
      `  [round ${round}] spl : ${fmt(r.run.rps)} req/s (${fmt(r.run.measured)} in ${r.run.window.toFixed(2)}s; p50 ${r.run.latencyP50} ms, p99 ${r.run.latencyP99} ms)` +
        `\n               2xx ${fmt(r.run.ok2xx)}, non-2xx ${fmt(r.run.non2xx)}, errors ${r.run.errors}, timeouts ${r.run.timeouts} [${codes}]` +
        `\n               /health records ${fmt(r.check.healthRecords)} vs 2xx ${fmt(r.run.acked.size)}; listed ${fmt(r.check.listed)}, lost ${r.check.lost}, duplicates ${r.check.duplicates}, unacknowledged ${r.check.unacknowledged} → ${r.check.problems.length ? 'FAIL' : 'ok'}`,
    );
    for (const p of r.check.problems) problems.push(`round ${round}: ${p}`);
    if (r.run.non2xx > 0) problems.push(`round ${round}: spl answered ${r.run.non2xx} non-2xx responses`);
  };
  const runBareOnce = async (round) => {
    const run = await withBareServer((port) => load(port, o));
    bare.push(run.rps);
    log(`  [round ${round}] bare: ${fmt(run.rps)} req/s (${fmt(run.measured)} in ${run.window.toFixed(2)}s; p50 ${run.latencyP50} ms, p99 ${run.latencyP99} ms; non-2xx ${run.non2xx}, errors ${run.errors})`);
  };
  const runStubbedOnce = async (round) => {
    const r = await withSpl(async (port) => {
      const before = await httpJson(port, 'GET', '/health');
      const run = await load(port, o);
      const after = await httpJson(port, 'GET', '/health');
      return { run, stored: after.body.records - before.body.records };
    }, { stubbed: true });
    stubbed.push(r.run.rps);
    log(`  [round ${round}] stub: ${fmt(r.run.rps)} req/s (${fmt(r.run.measured)} in ${r.run.window.toFixed(2)}s; p50 ${r.run.latencyP50} ms, p99 ${r.run.latencyP99} ms; non-2xx ${r.run.non2xx}; stored ${r.stored})`);
    if (r.stored !== 0) problems.push(`round ${round}: the stubbed side stored ${r.stored} records: the append stub did not load`);
    if (r.run.non2xx > 0 || r.run.acked.size === 0) problems.push(`round ${round}: the stubbed side answered ${r.run.non2xx} non-2xx and ${r.run.acked.size} 2xx`);
  };
  const runCeilingOnce = async (round) => {
    const got = await writerCeilings(o.connections, o.ceilingS);
    ceilings.push(got);
    log(`  [round ${round}] raw writer (info): ${fmt(got[32])} rows/s in 32-row commits, ${fmt(got[16])} in 16-row commits`);
  };
  // Each round runs the three sides in a different order, so drift in the machine's speed hits all alike.
  const orders = [[runSplOnce, runStubbedOnce, runBareOnce], [runBareOnce, runSplOnce, runStubbedOnce], [runStubbedOnce, runBareOnce, runSplOnce]];
  for (let round = 1; round <= o.rounds; round++) {
    for (const side of orders[(round - 1) % orders.length]) await side(round);
    if (o.ceilingS > 0) await runCeilingOnce(round);
    await sleep(200);
  }
  const splRps = median(spl);
  const bareRps = median(bare);
  const stubRps = median(stubbed);
  const ratio = splRps / bareRps;
  log(`  median spl ${fmt(splRps)} req/s ÷ median bare ${fmt(bareRps)} req/s = ${ratio.toFixed(3)} (target ≥ ${TARGET})`);
  log(`  median spl ${fmt(splRps)} req/s ÷ median stubbed ${fmt(stubRps)} req/s = ${(splRps / stubRps).toFixed(3)} (target ≥ ${STORE_TARGET})`);
  if (o.ceilingS > 0) {
    log(
      `  (info, not gated) the raw node-sqlite3 writer alone, nothing else running: median ${fmt(median(ceilings.map((c) => c[32])))} rows/s in 32-row commits, ${fmt(median(ceilings.map((c) => c[16])))} in 16-row ones;` +
        ` the targets ask spl for ${fmt(TARGET * bareRps)} req/s (${TARGET} × bare) and ${fmt(STORE_TARGET * stubRps)} req/s (${STORE_TARGET} × stubbed)`,
    );
  }
  for (const p of problems) log(`  PROBLEM: ${p}`);
  return [
    { name: 'http-ingest', measure: 'spl ÷ bare node:http (req/s)', a: splRps, b: bareRps, unit: 'req/s', ratio, target: TARGET, problems },
    { name: 'http-ingest-store', measure: 'spl ÷ spl with the append stubbed (req/s)', a: splRps, b: stubRps, unit: 'req/s', ratio: splRps / stubRps, target: STORE_TARGET, problems },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rs = await httpIngest();
  process.exitCode = rs.every((r) => r.ratio >= r.target && r.problems.length === 0) ? 0 : 1;
}
