// permission-ingest: the same single-record POST load against one spl instance holding three permission rules,
// with enforcement toggled on and off between rounds. Every request in the "on" run walks all
// three rules (two that do not match, then the allow), so the ratio is the full per-request cost of
// enforcement. Ratio = on ÷ off (req/s); target ≥ 0.9.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from './http-ingest.js';
import { fmt, makeHome, median, runSpl, sleep } from './lib.js';

export const TARGET = 0.9;
const ACTOR = 'did:sync:user:bench';

const RULES = [
  ['deny-untrusted-dispatch', 'resource == "dispatch" && trust(current_actor(), "ops") < 0.5', '30', 'deny'],
  ['config-by-admins', 'record != null && record.thread == "th_engine_config" && current_actor() == "did:sync:user:admin"', '20', 'allow'],
  ['bench-writes', `current_actor() == "${ACTOR}" && (resource == "record_write" || resource == "record_read")`, '10', 'allow'],
];

async function withInstance(fn) {
  const h = await makeHome('spl-bench-perm-');
  try {
    const ok = async (args) => {
      const r = await runSpl(args, h.env);
      if (r.code !== 0) throw new Error(`spl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
      return r;
    };
    await ok(['init']);
    const cfg = join(h.home, 'config.toml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('# actor = "did:sync:user:alice"', `actor = "${ACTOR}"`));
    // TCP without tokens, as in http-ingest: the requests act as the configured admin actor.
    await ok(['serve', '--port', String(h.port), '--insecure-localhost']);
    try {
      for (const [name, expr, priority, effect] of RULES) {
        await ok(['config', 'add-permission-rule', name, '--expression', expr, '--priority', priority, '--effect', effect]);
      }
      await ok(['config', 'add-permission-rule', 'admin-reads', '--expression', `current_actor() == "${ACTOR}" && (resource == "thread_read" || resource == "config_read" || resource == "config_write")`, '--priority', '5']);
      let enforcing = false;
      return await fn(h.port, async (enforce) => {
        if (enforce !== enforcing) await ok(['config', enforce ? 'permissions-enable' : 'permissions-disable']);
        enforcing = enforce;
      });
    } finally {
      await runSpl(['stop'], h.env);
    }
  } finally {
    h.cleanup();
  }
}

/**
 * One instance, enforcement toggled between rounds (spl config permissions-enable / -disable), rounds in the
 * order off on on off off on … so neither side always runs first or on the bigger store. Reported beside the
 * ratio: how far apart the "off" rounds are from each other (the run's own noise); a gap between on and off
 * smaller than that noise would say nothing, and is reported as a problem when the ratio misses its target.
 */
export async function permissionIngest(opts = {}) {
  const o = { connections: 32, warmupS: 2, measureS: 5, rounds: 8, log: console.log, ...opts };
  o.log(`permission-ingest: POST /v1/records with enforcement on (3 rules evaluated per request) vs off, one instance toggled, ${o.connections} connections, ${o.rounds} rounds`);
  const on = [];
  const off = [];
  const problems = [];
  await withInstance(async (port, toggle) => {
    for (let round = 1; round <= o.rounds; round++) {
      const enforce = round % 4 === 2 || round % 4 === 3;
      await toggle(enforce);
      const run = await load(port, o);
      (enforce ? on : off).push(run.rps);
      if (run.non2xx > 0) problems.push(`round ${round} (${enforce ? 'on' : 'off'}): ${run.non2xx} non-2xx responses`);
      o.log(`  [round ${round}] enforcement ${enforce ? 'on ' : 'off'}: ${fmt(run.rps)} req/s (p50 ${run.latencyP50} ms, p99 ${run.latencyP99} ms, non-2xx ${run.non2xx})`);
      await sleep(200);
    }
  });
  const a = median(on);
  const b = median(off);
  const ratio = a / b;
  const noise = (Math.max(...off) - Math.min(...off)) / b;
  o.log(`  median on ${fmt(a)} req/s ÷ median off ${fmt(b)} req/s = ${ratio.toFixed(3)} (target ≥ ${TARGET}); the off rounds spread ${(noise * 100).toFixed(1)} % around their median`);
  if (ratio < TARGET && 1 - ratio < noise) problems.push(`on ÷ off = ${ratio.toFixed(3)} is within this run's noise (off rounds spread ${(noise * 100).toFixed(1)} %): run it again on a quieter machine`);
  return { name: 'permission-ingest', measure: 'enforcement on ÷ off (req/s)', a, b, unit: 'req/s', ratio, target: TARGET, problems };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await permissionIngest();
  process.exitCode = r.ratio >= r.target && r.problems.length === 0 ? 0 : 1;
}
