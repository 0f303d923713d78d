import t from 'tap';
import { engineConfigFold, rulesOf, toggleEnabled } from '../../lib/engine/folds/engine-config.js';
import type { StoredRecord } from '../../lib/kernel/record.js';

let seq = 0;
function learn(body: Record<string, unknown>, over: Partial<StoredRecord> = {}): StoredRecord {
  seq++;
  return {
    id: seq.toString(16).padStart(64, '0'), parents: [], thread: 'th_engine_config', actor: 'did:sync:user:admin', act: 'LEARN', body, clock: seq,
    data_type: 'SCALAR', judged_by: null, sequence: seq, created_at: new Date(seq * 1000).toISOString(), ...over,
  };
}
const fold = (records: StoredRecord[]) => records.reduce((s, r) => engineConfigFold.apply(s, r), engineConfigFold.init());

t.test('rules keyed by (topic, name): latest wins, enabled:false disables, priority-desc order', async (t) => {
  const s = fold([
    learn({ topic: 'routing_rule', name: 'a', priority: 1, expression: 'true' }),
    learn({ topic: 'routing_rule', name: 'b', priority: 5, expression: 'false' }),
    learn({ topic: 'routing_rule', name: 'a', priority: 9, expression: 'record.act == "DO"' }),
    learn({ topic: 'routing_rule', name: 'c', priority: 7 }),
    learn({ topic: 'routing_rule', name: 'c', enabled: false }),
    learn({ topic: 'permission_rule', name: 'a', priority: 100 }),
    learn({ topic: 'routing_rule', name: 'd', priority: 5 }),
  ]);
  t.same(rulesOf(s, 'routing_rule').map((r) => [r.name, r.priority]), [['a', 9], ['b', 5], ['d', 5]], 'ties broken by name');
  t.equal(rulesOf(s, 'routing_rule')[0]!.expression, 'record.act == "DO"', 'the latest version of a rule wins');
  t.same(rulesOf(s, 'routing_rule', { includeDisabled: true }).map((r) => r.name), ['a', 'b', 'd', 'c']);
  t.same(rulesOf(s, 'permission_rule').map((r) => r.name), ['a'], 'same name under another topic is another rule');
});

t.test('toggles: latest record wins; only LEARN on th_engine_config counts', async (t) => {
  const s = fold([
    learn({ topic: 'permissions_enabled', enabled: true }),
    learn({ topic: 'permissions_enabled', enabled: false }),
    learn({ topic: 'permissions_enabled', enabled: true }, { thread: 'th_elsewhere' }),
    learn({ topic: 'permissions_enabled', enabled: true }, { act: 'DO' }),
    learn({ topic: 'routing_rule' }),
    learn({ text: 'no topic' }),
  ]);
  t.equal(toggleEnabled(s, 'permissions_enabled'), false);
  t.equal(toggleEnabled(s, 'never_set', true), true, 'fallback when never set');
  t.equal(s.rules.size, 0, 'a rule without a name is not a rule');
  t.equal(s.records, 5, 'records on th_engine_config are counted');
});
