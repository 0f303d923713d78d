// The freeze and emergency-stop rules (lib/fleet/control.ts) with an injected clock: the fold (latest record per
// namespace, lifting, the emergency toggle), which namespaces a record is in, soft vs hard past its grace, the
// heartbeat wire form (a hard freeze's grace travels as time left, so clock skew between hosts does not matter)
// and the merge of an instance's own control with its coordinator's.

import t from 'tap';
import type { StoredRecord } from '../../lib/kernel/record.js';
import { checkWrite, isControlRecord, controlFromWire, controlWire, fleetControlFold, FleetControl, freezeBody, mergeControl, namespacesOf } from '../../lib/fleet/control.js';

let seq = 0;
function rec(body: Record<string, unknown>, at: number, thread = 'th_fleet_control', act: StoredRecord['act'] = 'LEARN'): StoredRecord {
  seq++;
  return { id: String(seq).padStart(64, '0'), parents: [], thread, actor: 'did:sync:user:ops', act, body, clock: seq, data_type: 'SCALAR', judged_by: null, sequence: seq, created_at: new Date(at).toISOString() } as StoredRecord;
}
const fold = (...rs: StoredRecord[]) => rs.reduce((s, r) => fleetControlFold.apply(s, r), fleetControlFold.init());
const T0 = Date.parse('2026-12-03T10:00:00Z');

t.test('the fold: set, replace, lift; emergency on and off; other records ignored', async (t) => {
  const s = fold(
    rec(freezeBody({ namespace: 'pay', active: true, reason: 'r' }), T0),
    rec(freezeBody({ namespace: 'ledger', level: 'hard', graceSecs: 30, active: true }), T0),
    rec(freezeBody({ namespace: 'pay', level: 'hard', active: true }), T0 + 1000),
    rec(freezeBody({ namespace: 'ledger', active: false }), T0 + 2000),
    rec(freezeBody({ emergency: true, reason: 'x', active: true }), T0 + 3000),
    rec({ topic: 'freeze', namespace: 'other', active: true }, T0, 'th_elsewhere'),
    rec({ topic: 'freeze', namespace: 'other2', active: true }, T0, 'th_fleet_control', 'KNOW'),
    rec({ topic: 'freeze', namespace: 'Bad Name', active: true }, T0),
  );
  t.same([...s.freezes.keys()], ['pay']);
  t.match(s.freezes.get('pay'), { level: 'hard', hard_at_ms: T0 + 1000, source: 'local' });
  t.match(s.emergency, { reason: 'x', since_ms: T0 + 3000 });
  t.equal(fold(rec(freezeBody({ emergency: true, reason: 'x', active: true }), T0), rec(freezeBody({ emergency: true, active: false }), T0 + 1)).emergency, null);
});

t.test('overlapping freezes: the strictest that covers a namespace decides; freeze records are never refused', async (t) => {
  const s = fold(rec(freezeBody({ namespace: 'payments', active: true }), T0), rec(freezeBody({ namespace: 'payments_eu', level: 'hard', active: true }), T0));
  t.match(checkWrite(s, 'KNOW', ['payments_eu'], T0), { allowed: false, message: /'payments_eu' is frozen \(hard/ }, 'the hard one under the soft one still refuses KNOW');
  t.match(checkWrite(s, 'KNOW', ['payments'], T0), { allowed: true });
  t.ok(isControlRecord({ thread: 'th_fleet_control', act: 'LEARN', body: freezeBody({ namespace: 'payments', active: false }) }));
  t.notOk(isControlRecord({ thread: 'th_fleet_control', act: 'DO', body: { topic: 'freeze' } }));
});

t.test('namespaces of a record', async (t) => {
  t.same(namespacesOf({ thread: 'th_ops', body: { namespace: 'pay' } }), ['pay', 'ops']);
  t.same(namespacesOf({ thread: 'th_' + 'c'.repeat(64), body: { namespace: 'other' } }, () => 'payments'), ['other', 'payments'], 'a body naming a namespace does not take a record out of its task\'s');
  t.same(namespacesOf({ thread: 'th_' + 'a'.repeat(64), body: { domain: 'code' } }), ['code'], 'a minted thread names no namespace');
  t.same(namespacesOf({ thread: 'th_' + 'b'.repeat(64), body: {} }, () => 'tasks_dom'), ['tasks_dom'], 'the task\'s domain');
});

t.test('soft, hard within and past its grace, emergency', async (t) => {
  const s = fold(rec(freezeBody({ namespace: 'pay', active: true }), T0), rec(freezeBody({ namespace: 'led', level: 'hard', graceSecs: 10, active: true }), T0));
  for (const act of ['INTEND', 'DO', 'CALL']) t.match(checkWrite(s, act, ['pay'], T0), { allowed: false, code: 'NAMESPACE_FROZEN' }, `soft refuses ${act}`);
  for (const act of ['KNOW', 'LEARN']) t.match(checkWrite(s, act, ['pay'], T0), { allowed: true }, `soft passes ${act}`);
  t.match(checkWrite(s, 'DO', ['pay_eu'], T0), { allowed: false }, 'a namespace under it');
  t.match(checkWrite(s, 'DO', ['payroll'], T0), { allowed: true }, 'a namespace that only shares a prefix is not under it');
  t.match(checkWrite(s, 'KNOW', ['led'], T0 + 9_999), { allowed: true }, 'hard within its grace passes KNOW');
  t.match(checkWrite(s, 'KNOW', ['led'], T0 + 10_000), { allowed: false, message: /hard: no writes/ }, 'hard past its grace refuses KNOW');
  const e = fold(rec(freezeBody({ emergency: true, reason: 'stop', active: true }), T0));
  t.match(checkWrite(e, 'DO', [], T0), { allowed: false, code: 'EMERGENCY_STOP', message: /\(stop\)/ });
  t.match(checkWrite(e, 'LEARN', [], T0), { allowed: true });
});

t.test('the heartbeat wire: a hard freeze\'s grace travels as time left; merge keeps the stricter', async (t) => {
  const s = fold(rec(freezeBody({ namespace: 'led', level: 'hard', graceSecs: 60, active: true }), T0), rec(freezeBody({ emergency: true, active: true }), T0));
  const w = controlWire(s, T0 + 20_000);
  t.match(w.freezes, [{ namespace: 'led', hard_in_secs: 40 }]);
  // The worker's clock is an hour off: the freeze still bites 40 s after the reply arrives.
  const workerNow = T0 + 3_600_000;
  const remote = controlFromWire(JSON.parse(JSON.stringify(w)), workerNow);
  t.match(remote.freezes.get('led'), { hard_at_ms: workerNow + 40_000, source: 'coordinator' });
  t.match(remote.emergency, { source: 'coordinator' });
  const local = fold(rec(freezeBody({ namespace: 'led', active: true }), T0), rec(freezeBody({ namespace: 'mine', active: true }), T0));
  const m = mergeControl(local, remote);
  t.same([...m.freezes.keys()].sort(), ['led', 'mine']);
  t.equal(m.freezes.get('led')!.source, 'coordinator', 'the hard freeze beats the local soft one');
  t.equal(mergeControl(local, null), local);
});

t.test('FleetControl: the emergency callback fires once per coming into force, from either side', async (t) => {
  let state = fleetControlFold.init();
  const fired: string[] = [];
  const c = new FleetControl(() => state, () => T0, (e) => fired.push(e.source));
  c.noticeEmergency();
  t.same(fired, []);
  c.setRemote(controlFromWire({ freezes: [], emergency: { reason: null, actor: 'a', since_ms: 0 } }, T0));
  c.setRemote(controlFromWire({ freezes: [], emergency: { reason: null, actor: 'a', since_ms: 0 } }, T0));
  t.same(fired, ['coordinator'], 'once, not on every beat');
  c.setRemote(controlFromWire({ freezes: [], emergency: null }, T0));
  state = fold(rec(freezeBody({ emergency: true, active: true }), T0));
  c.noticeEmergency();
  t.same(fired, ['coordinator', 'local']);
  t.match(c.check('DO', []), { allowed: false, code: 'EMERGENCY_STOP' });
  state = fleetControlFold.init();
  c.noticeEmergency();
  t.match(c.check('DO', ['x']), { allowed: true });
});
