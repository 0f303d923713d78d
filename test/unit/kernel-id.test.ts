import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { canonicalJson } from '../../lib/kernel/canonical.js';
import { recordId, hashedBytes } from '../../lib/kernel/id.js';
import { ACTS, DATA_TYPES, type Act, type DataType } from '../../lib/kernel/record.js';

const VECTOR = {
  act: 'INTEND' as Act,
  actor: 'did:sync:user:alice',
  body: { goal: 'Ship v2', task: true },
  clock: 0,
  data_type: 'SCALAR' as DataType,
  parents: [] as string[],
  thread: 'th_13d0d958d9970abedfaaf9f0ae797b5a2f5654a3eebb78ebe87be7ded9b41044',
};

t.test('reproduces the SPEC test vector', async (t) => {
  t.equal(
    hashedBytes(VECTOR),
    '{"act":"INTEND","actor":"did:sync:user:alice","body":{"goal":"Ship v2","task":true},"clock":0,"data_type":"SCALAR","parents":[],"thread":"th_13d0d958d9970abedfaaf9f0ae797b5a2f5654a3eebb78ebe87be7ded9b41044"}',
  );
  t.equal(recordId(VECTOR), '7e306c0036aed7da1beffb5aa2f0d996c14c7633c0bcf3d2c8a4e4a8815beaea');
});

t.test('canonical JSON escapes minimally and sorts by code point', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [true, null, 'x'] }), '{"a":[true,null,"x"],"b":1}');
  t.equal(canonicalJson('q"b\\n\n\t\u0001é😀'), '"q\\"b\\\\n\\n\\t\\u0001é😀"');
  // U+FFFF sorts before U+1F600 by code point, though not by UTF-16 unit.
  t.equal(canonicalJson({ '\u{1F600}': 1, '\uFFFF': 2 }), '{"\uFFFF":2,"\u{1F600}":1}');
  t.equal(canonicalJson(-0), '0');
  t.equal(canonicalJson({ x: 1.5, y: -20 }), '{"x":1.5,"y":-20}');
  t.throws(() => canonicalJson(Number.NaN));
  t.throws(() => canonicalJson(2 ** 60));
});

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'binary' }).filter((s) => s.isWellFormed()),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'binary' }).filter((s) => s.isWellFormed()), tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

function shuffleKeys(v: unknown, seed: number): unknown {
  if (Array.isArray(v)) return v.map((x, i) => shuffleKeys(x, seed + i));
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    entries.sort((a, b) => ((a[0].length * 31 + seed) % 7) - ((b[0].length * 17 + seed) % 5));
    entries.reverse();
    return Object.fromEntries(entries.map(([k, x]) => [k, shuffleKeys(x, seed + 1)]));
  }
  return v;
}

const record = fc.record({
  act: fc.constantFrom(...ACTS),
  actor: fc.constantFrom('did:sync:user:alice', 'did:sync:agent:dev', 'did:web:example.com'),
  body: fc.dictionary(fc.string(), jsonValue, { maxKeys: 5 }),
  clock: fc.nat(),
  data_type: fc.constantFrom(...DATA_TYPES),
  parents: fc.array(fc.stringMatching(/^[0-9a-f]{64}$/), { maxLength: 4 }),
  thread: fc.stringMatching(/^th_[0-9a-f]{64}$/),
});

t.test('property: key order never changes an id', async (t) => {
  fc.assert(
    fc.property(record, fc.integer(), (r, seed) => {
      const shuffled = { ...(shuffleKeys(r, seed) as typeof r) };
      const reordered = Object.fromEntries(Object.entries(shuffled).reverse()) as typeof r;
      return recordId(reordered) === recordId(r);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random records hashed identically under key reordering');
});

t.test('property: parents are sorted before hashing', async (t) => {
  fc.assert(
    fc.property(record, (r) => {
      const reversed = { ...r, parents: [...r.parents].reverse() };
      const sorted = { ...r, parents: [...r.parents].sort() };
      return recordId(reversed) === recordId(sorted) && hashedBytes(reversed).includes(JSON.stringify(sorted.parents));
    }),
    { numRuns: 300 },
  );
  t.pass('parent order does not fork the id');
});

t.test('property: non-ASCII and control characters round-trip', async (t) => {
  fc.assert(
    fc.property(jsonValue, (v) => {
      const text = canonicalJson(v);
      const noRawControls = !/[\u0000-\u001f]/.test(text);
      return noRawControls && canonicalJson(JSON.parse(text)) === text && isDeepStrictEqual(JSON.parse(text), v);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random values survive canonical encoding and parsing unchanged');
});

/** The plain form of the canonical encoding, without its fast paths: keys always sorted by code point, every string escaped by replace. */
function referenceCanonical(v: unknown): string {
  if (typeof v === 'string') return '"' + v.replace(/["\\\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1).replace(/\\u00([0-9A-F]{2})/g, (_m, h: string) => `\\u00${h.toLowerCase()}`)) + '"';
  if (v === null || typeof v !== 'object') return canonicalJson(v);
  if (Array.isArray(v)) return '[' + v.map(referenceCanonical).join(',') + ']';
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort((a, b) => {
    const ca = [...a].map((c) => c.codePointAt(0)!);
    const cb = [...b].map((c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
    return ca.length - cb.length;
  });
  return '{' + keys.map((k) => referenceCanonical(k) + ':' + referenceCanonical(o[k])).join(',') + '}';
}

t.test('property: the fast paths (no escaping needed, no surrogate in the keys) give the plain encoding', async (t) => {
  const keyArb = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('\uFFFF', '\u{1F600}', '\uE000', '\uD83D', 'a"b', 'tab\t'));
  const valueArb = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, fc.string({ unit: 'binary' }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(keyArb, tie('v'), { maxKeys: 4 })),
  })).v;
  fc.assert(fc.property(valueArb, (v) => canonicalJson(v) === referenceCanonical(v)), { numRuns: 1000 });
  t.pass('1000 random values, keys and strings across all of Unicode including lone surrogates');
});
