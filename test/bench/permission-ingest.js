// permission-ingest: the same single-record POST load against two spl instances holding the same three
// permission rules, one with enforcement on and one with it off. Every request in the "on" run walks all
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

async function withInstance(enforce, fn) {
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
      await ok(['config', 'add-permission-rule', 'admin-reads', '--expression', `current_actor() == "${ACTOR}" && (resource == "thread_read" || resource == "config_read")`, '--priority', '5']);
      if (enforce) await ok(['config', 'permissions-enable']);
      return await fn(h.port);
    } finally {
      await runSpl(['stop'], h.env);
    }
  } finally {
    h.cleanup();
  }
}

export async function permissionIngest(opts = {}) {
  const o = { connections: 32, warmupS: 2, measureS: 8, rounds: 2, log: console.log, ...opts };
  o.log(`permission-ingest: POST /v1/records with enforcement on (3 rules evaluated per request) vs off, ${o.connections} connections, ${o.rounds} rounds alternating`);
  const on = [];
  const off = [];
  const problems = [];
  const once = async (enforce, round) => {
    const run = await withInstance(enforce, (port) => load(port, o));
    (enforce ? on : off).push(run.rps);
    if (run.non2xx > 0) problems.push(`round ${round} (${enforce ? 'on' : 'off'}): ${run.non2xx} non-2xx responses`);
    o.log(`  [round ${round}] enforcement ${enforce ? 'on ' : 'off'}: ${fmt(run.rps)} req/s (p50 ${run.latencyP50} ms, p99 ${run.latencyP99} ms, non-2xx ${run.non2xx})`);
  };
  for (let round = 1; round <= o.rounds; round++) {
    const order = round % 2 === 1 ? [false, true] : [true, false];
    for (const enforce of order) await once(enforce, round);
    await sleep(200);
  }
  const a = median(on);
  const b = median(off);
  const ratio = a / b;
  o.log(`  median on ${fmt(a)} req/s ÷ median off ${fmt(b)} req/s = ${ratio.toFixed(3)} (target ≥ ${TARGET})`);
  return { name: 'permission-ingest', measure: 'enforcement on ÷ off (req/s)', a, b, unit: 'req/s', ratio, target: TARGET, problems };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await permissionIngest();
  process.exitCode = r.ratio >= r.target && r.problems.length === 0 ? 0 : 1;
}
