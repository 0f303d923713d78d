// Fan-out's rules (lib/fleet/fanout.ts): the join predicates over child verdicts — satisfied as soon as enough
// children are accepted, unsatisfiable as soon as too few can be, undecided otherwise — and the parsing of
// body.subtasks and body.join with errors that name the field.

import t from 'tap';
import { joinOutcome, parseJoin, parseSubtasks, verdictOf } from '../../lib/fleet/fanout.js';

t.test('join predicates', async (t) => {
  const all = parseJoin('all', 3);
  t.equal(joinOutcome(all, ['accept', 'accept', 'pending']), null);
  t.equal(joinOutcome(all, ['accept', 'accept', 'accept']), 'satisfied');
  t.equal(joinOutcome(all, ['accept', 'failed', 'pending']), 'unsatisfiable', 'all fails at the first child that fails');
  const any = parseJoin('any', 3);
  t.equal(joinOutcome(any, ['pending', 'accept', 'pending']), 'satisfied', 'any holds at the first accept');
  t.equal(joinOutcome(any, ['failed', 'reject', 'pending']), null);
  t.equal(joinOutcome(any, ['failed', 'reject', 'timeout']), 'unsatisfiable');
  const two = parseJoin('k_of_n:2', 3);
  t.equal(joinOutcome(two, ['accept', 'failed', 'pending']), null);
  t.equal(joinOutcome(two, ['accept', 'failed', 'accept']), 'satisfied');
  t.equal(joinOutcome(two, ['failed', 'failed', 'pending']), 'unsatisfiable');
  t.same(parseJoin(undefined, 2), { kind: 'all' }, 'all by default');
});

t.test('bad joins and subtasks are refused with the field named', async (t) => {
  t.throws(() => parseJoin('k_of_n:4', 3), { code: 'INVALID_RECORD', message: /K from 1 to 3/ });
  t.throws(() => parseJoin('k_of_n:0', 3), { code: 'INVALID_RECORD' });
  t.throws(() => parseJoin('most', 3), { message: /body.join must be all, any or k_of_n:K/ });
  t.throws(() => parseSubtasks([]), { message: /body.subtasks must be a list of 1 to 100/ });
  t.throws(() => parseSubtasks(['ok', { brief: 'no title' }]), { message: /body.subtasks\[1\] must be a text or an object with a title/ });
  t.same(parseSubtasks(['Write the docs\nin detail', { title: 'Tests', actor: 'did:sync:agent:dev', repo: '/r' }]), [
    { title: 'Write the docs', brief: 'Write the docs\nin detail' },
    { title: 'Tests', brief: 'Tests', actor: 'did:sync:agent:dev', repo: '/r' },
  ]);
});

t.test('a child\'s verdict follows its task', async (t) => {
  const task = (status: string, failure_reason: string | null = null) => ({ status, attempts: failure_reason ? [{ failure_reason }] : [] }) as never;
  t.equal(verdictOf(undefined), 'pending');
  t.equal(verdictOf(task('active')), 'pending');
  t.equal(verdictOf(task('review')), 'accept');
  t.equal(verdictOf(task('approved')), 'accept');
  t.equal(verdictOf(task('rejected')), 'reject');
  t.equal(verdictOf(task('failed', 'nonzero_exit')), 'failed');
  t.equal(verdictOf(task('failed', 'timeout')), 'timeout');
});
