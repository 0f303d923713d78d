import t from 'tap';
import fc from 'fast-check';
import { trustFold, trustScore, trustTable, wilsonLowerBound, type TrustState } from '../../lib/engine/folds/trust.js';
import { ACTS, type Act, type StoredRecord } from '../../lib/kernel/record.js';

const DAY = 86_400_000;
const HALF_LIFE = 90 * DAY;
const NOW = Date.parse('2025-06-01T00:00:00.000Z');
const Z = 1.96;
const EPS = 1e-9;

const ALICE = 'did:sync:user:alice';
const BOB = 'did:sync:agent:bob';
const CAROL = 'did:web:carol.example';

let seq = 0;
function rec(over: Partial<StoredRecord>): StoredRecord {
  seq++;
  return {
    id: seq.toString(16).padStart(64, '0'), parents: [], thread: 'th_t', actor: ALICE, act: 'KNOW', body: {}, clock: 0,
    data_type: 'SCALAR', judged_by: null, sequence: seq, created_at: new Date(NOW).toISOString(), ...over,
  };
}

/** A verdict by `by` about `judged` in `domain`, `ageDays` before NOW. */
function verdict(by: string, judged: string, domain: string, v: 'accept' | 'reject', ageDays = 0): StoredRecord {
  return rec({ actor: by, body: { verdict: v, domain, judged_by: judged }, created_at: new Date(NOW - ageDays * DAY).toISOString() });
}

function fold(records: StoredRecord[], state: TrustState = trustFold.init()): TrustState {
  return records.reduce((s, r) => trustFold.apply(s, r), state);
}

/** The textbook closed form, written independently of the module's (rearranged) formula. */
function textbookWilson(s: number, n: number, z = Z): number {
  if (n === 0) return 0;
  const p = s / n;
  return (p + (z * z) / (2 * n) - z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
}

t.test('wilsonLowerBound matches hand-computed values (z = 1.96, z² = 3.8416)', async (t) => {
  // p = 1 makes the square root z/(2n), so the bound is n / (n + z²).
  // 1/1: 1 / 4.8416
  t.ok(Math.abs(wilsonLowerBound(1, 1) - 1 / 4.8416) < EPS, '1/1');
  t.ok(Math.abs(wilsonLowerBound(1, 1) - 0.20654329147389294) < EPS, '1/1 ≈ 0.2065433');
  // 5/5: 5 / 8.8416
  t.ok(Math.abs(wilsonLowerBound(5, 5) - 5 / 8.8416) < EPS, '5/5');
  t.ok(Math.abs(wilsonLowerBound(5, 5) - 0.565508505247919) < EPS, '5/5 ≈ 0.5655085');
  // 8/10: p = 0.8, z²/2n = 0.19208, p(1-p)/n = 0.016, z²/4n² = 0.009604, 1 + z²/n = 1.38416
  //   (0.99208 − 1.96·√0.025604) / 1.38416
  t.ok(Math.abs(wilsonLowerBound(8, 10) - (0.99208 - 1.96 * Math.sqrt(0.025604)) / 1.38416) < EPS, '8/10');
  t.ok(Math.abs(wilsonLowerBound(8, 10) - 0.49015684672072346) < EPS, '8/10 ≈ 0.4901568');
  // 0/3: p = 0 makes the numerator z²/2n − z·z/2n = 0.
  t.equal(wilsonLowerBound(0, 3), 0, '0/3 is exactly 0');
  // 50/100: p = 0.5, z²/2n = 0.019208, p(1-p)/n = 0.0025, z²/4n² = 0.00009604, 1 + z²/n = 1.038416
  //   (0.519208 − 1.96·√0.00259604) / 1.038416
  t.ok(Math.abs(wilsonLowerBound(50, 100) - (0.519208 - 1.96 * Math.sqrt(0.00259604)) / 1.038416) < EPS, '50/100');
  t.ok(Math.abs(wilsonLowerBound(50, 100) - 0.40382982859014716) < EPS, '50/100 ≈ 0.4038298');
  t.equal(wilsonLowerBound(0, 0), 0, 'no trials → 0');
  // A different z: 1/1 at z = 1 is 1 / (1 + 1).
  t.ok(Math.abs(wilsonLowerBound(1, 1, 1) - 0.5) < EPS, 'z is a parameter');
});

t.test('wilsonLowerBound agrees with the textbook form and stays well behaved', async (t) => {
  for (const [s, n] of [[0.3, 0.7], [2.5, 3.25], [99, 100], [1, 1000], [123.4, 567.8]] as const) {
    t.ok(Math.abs(wilsonLowerBound(s, n) - textbookWilson(s, n)) < EPS, `${s}/${n}`);
  }
  // The textbook form overflows z²/n here and yields NaN; the rearranged one gives ~0.
  t.ok(Number.isNaN(textbookWilson(1e-310, 1e-310)), 'textbook form breaks at tiny n');
  const tiny = wilsonLowerBound(1e-310, 1e-310);
  t.ok(Number.isFinite(tiny) && tiny >= 0 && tiny < 1e-300, 'tiny n gives a finite ~0');
  t.ok(wilsonLowerBound(1e9, 1e9) < 1 && wilsonLowerBound(1e9, 1e9) > 0.999999, 'large n approaches but stays below 1');
  t.throws(() => wilsonLowerBound(3, 2), RangeError, 'successes above total');
  t.throws(() => wilsonLowerBound(-1, 2), RangeError, 'negative successes');
  t.throws(() => wilsonLowerBound(Number.NaN, 2), RangeError, 'NaN');
  t.throws(() => wilsonLowerBound(1, Number.POSITIVE_INFINITY), RangeError, 'infinite total');
});

t.test('fresh verdicts score with the plain Wilson bound; counts are raw', async (t) => {
  const accepts = Array.from({ length: 8 }, () => verdict(BOB, ALICE, 'code', 'accept'));
  const rejects = Array.from({ length: 2 }, () => verdict(CAROL, ALICE, 'code', 'reject'));
  const s = fold([...accepts, ...rejects]);
  t.ok(Math.abs(trustScore(s, ALICE, 'code', NOW) - 0.49015684672072346) < EPS, '8 of 10 at age 0');
  t.same(trustTable(s, NOW).map(({ trust, ...rest }) => rest), [{ actor: ALICE, domain: 'code', success: 8, total: 10 }]);
  t.equal(s.verdicts, 10);
});

t.test('verdicts decay with a 90-day half-life', async (t) => {
  const at90 = fold([verdict(BOB, ALICE, 'code', 'accept', 90)]);
  // One accept 90 days old weighs 0.5: the bound on s = n = 0.5, i.e. 0.5 / (0.5 + z²).
  t.ok(Math.abs(trustScore(at90, ALICE, 'code', NOW) - textbookWilson(0.5, 0.5)) < EPS, '90 days → n = 0.5');
  t.ok(Math.abs(trustScore(at90, ALICE, 'code', NOW) - 0.5 / 4.3416) < EPS, '0.5 / 4.3416');
  t.ok(Math.abs(trustScore(at90, ALICE, 'code', NOW + 90 * DAY) - textbookWilson(0.25, 0.25)) < EPS, 'the same state 90 days later → 0.25');

  const at180 = fold([verdict(BOB, ALICE, 'code', 'accept', 180)]);
  t.ok(Math.abs(trustScore(at180, ALICE, 'code', NOW) - 0.25 / 4.0916) < EPS, '180 days → n = 0.25');
  t.same(trustTable(at180, NOW).map((r) => [r.success, r.total]), [[1, 1]], 'raw counts do not decay');

  // Mixed ages: a fresh accept (1) and a 90-day-old reject (0.5) → s = 1, n = 1.5.
  const mixed = fold([verdict(BOB, ALICE, 'code', 'reject', 90), verdict(BOB, ALICE, 'code', 'accept', 0)]);
  t.ok(Math.abs(trustScore(mixed, ALICE, 'code', NOW) - textbookWilson(1, 1.5)) < EPS, 'mixed ages');
  // The same evidence applied newest first (store order need not be time order) gives the same score.
  const mixedReversed = fold([verdict(BOB, ALICE, 'code', 'accept', 0), verdict(BOB, ALICE, 'code', 'reject', 90)]);
  t.ok(Math.abs(trustScore(mixedReversed, ALICE, 'code', NOW) - textbookWilson(1, 1.5)) < EPS, 'older verdict applied last');
  // Weight of an arbitrary age, against the definition 0.5^(age/90).
  const at37 = fold([verdict(BOB, ALICE, 'code', 'accept', 37), verdict(BOB, ALICE, 'code', 'reject', 200)]);
  const w37 = 0.5 ** (37 / 90);
  const w200 = 0.5 ** (200 / 90);
  t.ok(Math.abs(trustScore(at37, ALICE, 'code', NOW) - textbookWilson(w37, w37 + w200)) < EPS, '37 and 200 days');
});

t.test('an evaluation time before the newest verdict counts ages from that verdict', async (t) => {
  const s = fold([verdict(BOB, ALICE, 'code', 'accept', 90), verdict(BOB, ALICE, 'code', 'accept', 0)]);
  const atNewest = textbookWilson(1.5, 1.5);
  t.ok(Math.abs(trustScore(s, ALICE, 'code', NOW) - atNewest) < EPS, 'at the newest verdict');
  t.ok(Math.abs(trustScore(s, ALICE, 'code', NOW - 30 * DAY) - atNewest) < EPS, 'earlier now: no weight above 1');
});

t.test('timestamps centuries apart neither overflow nor lose the recent evidence', async (t) => {
  const s = fold([
    rec({ actor: BOB, body: { verdict: 'reject', domain: 'code', judged_by: ALICE }, created_at: '1970-01-01T00:00:00.000Z' }),
    rec({ actor: BOB, body: { verdict: 'accept', domain: 'code', judged_by: ALICE }, created_at: '9999-12-31T00:00:00.000Z' }),
    rec({ actor: BOB, body: { verdict: 'reject', domain: 'code', judged_by: ALICE }, created_at: '1971-01-01T00:00:00.000Z' }),
  ]);
  const now = Date.parse('9999-12-31T00:00:00.000Z');
  // The 1970s rejects are ~3245 half-lives old: their weight is 0 to double precision.
  t.ok(Math.abs(trustScore(s, ALICE, 'code', now) - 1 / 4.8416) < EPS, 'only the recent accept counts');
  t.ok(Number.isFinite(trustScore(s, ALICE, 'code', now + 1000 * 365 * DAY)), 'finite far in the future');
  t.same(trustTable(s, now).map((r) => [r.success, r.total]), [[1, 3]]);
});

t.test('only qualifying KNOW verdicts are evidence', async (t) => {
  const base = { verdict: 'accept', domain: 'code', judged_by: ALICE };
  const ignored: Array<[string, StoredRecord]> = [
    ['self-judgement', rec({ actor: ALICE, body: base })],
    ...ACTS.filter((a) => a !== 'KNOW').map((act): [string, StoredRecord] => [`act ${act}`, rec({ actor: BOB, act, body: base })]),
    ['no verdict', rec({ actor: BOB, body: { domain: 'code', judged_by: ALICE } })],
    ['verdict "approve"', rec({ actor: BOB, body: { ...base, verdict: 'approve' } })],
    ['verdict "Accept"', rec({ actor: BOB, body: { ...base, verdict: 'Accept' } })],
    ['verdict true', rec({ actor: BOB, body: { ...base, verdict: true } })],
    ['no domain', rec({ actor: BOB, body: { verdict: 'accept', judged_by: ALICE } })],
    ['numeric domain', rec({ actor: BOB, body: { ...base, domain: 7 } })],
    ['empty domain', rec({ actor: BOB, body: { ...base, domain: '' } })],
    ['no judged_by', rec({ actor: BOB, body: { verdict: 'accept', domain: 'code' } })],
    ['null judged_by', rec({ actor: BOB, body: { ...base, judged_by: null } })],
    ['numeric judged_by', rec({ actor: BOB, body: { ...base, judged_by: 42 } })],
    ['judged_by not a DID', rec({ actor: BOB, body: { ...base, judged_by: 'alice' } })],
    // The envelope's judged_by is a record pointer, not the judged actor.
    ['envelope judged_by only', rec({ actor: BOB, judged_by: ALICE, body: { verdict: 'accept', domain: 'code' } })],
    ['unparseable created_at', rec({ actor: BOB, body: base, created_at: 'yesterday' })],
  ];
  for (const [why, r] of ignored) {
    const s = fold([r]);
    t.same(trustTable(s, NOW), [], why);
    t.equal(s.verdicts, 0, `${why}: not counted`);
  }
  // The positive control: the same body from another actor is evidence.
  const s = fold([rec({ actor: BOB, body: base })]);
  t.equal(s.verdicts, 1);
  t.ok(trustScore(s, ALICE, 'code', NOW) > 0, 'another actor’s accept counts');
  // Extra body keys do not matter.
  t.equal(fold([rec({ actor: BOB, body: { ...base, topic: 'review', task: true } })]).verdicts, 1);
});

t.test('actors and domains are independent', async (t) => {
  const s = fold([
    verdict(BOB, ALICE, 'code', 'accept'),
    verdict(BOB, ALICE, 'code', 'accept'),
    verdict(BOB, ALICE, 'ops', 'reject'),
    verdict(ALICE, BOB, 'code', 'reject'),
    verdict(ALICE, CAROL, 'ops', 'accept'),
  ]);
  t.ok(Math.abs(trustScore(s, ALICE, 'code', NOW) - textbookWilson(2, 2)) < EPS, 'alice/code');
  t.equal(trustScore(s, ALICE, 'ops', NOW), 0, 'alice/ops: one reject');
  t.equal(trustScore(s, BOB, 'code', NOW), 0, 'bob/code: one reject');
  t.equal(trustScore(s, BOB, 'ops', NOW), 0, 'bob/ops: no evidence');
  t.ok(Math.abs(trustScore(s, CAROL, 'ops', NOW) - 1 / 4.8416) < EPS, 'carol/ops');
  t.equal(trustScore(s, CAROL, 'code', NOW), 0, 'carol/code: no evidence');
  t.same(
    trustTable(s, NOW).map((r) => [r.actor, r.domain, r.success, r.total]),
    [[BOB, 'code', 0, 1], [ALICE, 'code', 2, 2], [ALICE, 'ops', 0, 1], [CAROL, 'ops', 1, 1]],
    'sorted by actor then domain in code-point order',
  );
});

t.test('trustScore is 0 without evidence', async (t) => {
  const empty = trustFold.init();
  t.equal(trustScore(empty, ALICE, 'code', NOW), 0);
  t.same(trustTable(empty, NOW), []);
  t.equal(trustScore(fold([verdict(BOB, ALICE, 'code', 'accept')]), 'did:sync:user:nobody', 'code', NOW), 0);
});

t.test('the fold is deterministic in store order', async (t) => {
  const records = [
    verdict(BOB, ALICE, 'code', 'accept', 3.5),
    verdict(CAROL, ALICE, 'code', 'reject', 120),
    verdict(ALICE, BOB, 'ops', 'accept', 45),
    verdict(CAROL, ALICE, 'code', 'accept', 1),
    rec({ act: 'DO', body: { verdict: 'accept', domain: 'code', judged_by: BOB } }),
  ];
  const a = trustTable(fold(records), NOW);
  const b = trustTable(fold(records), NOW);
  t.same(a, b, 'equal tables from two fresh states');
  t.equal(a.length, 2);
  t.equal(trustFold.name, 'trust');
});

// --- property tests -------------------------------------------------------------------------------

const T_START = Date.parse('2023-01-01T00:00:00.000Z');
const SPAN = 3 * 365 * DAY;
const ACTORS = [ALICE, BOB, CAROL];
const MISSING = Symbol('missing');

const recordArb = fc
  .record({
    actor: fc.constantFrom(...ACTORS),
    act: fc.constantFrom<Act>('KNOW', 'KNOW', 'KNOW', 'DO', 'LEARN'),
    verdict: fc.constantFrom<unknown>('accept', 'reject', 'accept', 'reject', 'maybe', MISSING),
    domain: fc.constantFrom<unknown>('code', 'ops', 'docs', '', 3, MISSING),
    judged: fc.constantFrom<unknown>(...ACTORS, ...ACTORS, 'nobody', 42, MISSING),
    atMs: fc.integer({ min: T_START, max: T_START + SPAN }),
  })
  .map(({ actor, act, verdict: v, domain, judged, atMs }) => {
    const body: Record<string, unknown> = {};
    if (v !== MISSING) body.verdict = v;
    if (domain !== MISSING) body.domain = domain;
    if (judged !== MISSING) body.judged_by = judged;
    return rec({ actor, act, body, created_at: new Date(atMs).toISOString() });
  });

/** A brute-force model: keep every verdict and weigh each one directly by its age. */
function referenceTable(records: StoredRecord[], now: number): Array<{ actor: string; domain: string; success: number; total: number; trust: number }> {
  const groups = new Map<string, { actor: string; domain: string; items: Array<{ at: number; accept: boolean }> }>();
  for (const r of records) {
    const { verdict: v, domain, judged_by: judged } = r.body;
    if (r.act !== 'KNOW' || (v !== 'accept' && v !== 'reject') || typeof domain !== 'string' || domain === '') continue;
    if (typeof judged !== 'string' || !ACTORS.includes(judged) || judged === r.actor) continue;
    const key = JSON.stringify([judged, domain]);
    const g = groups.get(key) ?? { actor: judged, domain, items: [] };
    g.items.push({ at: Date.parse(r.created_at), accept: v === 'accept' });
    groups.set(key, g);
  }
  return [...groups.values()]
    .map((g) => {
      const evalAt = Math.max(now, ...g.items.map((i) => i.at));
      let s = 0;
      let n = 0;
      for (const i of g.items) {
        const w = 0.5 ** ((evalAt - i.at) / HALF_LIFE);
        n += w;
        if (i.accept) s += w;
      }
      return { actor: g.actor, domain: g.domain, success: g.items.filter((i) => i.accept).length, total: g.items.length, trust: textbookWilson(s, n) };
    })
    .sort((a, b) => (a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
}

t.test('property: applying a prefix then the suffix equals applying everything at once', async (t) => {
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 60 }), fc.nat(), fc.integer({ min: T_START, max: T_START + SPAN + 400 * DAY }), (records, cut, now) => {
      const k = cut % (records.length + 1);
      const whole = trustTable(fold(records), now);
      const state = trustFold.init();
      fold(records.slice(0, k), state);
      fold(records.slice(k), state);
      const split = trustTable(state, now);
      if (JSON.stringify(split) !== JSON.stringify(whole)) throw new Error(`split at ${k} differs`);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random splits agree');
});

t.test('property: the fold agrees with a brute-force per-verdict model', async (t) => {
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 60 }), fc.integer({ min: T_START - 100 * DAY, max: T_START + SPAN + 400 * DAY }), (records, now) => {
      const got = trustTable(fold(records), now);
      const want = referenceTable(records, now);
      if (got.length !== want.length) throw new Error(`${got.length} rows, want ${want.length}`);
      got.forEach((g, i) => {
        const w = want[i]!;
        if (g.actor !== w.actor || g.domain !== w.domain || g.success !== w.success || g.total !== w.total) {
          throw new Error(`row ${i}: ${JSON.stringify(g)} vs ${JSON.stringify(w)}`);
        }
        if (!(Math.abs(g.trust - w.trust) < EPS) || g.trust < 0 || g.trust >= 1) throw new Error(`row ${i}: trust ${g.trust} vs ${w.trust}`);
      });
    }),
    { numRuns: 300 },
  );
  t.pass('300 random record lists agree with the model');
});
