// Property: folding records incrementally as they commit gives exactly the state of a full rebuild.

import t, { type Test } from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FoldHost } from '../../lib/engine/fold-host.js';
import { CORE_FOLDS } from '../../lib/engine/engine.js';
import { RecordLog } from '../../lib/store/record-log.js';
import { validateRecord } from '../../lib/kernel/record.js';

const ACTORS = ['did:sync:user:alice', 'did:sync:agent:bob', 'did:sync:user:admin'];
const THREADS = ['th_engine_config', 'th_' + '1'.repeat(64), 'th_' + '2'.repeat(64)];

/** A deterministic, comparable picture of every fold's state (Maps and Sets become sorted arrays). */
function snapshot(host: FoldHost): string {
  return JSON.stringify(
    host.folds.map((f) => host.state(f)),
    (_k, v) => (v instanceof Map ? [...v.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0]))) : v instanceof Set ? [...v].sort() : v),
  );
}

const draftArb = fc.record({
  thread: fc.constantFrom(...THREADS),
  actor: fc.constantFrom(...ACTORS),
  act: fc.constantFrom('INTEND', 'DO', 'KNOW', 'LEARN'),
  body: fc.oneof(
    fc.record({ topic: fc.constantFrom('routing_rule', 'permission_rule', 'permissions_enabled'), name: fc.constantFrom('a', 'b', 'c'), enabled: fc.boolean(), priority: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ text: fc.string({ maxLength: 8 }) }),
    fc.record({ verdict: fc.constantFrom('accept', 'reject'), domain: fc.constantFrom('code', 'ops'), judged_by: fc.constantFrom(...ACTORS) }),
  ),
});

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'spl-fold-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'hub.db');
}

t.test('incremental application equals a full rebuild, for random logs and commit groupings', async (t) => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(draftArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 }), async (groups) => {
      const path = tmp(t);
      const log = await RecordLog.open(path, { create: true });
      try {
        const live = new FoldHost(CORE_FOLDS);
        await live.rebuild(log);
        log.onCommit((records) => live.apply(records));
        // Some groups are appended concurrently so they share a transaction; others one at a time.
        for (let i = 0; i < groups.length; i += 2) {
          const pair = groups.slice(i, i + 2).map((g) => g.map((d) => validateRecord(d)));
          await Promise.all(pair.map((p) => log.append(p)));
        }
        const rebuilt = new FoldHost(CORE_FOLDS);
        await rebuilt.rebuild(log);
        runs++;
        return snapshot(live) === snapshot(rebuilt) && live.sequence === log.recordCount;
      } finally {
        await log.close();
      }
    }),
    { numRuns: 40 },
  );
  t.equal(runs, 40, 'every generated log was checked');
});

t.test('apply ignores records already folded in', async (t) => {
  const log = await RecordLog.open(tmp(t), { create: true });
  t.teardown(() => log.close());
  const host = new FoldHost(CORE_FOLDS);
  const [o] = await log.append([validateRecord({ thread: THREADS[1], actor: ACTORS[0], act: 'DO', body: {} })]);
  host.apply([o!.record]);
  host.apply([o!.record]);
  const before = snapshot(host);
  const rebuilt = new FoldHost(CORE_FOLDS);
  await rebuilt.rebuild(log);
  t.equal(before, snapshot(rebuilt));
});

t.test('sizes: each fold\'s entries, for the memory report', async (t) => {
  const log = await RecordLog.open(tmp(t), { create: true });
  t.teardown(() => log.close());
  const host = new FoldHost(CORE_FOLDS);
  t.equal(host.sizes().engine_config, 0);
  const outcomes = await log.append(['a', 'b', 'c'].map((name) => validateRecord({ thread: THREADS[0], actor: ACTORS[2], act: 'LEARN', body: { topic: 'routing_rule', name, enabled: true, priority: 1 } })));
  host.apply(outcomes.map((o) => o.record));
  t.equal(host.sizes().engine_config, 3, 'three rules: three entries in the engine-config fold');
  t.same(Object.keys(host.sizes()).sort(), CORE_FOLDS.map((f) => f.name).sort(), 'one figure per fold');
});
