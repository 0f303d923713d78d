// cli-startup: what one CLI call costs beyond starting node. `spl version`, `spl status` (against a running
// instance, over its socket) and `spl know` (one record written) are timed as whole processes, interleaved
// with `node -e 0` round by round so load from other processes hits both alike. Ratio = median(node -e 0) ÷
// median(spl <cmd>) for each command, the worst of the three reported; target ≥ 0.667 (each call at most 1.5×
// a bare node start). Checks: every call exits 0, and every `spl know` record is in the store.

import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fmt, makeHome, median, runSpl, SPL } from './lib.js';

export const TARGET = 1 / 1.5;
const ROUNDS = Number(process.env.CLI_ROUNDS ?? 15);
const THREAD = 'th_' + 'c'.repeat(64);

function timed(argv, env) {
  const t = performance.now();
  const r = spawnSync(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { ms: performance.now() - t, code: r.status, err: r.stderr.toString() };
}

export async function cliStartup() {
  const h = await makeHome('spl-bench-cli-');
  const problems = [];
  try {
    const up = await runSpl(['serve', '--port', String(h.port)], h.env);
    if (up.code !== 0) throw new Error(`spl serve failed: ${up.stderr}`);
    const cmds = {
      version: [SPL, 'version'],
      status: [SPL, 'status'],
      know: [SPL, 'know', 'bench', '--thread', THREAD],
    };
    const times = { node: [], version: [], status: [], know: [] };
    // One warm-up round: the page cache holds node, the modules and the store afterwards, for every side.
    for (const round of [-1, ...Array.from({ length: ROUNDS }, (_, i) => i)]) {
      const order = round % 2 === 0 ? ['node', 'version', 'status', 'know'] : ['know', 'status', 'version', 'node'];
      for (const k of order) {
        const r = k === 'node' ? timed(['-e', '0'], h.env) : timed(cmds[k], h.env);
        if (r.code !== 0) problems.push(`${k} exited ${r.code}: ${r.err.trim().split('\n')[0]}`);
        if (round >= 0) times[k].push(r.ms);
      }
    }
    const rec = await runSpl(['thread', 'records', THREAD, '-o', 'json'], h.env);
    const written = rec.code === 0 ? JSON.parse(rec.stdout).length : -1;
    if (written !== ROUNDS + 1) problems.push(`spl know wrote ${ROUNDS + 1} records; the thread holds ${written}`);
    const base = median(times.node);
    const per = Object.fromEntries(['version', 'status', 'know'].map((k) => [k, median(times[k])]));
    for (const [k, ms] of Object.entries(per)) console.log(`  spl ${k.padEnd(7)} median ${fmt(ms, 1)} ms   ×${(ms / base).toFixed(2)} node -e 0 (${fmt(base, 1)} ms)`);
    const worst = Object.entries(per).sort((a, b) => b[1] - a[1])[0];
    return { name: 'cli-startup', measure: `node -e 0 ÷ slowest (spl ${worst[0]})`, a: base, b: worst[1], unit: 'ms', ratio: base / worst[1], target: TARGET, problems };
  } finally {
    await runSpl(['stop'], h.env).catch(() => undefined);
    h.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await cliStartup();
  console.log(JSON.stringify(r));
}
