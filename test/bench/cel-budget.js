// cel-budget: what the CEL evaluation budget costs on the permission path. The same Permissions.decide calls
// over the same rules, in this process, against two engines: one metered as the instance runs (every
// comprehension's loop condition counted and the clock read), one compiled without the instrumentation.
// Rounds are short and alternate which side goes first; each round's ratio compares two runs a few hundred
// ms apart, so load from other processes mostly cancels out. Ratio = median over rounds of metered ÷
// unmetered (decisions/s); target ≥ 0.9. A correctness check: both engines must reach the same decision for every request.

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { CelEngine } from '../../dist/engine/cel.js';
import { RuleBudgetTally } from '../../dist/engine/cel-rule-budget.js';
import { Permissions } from '../../dist/engine/permissions.js';
import { engineConfigFold } from '../../dist/engine/folds/engine-config.js';
import { trustFold } from '../../dist/engine/folds/trust.js';
import { fmt, median } from './lib.js';

export const TARGET = 0.9;
const ACTOR = 'did:sync:user:bench';
const ADMIN = 'did:sync:user:admin';

// The three rules of permission-ingest, plus two that iterate over what a record carries (its parents and
// a tag list in its body), as realistic rules do.
const RULES = [
  ['deny-untrusted-dispatch', 'resource == "dispatch" && trust(current_actor(), "ops") < 0.5', 30, 'deny'],
  ['config-by-admins', `record != null && record.thread == "th_engine_config" && current_actor() == "${ADMIN}"`, 20, 'allow'],
  ['no-embargoed-tags', 'record != null && has(record.body.tags) && record.body.tags.exists(t, t.startsWith("embargo:"))', 15, 'deny'],
  ['known-parents', 'record != null && record.parents.all(p, size(p) == 64) && size(record.parents) <= 8', 12, 'allow'],
  ['bench-writes', `current_actor() == "${ACTOR}" && (resource == "record_write" || resource == "record_read")`, 10, 'allow'],
];

function config() {
  let state = engineConfigFold.init();
  RULES.forEach(([name, expression, priority, effect], i) => {
    state = engineConfigFold.apply(state, {
      id: String(i + 1).padStart(64, '0'), parents: [], thread: 'th_engine_config', actor: ADMIN, act: 'LEARN',
      body: { topic: 'permission_rule', name, expression, priority, effect, enabled: true },
      clock: i, data_type: 'SCALAR', judged_by: null, sequence: i + 1, created_at: '2026-01-01T00:00:00Z',
    });
  });
  return state;
}

function requests() {
  const out = [];
  for (let i = 0; i < 64; i++) {
    const parents = Array.from({ length: i % 4 }, (_, k) => String(i * 10 + k).padStart(64, 'a'));
    const tags = Array.from({ length: 8 }, (_, k) => (i % 16 === 0 && k === 7 ? 'embargo:press' : `topic:${k}`));
    out.push({
      actor: i % 8 === 0 ? 'did:sync:user:other' : ACTOR, resource: i % 5 === 0 ? 'record_read' : 'record_write', method: 'POST', path: '/v1/records',
      record: { thread: 'th_' + String(i).padStart(64, '0'), actor: ACTOR, act: 'DO', parents, body: { n: i, tags } },
    });
  }
  return out;
}

export async function celBudget(opts = {}) {
  const o = { rounds: 16, roundMs: 300, log: console.log, ...opts };
  const cfg = config();
  const trust = trustFold.init();
  const logger = pino({ enabled: false });
  const make = (metered) => new Permissions(() => cfg, () => trust, logger, Date.now, new CelEngine({ metered }), { tally: new RuleBudgetTally() });
  const sides = { metered: make(true), unmetered: make(false) };
  const reqs = requests();
  const problems = [];
  for (const r of reqs) {
    const a = sides.metered.decide(r);
    const b = sides.unmetered.decide(r);
    if (a.allowed !== b.allowed || a.rule !== b.rule) problems.push(`${r.actor} ${r.resource}: metered ${JSON.stringify(a)} vs unmetered ${JSON.stringify(b)}`);
  }
  o.log(`cel-budget: Permissions.decide over ${RULES.length} rules (2 iterate), ${reqs.length} distinct requests, metered vs unmetered engine in one process, ${o.rounds} rounds of ${o.roundMs} ms alternating`);
  const rate = (perms) => {
    let n = 0;
    const end = performance.now() + o.roundMs;
    while (performance.now() < end) {
      for (const r of reqs) perms.decide(r);
      n += reqs.length;
    }
    return n / (o.roundMs / 1000);
  };
  rate(sides.metered);
  rate(sides.unmetered); // warm-up
  const got = { metered: [], unmetered: [] };
  const ratios = [];
  for (let round = 1; round <= o.rounds; round++) {
    const order = round % 2 === 1 ? ['metered', 'unmetered'] : ['unmetered', 'metered'];
    const r = {};
    for (const side of order) {
      r[side] = rate(sides[side]);
      got[side].push(r[side]);
    }
    ratios.push(r.metered / r.unmetered);
    o.log(`  [round ${round}] metered ${fmt(r.metered)}, unmetered ${fmt(r.unmetered)} decisions/s (${(1e6 / r.metered).toFixed(2)} vs ${(1e6 / r.unmetered).toFixed(2)} µs each): ${(r.metered / r.unmetered).toFixed(3)}`);
  }
  const a = median(got.metered);
  const b = median(got.unmetered);
  const ratio = median(ratios);
  o.log(`  median of the per-round ratios ${ratio.toFixed(3)} (target ≥ ${TARGET}); medians ${fmt(a)} metered vs ${fmt(b)} unmetered decisions/s`);
  return { name: 'cel-budget', measure: 'metered ÷ unmetered (decisions/s)', a, b, unit: 'decisions/s', ratio, target: TARGET, problems };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await celBudget();
  process.exitCode = r.ratio >= r.target && r.problems.length === 0 ? 0 : 1;
}
