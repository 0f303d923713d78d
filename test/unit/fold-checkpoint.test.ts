// Fold checkpoints. Property: loading a checkpoint taken after any prefix of a log and folding in the rest gives
// exactly the state of a full rebuild, for every fold an instance hosts. And a checkpoint that does not belong to
// the binary, the folds or the store is not used: the start-up rebuilds in full and says why.

import t, { type Test } from 'tap';
import fc from 'fast-check';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { pino, type Logger } from 'pino';
import { FoldHost } from '../../lib/engine/fold-host.js';
import { CORE_FOLDS, Engine } from '../../lib/engine/engine.js';
import { encodeCheckpoint, fingerprints, readCheckpoint, writeCheckpointFile } from '../../lib/engine/fold-checkpoint.js';
import type { Fold } from '../../lib/engine/fold.js';
import { INSTANCE_FOLDS } from '../../lib/instance/folds.js';
import { RecordLog } from '../../lib/store/record-log.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { ENGINE_CONFIG_THREAD } from '../../lib/engine/folds/engine-config.js';
import { TASK_COMMENT, TASK_EDITED, TASK_VERBS } from '../../lib/engine/folds/tasks.js';
import { ADAPTER_TOPIC } from '../../lib/dispatch/adapters.js';
import { KIND } from '../../lib/dispatch/records.js';
import { FLEET_CONTROL_THREAD, FREEZE_TOPIC } from '../../lib/fleet/control.js';
import { REGISTRY_THREAD, REGISTRY_TOPIC } from '../../lib/fleet/registry.js';
import { ASSIGN_KIND, REFUSED_KIND } from '../../lib/fleet/remote.js';

const FOLDS: ReadonlyArray<Fold<unknown>> = [...CORE_FOLDS, ...INSTANCE_FOLDS];
const ACTORS = ['did:sync:user:alice', 'did:sync:agent:bob', 'did:sync:user:admin'];
const THREADS = [ENGINE_CONFIG_THREAD, FLEET_CONTROL_THREAD, REGISTRY_THREAD, 'th_' + '1'.repeat(64), 'th_' + '2'.repeat(64), 'th_' + '3'.repeat(64)];
const SUBS = ['th_' + '4'.repeat(64), 'th_' + '5'.repeat(64)];
const WORKERS = ['did:sync:instance:w1', 'did:sync:instance:w2'];
const TASK_TOPICS = [...new Set(Object.values(TASK_VERBS).map((v) => v.topic)), 'task_verdict', TASK_COMMENT, TASK_EDITED];

/** Bodies that reach every fold: rules and toggles, verdicts, tasks and their moves, dispatches, adapters, fleet. */
const bodyArb = fc.oneof(
  fc.record({ topic: fc.constantFrom('routing_rule', 'permission_rule', 'permissions_enabled'), name: fc.constantFrom('a', 'b'), enabled: fc.boolean(), priority: fc.integer({ min: 0, max: 9 }), expression: fc.constant('true') }),
  fc.record({ text: fc.string({ maxLength: 8 }), fulfills: fc.option(fc.constant('x'.repeat(64)), { nil: null }), cancels: fc.boolean() }),
  fc.record({ verdict: fc.constantFrom('accept', 'reject'), domain: fc.constantFrom('code', 'ops'), judged_by: fc.constantFrom(...ACTORS) }),
  fc.record({ task: fc.constant(true), alias: fc.constantFrom('TASK-1', 'TASK-2', 'OPS-7'), title: fc.string({ maxLength: 6 }), domain: fc.constantFrom('code', 'payments') }),
  fc.record({ topic: fc.constantFrom(...TASK_TOPICS), verdict: fc.constantFrom('accept', 'reject'), text: fc.string({ maxLength: 6 }), start: fc.boolean() }),
  fc.record({ kind: fc.constant(KIND.request), sub_thread: fc.constantFrom(...SUBS), alias: fc.constant('TASK-1'), attempt: fc.nat(3), adapter: fc.constant('did:sync:agent:claude') }),
  fc.record({ kind: fc.constantFrom(KIND.spawn, KIND.session, KIND.exit, KIND.complete), exit_code: fc.nat(2), verdict: fc.constantFrom('success', 'failure') }),
  fc.record({ kind: fc.constantFrom(ASSIGN_KIND, REFUSED_KIND), worker: fc.constantFrom(...WORKERS), alias: fc.constant('TASK-1'), reason: fc.constant('busy') }),
  fc.record({ subtasks: fc.constant(['one', 'two']), join: fc.constantFrom('all', 'any') }),
  fc.record({ task: fc.constant(true), alias: fc.constantFrom('SUB-1', 'SUB-2'), fanout: fc.record({ parent: fc.constantFrom(...THREADS.slice(3)), index: fc.nat(1) }) }),
);

/** Records a fold counts only on their own thread or act: rules and toggles, adapters, freezes, the fleet registry (LEARNs), assignments (DO). */
const placedArb = fc.oneof(
  fc.record({ thread: fc.constant(ENGINE_CONFIG_THREAD), body: fc.record({ topic: fc.constantFrom('routing_rule', 'permission_rule', 'permissions_enabled'), name: fc.constantFrom('a', 'b'), enabled: fc.boolean(), priority: fc.nat(9), expression: fc.constant('true') }) }),
  fc.record({ thread: fc.constant(ENGINE_CONFIG_THREAD), body: fc.record({ topic: fc.constant(ADAPTER_TOPIC), did: fc.constantFrom('did:sync:agent:claude', 'did:sync:agent:x'), family: fc.constant('exec'), command: fc.constant('true'), removed: fc.boolean() }) }),
  fc.record({ thread: fc.constant(FLEET_CONTROL_THREAD), body: fc.record({ topic: fc.constant(FREEZE_TOPIC), namespace: fc.constantFrom('payments', 'code'), level: fc.constantFrom('soft', 'hard'), active: fc.boolean(), grace_secs: fc.nat(60), emergency: fc.boolean() }) }),
  fc.record({ thread: fc.constant(REGISTRY_THREAD), body: fc.record({ topic: fc.constant(REGISTRY_TOPIC), did: fc.constantFrom(...WORKERS), state: fc.constantFrom('joined', 'left') }) }),
  fc.record({ thread: fc.constantFrom(...THREADS.slice(3)), act: fc.constant('DO'), body: fc.record({ kind: fc.constant(ASSIGN_KIND), worker: fc.constantFrom(...WORKERS), alias: fc.constant('TASK-1') }) }),
);

const draftArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ thread: fc.constantFrom(...THREADS, ...SUBS), actor: fc.constantFrom(...ACTORS), act: fc.constantFrom('INTEND', 'DO', 'KNOW', 'LEARN'), body: bodyArb }) },
  { weight: 1, arbitrary: fc.tuple(placedArb, fc.constantFrom(...ACTORS)).map(([p, actor]) => ({ thread: p.thread, actor, act: 'act' in p ? p.act : 'LEARN', body: p.body })) },
);

/**
 * One log, run at every check, that gives every fold some state: the coverage assertion below must not hang on
 * what the random logs happen to contain (a freeze is 1 draft in 25, and only an active last one leaves state).
 */
const EVERY_FOLD: Array<{ thread: string; actor: string; act: string; body: Record<string, unknown> }> = [
  { thread: ENGINE_CONFIG_THREAD, actor: ACTORS[2]!, act: 'LEARN', body: { topic: 'routing_rule', name: 'a', enabled: true, priority: 1, expression: 'true' } },
  { thread: ENGINE_CONFIG_THREAD, actor: ACTORS[2]!, act: 'LEARN', body: { topic: ADAPTER_TOPIC, did: 'did:sync:agent:claude', family: 'exec', command: 'true', removed: false } },
  { thread: FLEET_CONTROL_THREAD, actor: ACTORS[2]!, act: 'LEARN', body: { topic: FREEZE_TOPIC, namespace: 'payments', level: 'soft', active: true, grace_secs: 0, emergency: false } },
  { thread: REGISTRY_THREAD, actor: ACTORS[2]!, act: 'LEARN', body: { topic: REGISTRY_TOPIC, did: WORKERS[0]!, state: 'joined' } },
  { thread: THREADS[3]!, actor: ACTORS[0]!, act: 'INTEND', body: { task: true, alias: 'TASK-1', title: 't', domain: 'code' } },
  { thread: THREADS[3]!, actor: ACTORS[0]!, act: 'DO', body: { kind: ASSIGN_KIND, worker: WORKERS[0]!, alias: 'TASK-1' } },
  { thread: THREADS[3]!, actor: ACTORS[0]!, act: 'DO', body: { kind: KIND.request, sub_thread: SUBS[0]!, alias: 'TASK-1', attempt: 0, adapter: 'did:sync:agent:claude' } },
  { thread: THREADS[3]!, actor: ACTORS[0]!, act: 'INTEND', body: { subtasks: ['one', 'two'], join: 'all' } },
  { thread: THREADS[4]!, actor: ACTORS[0]!, act: 'INTEND', body: { task: true, alias: 'SUB-1', fanout: { parent: THREADS[3]!, index: 0 } } },
  { thread: THREADS[3]!, actor: ACTORS[1]!, act: 'KNOW', body: { text: 'done', fulfills: null, cancels: false } },
  { thread: THREADS[3]!, actor: ACTORS[2]!, act: 'KNOW', body: { verdict: 'accept', domain: 'code', judged_by: ACTORS[1]! } },
];

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'spl-ckpt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Appends one draft; a draft the kernel or the clock rules refuse is skipped (the log is what was accepted). */
async function appendOrSkip(log: RecordLog, d: Parameters<typeof validateRecord>[0]): Promise<void> {
  try {
    await log.append([validateRecord(d)]);
  } catch {
    // refused: not part of the log
  }
}

function statesOf(host: FoldHost): unknown[] {
  return host.folds.map((f) => host.state(f));
}

/** Encodes the host's checkpoint and reads it back through the file, as a start-up would. */
async function roundTrip(host: FoldHost, path: string, code = 'test'): Promise<ReturnType<typeof readCheckpoint>> {
  const c = host.checkpoint();
  await writeCheckpointFile(path, encodeCheckpoint({ code, folds: fingerprints(host.folds), sequence: c.sequence, record: c.record, first: c.first, written_at: new Date(0).toISOString() }, c.payload));
  return readCheckpoint(path, code, host.folds);
}

t.test('checkpoint + tail ≡ full rebuild, for random logs and random checkpoint points, over every instance fold', async (t) => {
  const dir = tmp(t);
  let runs = 0;
  let n = 0;
  const reached = new Set<string>();
  await fc.assert(
    fc.asyncProperty(fc.array(draftArb, { minLength: 1, maxLength: 60 }), fc.double({ min: 0, max: 1, noNaN: true }), async (drafts, at) => {
      n++;
      const log = await RecordLog.open(join(dir, `hub-${n}.db`), { create: true });
      try {
        const cut = Math.max(1, Math.min(drafts.length, Math.ceil(at * drafts.length)));
        // The records go in one or two at a time; validateRecord or a clock rule may refuse some, which is fine.
        for (const d of drafts.slice(0, cut)) await appendOrSkip(log, d);
        if (log.recordCount === 0) return true;
        const before = new FoldHost(FOLDS);
        await before.rebuild(log);
        const cp = await roundTrip(before, join(dir, `hub-${n}.db.folds`));
        for (const d of drafts.slice(cut)) await appendOrSkip(log, d);
        if (!cp || !cp.ok) throw new Error(`the checkpoint did not read back: ${cp ? cp.reason : 'missing'}`);
        const resumed = new FoldHost(FOLDS);
        const tail = await resumed.resume(log, { payload: cp.payload, sequence: cp.header.sequence, record: cp.header.record, first: cp.header.first });
        const full = new FoldHost(FOLDS);
        await full.rebuild(log);
        runs++;
        for (const [name, size] of Object.entries(full.sizes())) if (size > 0) reached.add(name);
        return tail.records === log.recordCount - cp.header.sequence && resumed.sequence === full.sequence && isDeepStrictEqual(statesOf(resumed), statesOf(full));
      } finally {
        await log.close();
      }
    }),
    { numRuns: 60, examples: [[EVERY_FOLD, 0.5]] },
  );
  t.same([...reached].sort(), FOLDS.map((f) => f.name).sort(), 'the generated logs gave every fold some state to checkpoint');
  t.ok(runs >= 50, `most generated logs were checked (${runs} of 60; a log whose every record was refused has nothing to checkpoint)`);
});

/** A logger whose lines the test reads. */
function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) }) as unknown as Logger;
  return { logger, lines };
}

async function storeWith(path: string, n: number, thread = THREADS[3]!): Promise<RecordLog> {
  const log = await RecordLog.open(path, { create: true });
  for (let i = 0; i < n; i++) await log.append([validateRecord({ thread, actor: ACTORS[0]!, act: 'DO', body: { i } })]);
  return log;
}

/** Starts an engine on `log` with the checkpoint at `path`; returns the rebuild line it logged. */
async function startOn(log: RecordLog, path: string, o: { code?: string; rebuild?: boolean; folds?: ReadonlyArray<Fold<unknown>> } = {}): Promise<{ engine: Engine; line: Record<string, unknown>; lines: Array<Record<string, unknown>> }> {
  const { logger, lines } = capture();
  const engine = await Engine.start(log, logger, Date.now, o.folds ?? INSTANCE_FOLDS, { path, code: o.code ?? '1.0.0', ...(o.rebuild ? { rebuild: true } : {}) });
  const line = lines.find((l) => String(l.msg).startsWith('rebuild_from_store complete'));
  if (!line) throw new Error('no rebuild_from_store line');
  return { engine, line, lines };
}

t.test('an instance engine writes a checkpoint, and the next start loads it and replays only the tail', async (t) => {
  const dir = tmp(t);
  const ck = join(dir, 'hub.db.folds');
  const log = await storeWith(join(dir, 'hub.db'), 12);
  t.teardown(() => log.close());
  const first = await startOn(log, ck);
  t.match(first.line, { full: true, why: 'there is no fold checkpoint yet', records: 12, replayed: 12 });
  const w = await first.engine.writeCheckpoint();
  t.match(w, { sequence: 12 });
  t.equal(statSync(ck).mode & 0o777, 0o600, 'the checkpoint is 0600');
  t.equal(await first.engine.writeCheckpoint(), undefined, 'nothing new folded in: no second write');
  await log.append([validateRecord({ thread: THREADS[4]!, actor: ACTORS[1]!, act: 'INTEND', body: { task: true, title: 'x' } })]);
  await log.append([validateRecord({ thread: THREADS[4]!, actor: ACTORS[1]!, act: 'DO', body: { n: 2 } })]);
  const second = await startOn(log, ck);
  t.match(second.line, { from_checkpoint: 12, replayed: 2, records: 14, msg: 'rebuild_from_store complete (checkpoint at 12 + 2 records)' });
  t.equal(second.engine.checkpointSequence, 12);
  const full = await startOn(log, ck, { rebuild: true });
  t.match(full.line, { full: true, why: 'a full rebuild was asked for (spl serve --rebuild)', replayed: 14 });
  t.ok(isDeepStrictEqual(statesOf(second.engine.host), statesOf(full.engine.host)), 'checkpoint + tail equals the full rebuild');
});

t.test('a checkpoint that does not belong is not used: the start-up rebuilds in full and says why', async (t) => {
  const dir = tmp(t);
  const ck = join(dir, 'hub.db.folds');
  const log = await storeWith(join(dir, 'hub.db'), 5);
  t.teardown(() => log.close());
  await (await startOn(log, ck)).engine.writeCheckpoint();
  const good = readFileSync(ck);

  t.match((await startOn(log, ck, { code: '2.0.0' })).line, { full: true, why: /written by spl 1\.0\.0, and this is 2\.0\.0/ }, 'another binary');

  const changed: Fold<unknown> = { ...INSTANCE_FOLDS[0]!, version: 2 };
  t.match((await startOn(log, ck, { folds: [changed, ...INSTANCE_FOLDS.slice(1)] })).line, { full: true, why: /fold version changed: adapters/ }, 'a fold at another version');
  t.match((await startOn(log, ck, { folds: INSTANCE_FOLDS.slice(1) })).line, { full: true, why: /fold version changed: adapters/ }, 'a fold the checkpoint has and the binary does not');

  const flipped = Buffer.from(good);
  flipped[flipped.length - 3] ^= 0xff;
  writeFileSync(ck, flipped);
  const bad = await startOn(log, ck);
  t.match(bad.line, { full: true, why: /fails its sha256/ }, 'a damaged payload');
  t.ok(bad.lines.some((l) => l.level === 40 && /rebuilding every fold from the store/.test(String(l.msg))), 'a damaged checkpoint is a WARN');
  writeFileSync(ck, 'not a header\n');
  t.match((await startOn(log, ck)).line, { full: true, why: /header is not JSON/ });

  // The store restored from an older copy: the checkpoint covers records it no longer holds.
  writeFileSync(ck, good);
  const older = await storeWith(join(dir, 'older.db'), 3);
  t.teardown(() => older.close());
  t.match((await startOn(older, ck)).line, { full: true, why: /covers records 1\.\.5 of another store or history \(the store holds 3\)/ }, 'a store that lacks the records');
  // Another store with as many records: same sequence, other ids.
  const other = await storeWith(join(dir, 'other.db'), 5, THREADS[5]);
  t.teardown(() => other.close());
  t.match((await startOn(other, ck)).line, { full: true, why: /another store or history/ }, 'another store of the same length');
  // A header that matches but a payload without every fold's state (written by hand, or a bug): not used either.
  const folds = [...CORE_FOLDS, ...INSTANCE_FOLDS];
  await writeCheckpointFile(join(dir, 'partial.folds'), encodeCheckpoint({ code: '1.0.0', folds: fingerprints(folds), sequence: 5, record: (await log.idAt(5))!, first: (await log.idAt(1))!, written_at: new Date(0).toISOString() }, { states: {}, faults: {} }));
  const partial = await startOn(log, join(dir, 'partial.folds'));
  t.match(partial.line, { full: true, records: 5, why: /could not be loaded: the checkpoint lacks fold/ }, 'a payload missing a fold');
  t.ok(partial.lines.some((l) => l.level === 40), 'and that is a WARN');
  // And the good one still loads.
  copyFileSync(ck, join(dir, 'again.folds'));
  t.match((await startOn(log, join(dir, 'again.folds'))).line, { from_checkpoint: 5, replayed: 0 });
});

t.test("a broken fold's faults travel in the checkpoint: nothing is forgotten by loading it", async (t) => {
  const dir = tmp(t);
  const faulty: Fold<{ seen: number }> = {
    name: 'faulty', init: () => ({ seen: 0 }),
    apply(s, r) {
      if (r.body.boom === true) throw new Error('boom');
      s.seen++;
      return s;
    },
  };
  const log = await RecordLog.open(join(dir, 'hub.db'), { create: true });
  t.teardown(() => log.close());
  await log.append([validateRecord({ thread: THREADS[3]!, actor: ACTORS[0]!, act: 'DO', body: { boom: true } })]);
  await log.append([validateRecord({ thread: THREADS[3]!, actor: ACTORS[0]!, act: 'DO', body: {} })]);
  const folds = [faulty as Fold<unknown>];
  const ck = join(dir, 'hub.db.folds');
  await (await startOn(log, ck, { folds })).engine.writeCheckpoint();
  const again = await startOn(log, ck, { folds });
  t.match(again.line, { from_checkpoint: 2, broken: ['faulty (1)'] });
  t.match(again.engine.brokenFolds(), [{ fold: 'faulty', faults: 1, first: [{ sequence: 1, error: 'boom' }] }]);
  t.equal(again.engine.state(faulty).seen, 1);
});
