// The tasks fold: statuses derived from transition records through the same table the API checks, aliases per
// prefix, self-verdicts that decide nothing, records the table refuses kept in the history as no change — and,
// as a property, folding incrementally as groups commit equals rebuilding from the store.

import t, { type Test } from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FoldHost } from '../../lib/engine/fold-host.js';
import { CORE_FOLDS } from '../../lib/engine/engine.js';
import { findTask, nextAlias, tasksFold, TASK_VERBS, type TasksState, type TaskVerbName } from '../../lib/engine/folds/tasks.js';
import { trustFold, trustTable } from '../../lib/engine/folds/trust.js';
import { planTask, planTransition, taskIntend } from '../../lib/engine/tasks.js';
import { validateRecord, type StoredRecord } from '../../lib/kernel/record.js';
import { RecordLog } from '../../lib/store/record-log.js';

const DEV = 'did:sync:agent:dev';
const REVIEWER = 'did:sync:agent:reviewer';
const ADMIN = 'did:sync:user:admin';
const CONTENT = { path: 'tasks/X.md', sha256: 'a'.repeat(64), bytes: 10 };

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'spl-tasks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'hub.db');
}

async function store(t: Test): Promise<{ log: RecordLog; host: FoldHost }> {
  const log = await RecordLog.open(tmp(t), { create: true });
  t.teardown(() => log.close());
  const host = new FoldHost(CORE_FOLDS);
  await host.rebuild(log);
  log.onCommit((records) => host.apply(records));
  return { log, host };
}

t.test('the runbook walk: fail, reopen, done by dev, self-approval, approval by a reviewer, one trust observation', async (t) => {
  const { log, host } = await store(t);
  const tasks = () => host.state(tasksFold);
  const { alias } = planTask(tasks(), { title: 'Fix the parser', brief: '' });
  t.equal(alias, 'TASK-0001', 'the first alias of the default prefix');
  await log.append([validateRecord(taskIntend('th_' + '1'.repeat(64), ADMIN, alias, { title: 'Fix the parser', brief: '', domain: 'code' }, CONTENT))]);
  const move = async (actor: string, to: string, extra: Record<string, unknown> = {}) => {
    const plan = planTransition(findTask(tasks(), alias)!, actor, { to, ...extra });
    await log.append([validateRecord(plan.draft)]);
    return plan;
  };
  await move(ADMIN, 'active');
  await move(ADMIN, 'failed', { reason: 'worker SIGKILL' });
  t.equal(findTask(tasks(), alias)!.status, 'failed');
  await move(ADMIN, 'inbox', { reason: 'salvaged in-session' });
  await move(DEV, 'review', { summary: 'done', domain: 'code' });
  const self = await move(DEV, 'approved', { domain: 'code' });
  t.ok(self.self, 'a self-approval is marked self');
  t.equal(findTask(tasks(), alias)!.status, 'review', 'and leaves the task in review');
  t.same(trustTable(host.state(trustFold), Date.now()), [], 'and adds no trust');
  await move(REVIEWER, 'approved', { domain: 'code', notes: 'gate green' });
  const task = findTask(tasks(), alias)!;
  t.equal(task.status, 'approved');
  t.match(trustTable(host.state(trustFold), Date.now()), [{ actor: DEV, domain: 'code', success: 1, total: 1 }], 'one accepted observation for the claimant');
  t.same(task.history.map((h) => h.to), ['inbox', 'active', 'failed', 'inbox', 'review', 'review', 'approved']);
  t.match(task.history[5], { actor: DEV, note: /self-approval/ });
  t.throws(() => planTransition(task, REVIEWER, { to: 'approved' }), { code: 'TASK_STATE', message: /TASK-0001 is approved: approve is not allowed from approved/ });
});

t.test('illegal transitions and missing reasons are refused by name; records written anyway change nothing', async (t) => {
  const { log, host } = await store(t);
  const thread = 'th_' + '2'.repeat(64);
  await log.append([validateRecord(taskIntend(thread, ADMIN, 'OPS-0007', { title: 'x', brief: '' }, CONTENT))]);
  const task = () => host.state(tasksFold).byThread.get(thread)!;
  t.throws(() => planTransition(task(), REVIEWER, { to: 'approved' }), { code: 'TASK_STATE', message: 'OPS-0007 is inbox: approve is not allowed from inbox (only from review)' });
  t.throws(() => planTransition(task(), ADMIN, { to: 'blocked' }), { code: 'INVALID_REQUEST', message: 'block needs a reason' });
  t.throws(() => planTransition(task(), ADMIN, { to: 'sideways' }), { code: 'INVALID_REQUEST', message: /to must be one of active, review/ });
  // Written straight to the log, past the API: the fold keeps it in the history and the status where it was.
  await log.append([validateRecord({ thread, actor: REVIEWER, act: 'KNOW', body: { topic: 'task_verdict', verdict: 'accept', domain: 'code', judged_by: ADMIN } })]);
  t.equal(task().status, 'inbox');
  t.match(task().history.at(-1), { to: 'inbox', note: 'no change: approve is not allowed from inbox (only from review)' });
  t.equal(nextAlias(host.state(tasksFold), 'OPS'), 'OPS-0008', 'numbers continue per prefix from the highest used');
  t.equal(nextAlias(host.state(tasksFold), 'TASK'), 'TASK-0001');
  t.throws(() => planTask(host.state(tasksFold), { title: 'y', brief: '', alias: 'ops-0007' }), { code: 'ALREADY_EXISTS', message: /alias OPS-0007 is taken/ });
  t.throws(() => planTask(host.state(tasksFold), { title: 'y', brief: '', alias: 'lowercase' }), { code: 'INVALID_REQUEST' });
  // A second INTEND with a taken alias opens no task.
  await log.append([validateRecord(taskIntend('th_' + '3'.repeat(64), ADMIN, 'OPS-0007', { title: 'dup', brief: '' }, CONTENT))]);
  t.equal(host.state(tasksFold).byThread.size, 1);
});

// Random task logs: a few tasks, then transitions with random verbs, actors and fields, some straight past
// the API's checks (so the fold's refusals are exercised too).
const THREADS = ['th_' + 'a'.repeat(64), 'th_' + 'b'.repeat(64), 'th_' + 'c'.repeat(64)];
const ACTORS = [DEV, REVIEWER, ADMIN];
const VERBS = Object.keys(TASK_VERBS) as TaskVerbName[];

const stepArb = fc.record({
  thread: fc.constantFrom(...THREADS),
  actor: fc.constantFrom(...ACTORS),
  verb: fc.constantFrom(...VERBS, 'edit', 'comment'),
  start: fc.boolean(),
  domain: fc.constantFrom('code', 'ops', undefined),
});

function draftOf(step: { thread: string; actor: string; verb: string; start: boolean; domain: string | undefined }, claimant: string): unknown {
  const base = { thread: step.thread, actor: step.actor };
  if (step.verb === 'edit') return { ...base, act: 'LEARN', body: { topic: 'task_edited', content: { path: 'tasks/X.md', sha256: step.actor.length.toString(16).padStart(64, '0'), bytes: 1 }, priority: step.start ? 2 : 1 } };
  if (step.verb === 'comment') return { ...base, act: 'KNOW', body: { topic: 'task_comment', text: 'c' } };
  const v = TASK_VERBS[step.verb as TaskVerbName];
  const body: Record<string, unknown> = { topic: v.topic, reason: 'r', ...(step.domain ? { domain: step.domain } : {}) };
  if (step.verb === 'approve' || step.verb === 'reject') Object.assign(body, { verdict: step.verb === 'approve' ? 'accept' : 'reject', judged_by: claimant });
  if (step.verb === 'reopen' && step.start) body.start = true;
  return { ...base, act: v.act, body };
}

function snapshot(state: TasksState): string {
  return JSON.stringify([...state.byThread.values()].sort((a, b) => (a.thread < b.thread ? -1 : 1)));
}

t.test('property: tasks folded as groups commit equal tasks rebuilt from the store', async (t) => {
  let runs = 0;
  const seen = new Set<string>();
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(stepArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 14 }), async (groups) => {
      const log = await RecordLog.open(tmp(t), { create: true });
      try {
        const live = new FoldHost(CORE_FOLDS);
        await live.rebuild(log);
        log.onCommit((records: readonly StoredRecord[]) => live.apply(records));
        await log.append(THREADS.map((thread, i) => validateRecord(taskIntend(thread, ADMIN, `T-${i + 1}`, { title: `t${i}`, brief: '' }, CONTENT))));
        for (let i = 0; i < groups.length; i += 2) {
          const pair = groups.slice(i, i + 2).map((g) => g.map((s) => validateRecord(draftOf(s, live.state(tasksFold).byThread.get(s.thread)?.claim?.actor ?? DEV))));
          await Promise.all(pair.map((p) => log.append(p)));
        }
        const rebuilt = new FoldHost(CORE_FOLDS);
        await rebuilt.rebuild(log);
        runs++;
        for (const task of rebuilt.state(tasksFold).byThread.values()) for (const h of task.history) seen.add(h.to);
        return snapshot(live.state(tasksFold)) === snapshot(rebuilt.state(tasksFold)) && JSON.stringify(trustTable(live.state(trustFold), 0)) === JSON.stringify(trustTable(rebuilt.state(trustFold), 0));
      } finally {
        await log.close();
      }
    }),
    { numRuns: 40 },
  );
  t.equal(runs, 40, 'every generated log was checked');
  t.ok(seen.size >= 6, `the generated logs reach many statuses, not just inbox: ${[...seen].sort().join(', ')}`);
});
