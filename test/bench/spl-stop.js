// spl-stop: how long `spl stop` takes on a store of 10,000 records, against the instance's own shutdown (drain,
// services, the WAL checkpoint — from its "shutting down" to its "shutdown complete" log lines). Target: the whole
// command within 0.5 s of the shutdown's own time (so ratio = (500 ms + shutdown) ÷ spl stop, target ≥ 1). Each
// round writes 1,000 more records first, so the checkpoint has a WAL to copy. Checks: every stop exits 0, the
// PID file and socket are gone, and the instance's process is no longer running (a zombie not yet reaped counts
// as exited: it holds nothing).
//
// Env knobs: STOP_ROUNDS (default 5).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fmt, httpJson, makeHome, median, runSpl } from './lib.js';

export const TARGET = 1;
const ROUNDS = Number(process.env.STOP_ROUNDS ?? 5);
const thread = (i) => 'th_' + i.toString(16).padStart(64, '0');

async function ingest(h, from, n) {
  const sock = { socketPath: join(h.home, 'run', 'spl.sock') };
  for (let start = from; start < from + n; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, from + n - start) }, (_, i) => ({ thread: thread(start + i), actor: 'did:sync:user:bench', act: 'KNOW', body: { n: start + i } }));
    const r = await httpJson(sock, 'POST', '/v1/records', batch);
    if (r.status !== 201) throw new Error(`ingest answered ${r.status}: ${r.text.slice(0, 200)}`);
  }
}

/** The instance's own shutdown, from its log: "shutting down" → "shutdown complete", in ms (the last pair). */
function shutdownMs(h) {
  const lines = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const start = lines.findLast((l) => String(l.msg).startsWith('shutting down'));
  const end = lines.findLast((l) => String(l.msg).startsWith('shutdown complete'));
  return Date.parse(end.time) - Date.parse(start.time);
}

export async function splStop() {
  const h = await makeHome('spl-bench-stop-');
  const problems = [];
  const stops = [];
  const shutdowns = [];
  try {
    let written = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const up = await runSpl(['serve', '--port', String(h.port)], h.env);
      if (up.code !== 0) throw new Error(`spl serve failed: ${up.stderr}`);
      const pid = Number(readFileSync(join(h.home, 'run', 'spl.pid'), 'utf8'));
      const n = round === 0 ? 10_000 : 1000;
      await ingest(h, written, n);
      written += n;
      const t = performance.now();
      const r = await runSpl(['stop'], h.env);
      const ms = performance.now() - t;
      if (r.code !== 0) problems.push(`round ${round}: spl stop exited ${r.code}: ${r.stderr.trim()}`);
      for (const f of ['run/spl.pid', 'run/spl.sock']) if (existsSync(join(h.home, f))) problems.push(`round ${round}: ${f} is still there after spl stop`);
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
      if (stat && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') problems.push(`round ${round}: pid ${pid} still runs after spl stop returned`);
      const own = shutdownMs(h);
      stops.push(ms);
      shutdowns.push(own);
      console.log(`  [round ${round}] ${written} records: spl stop ${fmt(ms, 0)} ms; the instance's own shutdown (checkpoint included) ${own} ms`);
    }
    const a = 500 + median(shutdowns);
    const b = median(stops);
    console.log(`  spl stop: median ${fmt(b, 0)} ms; the shutdown itself: median ${fmt(median(shutdowns), 0)} ms; target spl stop ≤ 500 ms + that`);
    return { name: 'spl-stop', measure: '(0.5 s + the shutdown) ÷ spl stop', a, b, unit: 'ms', ratio: a / b, target: TARGET, problems };
  } finally {
    await runSpl(['stop'], h.env).catch(() => undefined);
    h.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await splStop();
  console.log(r);
}
