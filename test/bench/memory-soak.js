// memory-soak: resident memory of a serving instance follows its working set, not its history. One instance
// takes records over its unix socket in 1,000-record batches, every record on a thread of its own, so the store
// grows to SOAK_SMALL (100,000) distinct threads and then to SOAK_BIG (1,000,000). After each mark the ingest
// pauses, /health is read, and VmRSS of the instance is sampled SAMPLES times a second apart (the median is
// used, so one GC or page-cache moment does not decide). Ratio = RSS at 100k ÷ RSS at 1M; target ≥ 1/1.3 (ten
// times the threads cost at most 1.3× the memory). The fold sizes from `spl status -o json` are printed beside.
// Checks: every batch acknowledged with every record; /health's records and threads match what was sent.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fmt, httpJson, makeHome, median, runSpl, sleep } from './lib.js';

export const TARGET = 1 / 1.3;
const SMALL = Number(process.env.SOAK_SMALL ?? 100_000);
const BIG = Number(process.env.SOAK_BIG ?? 1_000_000);
const SAMPLES = 5;
const BATCH = 1000;
const ACTORS = Array.from({ length: 8 }, (_, i) => `did:sync:user:soak${i}`);

const rssOf = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;

async function ingest(socket, from, to, problems) {
  for (let start = from; start < to; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, to - start) }, (_, j) => {
      const n = start + j;
      return { thread: 'th_' + (n + 1).toString(16).padStart(64, '0'), actor: ACTORS[n % ACTORS.length], act: n % 5 === 0 ? 'INTEND' : 'DO', body: { kind: 'bench.soak', n, text: `step ${n} of the soak, a body of ordinary size` } };
    });
    const res = await httpJson(socket, 'POST', '/v1/records', batch);
    if (res.status !== 201 || !Array.isArray(res.body) || res.body.length !== batch.length) problems.push(`batch at ${start} answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
}

async function mark(h, socket, pid, expected, problems, log) {
  await sleep(1000);
  const health = (await httpJson(socket, 'GET', '/health')).body;
  if (health.records !== expected.records) problems.push(`/health reports ${health.records} records, expected ${expected.records}`);
  if (health.threads !== expected.threads) problems.push(`/health reports ${health.threads} threads, expected ${expected.threads}`);
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) {
    samples.push(rssOf(pid));
    await sleep(1000);
  }
  const status = JSON.parse((await runSpl(['status', '-o', 'json'], h.env)).stdout);
  log(`  ${fmt(health.threads)} threads: VmRSS ${mib(median(samples))} (samples ${samples.map(mib).join(', ')}); heap ${mib(status.memory.heap_used_bytes)}; fold entries ${JSON.stringify(status.memory.fold_entries)}`);
  return median(samples);
}

export async function memorySoak(opts = {}) {
  const log = opts.log ?? console.log;
  log(`memory-soak: VmRSS of one instance after ${fmt(SMALL)} and after ${fmt(BIG)} records, each on a thread of its own`);
  const problems = [];
  const h = await makeHome('spl-bench-soak-');
  try {
    const up = await runSpl(['serve', '--port', String(h.port)], h.env, 120_000);
    if (up.code !== 0) throw new Error(`spl serve failed: ${up.stderr}${up.stdout}`);
    const pid = Number(readFileSync(join(h.home, 'run', 'spl.pid'), 'utf8').trim());
    const socket = { socketPath: join(h.home, 'run', 'spl.sock') };
    const base = (await httpJson(socket, 'GET', '/health')).body;
    const t = performance.now();
    await ingest(socket, 0, SMALL, problems);
    const small = await mark(h, socket, pid, { records: base.records + SMALL, threads: base.threads + SMALL }, problems, log);
    await ingest(socket, SMALL, BIG, problems);
    const big = await mark(h, socket, pid, { records: base.records + BIG, threads: base.threads + BIG }, problems, log);
    log(`  ingest took ${((performance.now() - t) / 1000).toFixed(0)}s`);
    const ratio = small / big;
    log(`  VmRSS ${mib(small)} (${fmt(SMALL)} threads) ÷ ${mib(big)} (${fmt(BIG)} threads) = ${ratio.toFixed(3)} (target ≥ ${TARGET.toFixed(3)}: ten times the threads, at most 1.3× the memory)`);
    for (const p of problems) log(`  PROBLEM: ${p}`);
    return { name: 'memory-soak', measure: `RSS ${fmt(SMALL)} ÷ RSS ${fmt(BIG)} threads`, a: small / 1048576, b: big / 1048576, unit: 'MiB', ratio, target: TARGET, problems };
  } finally {
    await runSpl(['stop'], h.env, 120_000).catch(() => undefined);
    h.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await memorySoak();
  process.exitCode = r.ratio >= r.target && r.problems.length === 0 ? 0 : 1;
}
