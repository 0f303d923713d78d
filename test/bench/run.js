// `npm run bench`: runs every benchmark (after `npm run build`, via prebench), prints a summary table and exits
// non-zero when a ratio is under its target or a benchmark found a correctness problem (lost, duplicated
// or unacknowledged records; stores that differ). Ratios are measured within this run against a baseline
// run on the same machine at the same time, never against hard-coded throughput numbers.
//
//   node test/bench/run.js [http-ingest] [batch-ingest] [permission-ingest] [backup-under-load] [cel-budget] [cli-startup] [startup] [task-list] [dispatch-overhead] [fleet-heartbeats] [spl-stop] [memory-soak]   run only the named benchmarks

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { backupUnderLoad } from './backup-under-load.js';
import { batchIngest } from './batch-ingest.js';
import { celBudget } from './cel-budget.js';
import { cliStartup } from './cli-startup.js';
import { httpIngest } from './http-ingest.js';
import { permissionIngest } from './permission-ingest.js';
import { startup } from './startup.js';
import { taskList } from './task-list.js';
import { dispatchOverhead } from './dispatch-overhead.js';
import { fleetHeartbeats } from './fleet-heartbeats.js';
import { splStop } from './spl-stop.js';
import { memorySoak } from './memory-soak.js';
import { fmt } from './lib.js';

const BENCHES = { 'http-ingest': httpIngest, 'batch-ingest': batchIngest, 'permission-ingest': permissionIngest, 'backup-under-load': backupUnderLoad, 'cel-budget': celBudget, 'cli-startup': cliStartup, startup, 'task-list': taskList, 'dispatch-overhead': dispatchOverhead, 'fleet-heartbeats': fleetHeartbeats, 'spl-stop': splStop, 'memory-soak': memorySoak };

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!(w in BENCHES)) {
    console.error(`unknown benchmark ${w}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
}
const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);

console.log(`spl benchmarks — node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}, tmp ${os.tmpdir()}\n`);
const started = performance.now();
const results = [];
for (const name of names) {
  const t = performance.now();
  try {
    const got = await BENCHES[name]();
    for (const r of [got].flat()) results.push({ ...r, seconds: (performance.now() - t) / 1000 });
  } catch (err) {
    console.log(`  ${name} FAILED: ${err && err.stack ? err.stack : err}`);
    results.push({ name, measure: '-', ratio: NaN, target: NaN, problems: [`crashed: ${err && err.message}`], seconds: (performance.now() - t) / 1000 });
  }
  console.log('');
}

const rows = results.map((r) => {
  const pass = Number.isFinite(r.ratio) && r.ratio >= r.target && r.problems.length === 0;
  return {
    benchmark: r.name,
    measured: r.a === undefined ? '-' : `${fmt(r.a)} vs ${fmt(r.b)} ${r.unit}`,
    ratio: Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : 'n/a',
    target: Number.isFinite(r.target) ? `≥ ${r.target}` : '-',
    checks: r.problems.length === 0 ? 'ok' : `${r.problems.length} problem(s)`,
    time: `${r.seconds.toFixed(1)}s`,
    result: pass ? 'PASS' : 'FAIL',
    pass,
  };
});
const cols = ['benchmark', 'measured', 'ratio', 'target', 'checks', 'time', 'result'];
const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => String(r[c]).length))]));
const line = (r) => cols.map((c) => String(r[c]).padEnd(width[c])).join('  ');
console.log('summary');
console.log(line(Object.fromEntries(cols.map((c) => [c, c]))));
console.log(cols.map((c) => '-'.repeat(width[c])).join('  '));
for (const r of rows) console.log(line(r));
for (const r of results) for (const p of r.problems) console.log(`  ${r.name}: ${p}`);
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)}s`);
process.exitCode = rows.every((r) => r.pass) ? 0 : 1;
