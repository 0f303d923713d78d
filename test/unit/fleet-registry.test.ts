// The coordinator's registry with an injected clock (no sleeps): live within 3 intervals, stale within 12,
// archived after, left only from a final draining heartbeat — never from silence, and a missed beat never
// evicts; records only on change (at most one a minute per member) plus a refresh every ten minutes, so an hour
// of beats every 5 s writes a handful of records, not 720; a restarted coordinator restores its members with a
// full grace period.

import t from 'tap';
import { FleetRegistry, MIN_RECORD_GAP_MS, REFRESH_MS, statusAt, type Heartbeat } from '../../lib/fleet/registry.js';

const I = 5_000;
const hb = (o: Partial<Heartbeat> = {}): Heartbeat => ({ did: 'did:sync:instance:aaaa', endpoint: 'http://10.0.0.2:9201', version: '0.1.0', uptime_secs: 1, health: 'ok', active_dispatches: 0, store_records: 10, ...o });

function clocked(): { reg: FleetRegistry; set(ms: number): void; at(): number } {
  let now = 1_000_000;
  return { reg: new FleetRegistry(I, () => now), set: (ms) => (now = ms), at: () => now };
}

t.test('thresholds by the receive clock: live ≤ 3 intervals, stale ≤ 12, archived after; a missed beat stays live', async (t) => {
  const c = clocked();
  const t0 = c.at();
  c.reg.beat(hb());
  const status = (dt: number) => {
    c.set(t0 + dt);
    return c.reg.get('did:sync:instance:aaaa')!.status;
  };
  t.equal(status(I + 1), 'live', 'one missed beat: still live');
  t.equal(status(3 * I), 'live');
  t.equal(status(3 * I + 1), 'stale');
  t.equal(status(12 * I), 'stale');
  t.equal(status(12 * I + 1), 'archived');
  t.equal(status(30 * 24 * 3600_000), 'archived', 'silence never makes it left, however long');
  t.equal(statusAt({ left: false, last_seen: 0 }, 3 * I, I), 'live');
});

t.test('left only from a final heartbeat with health draining, recorded at once', async (t) => {
  const c = clocked();
  c.reg.beat(hb());
  for (const e of c.reg.due()) c.reg.recorded(e, c.at());
  c.set(c.at() + 1000);
  const { status } = c.reg.beat(hb({ health: 'draining' }));
  t.equal(status, 'left');
  const due = c.reg.due();
  t.match(due, [{ status: 'left', reason: 'status' }], 'the goodbye is recorded without waiting a minute');
  // A worker that comes back is live again.
  for (const e of due) c.reg.recorded(e, c.at());
  c.set(c.at() + 5000);
  t.equal(c.reg.beat(hb()).status, 'live');
});

t.test('records: join at once, changes at most once a minute, a refresh every ten minutes; an hour of beats writes a handful', async (t) => {
  const c = clocked();
  const start = c.at();
  let written = 0;
  const flush = () => {
    for (const e of c.reg.due()) {
      c.reg.recorded(e, c.at());
      written++;
    }
  };
  for (let ms = 0; ms <= 3600_000; ms += I) {
    c.set(start + ms);
    c.reg.beat(hb({ uptime_secs: ms / 1000, store_records: 10 + ms / I }));
    flush();
  }
  t.equal(written, 1 + Math.floor(3600_000 / REFRESH_MS), 'the join and one refresh per ten minutes: uptime and record counts are not changes');
  t.ok(written <= 60, `${written} records in an hour (≤ 60)`);
  // A version change is recorded, but not twice within a minute.
  c.set(c.at() + I);
  c.reg.beat(hb({ version: '0.2.0' }));
  const before = written;
  flush();
  const firstChange = written - before;
  c.set(c.at() + I);
  c.reg.beat(hb({ version: '0.2.0', health: 'degraded' }));
  flush();
  t.equal(firstChange + (written - before - firstChange), written - before);
  t.ok(written - before <= 2);
  c.set(c.at() + MIN_RECORD_GAP_MS);
  c.reg.beat(hb({ version: '0.2.0', health: 'degraded' }));
  const due = c.reg.due();
  t.ok(due.length <= 1, 'at most one record per member due at a time');
});

t.test('silence: the status changes are recorded (stale, then archived), at most once a minute', async (t) => {
  const c = clocked();
  const t0 = c.at();
  c.reg.beat(hb());
  for (const e of c.reg.due()) c.reg.recorded(e, c.at());
  const seen: string[] = [];
  for (let ms = I; ms <= 30 * I; ms += I) {
    c.set(t0 + ms);
    for (const e of c.reg.due()) {
      seen.push(`${ms / I}:${e.status}`);
      c.reg.recorded(e, c.at());
    }
  }
  t.same(seen, ['12:stale', '24:archived'], 'stale is recorded once a minute has passed since the join record; archived, a minute after that');
});

t.test('a restarted coordinator restores members from their records, each with a full grace period', async (t) => {
  const c = clocked();
  const recordedAt = c.at() - 40_000;
  c.reg.restore({ did: 'did:sync:instance:bbbb', status: 'live', endpoint: 'http://10.0.0.3:9202', version: '0.1.0', health: 'ok', uptime_secs: 10, active_dispatches: 1, store_records: 5 }, recordedAt);
  c.reg.restore({ did: 'did:sync:instance:cccc', status: 'left', endpoint: null, version: '0.1.0', health: 'draining' }, recordedAt);
  t.equal(c.reg.get('did:sync:instance:bbbb')!.status, 'live');
  t.equal(c.reg.get('did:sync:instance:cccc')!.status, 'left');
  t.same(c.reg.due(), [], 'nothing to record right after a restart');
  c.set(c.at() + 3 * I + 1);
  t.equal(c.reg.get('did:sync:instance:bbbb')!.status, 'stale', 'no beat within its grace: stale');
});
