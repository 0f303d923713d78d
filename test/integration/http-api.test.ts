// The HTTP API contract (SPEC §2 ingest rules, §6 endpoints and error envelope), exercised against one real
// background daemon started from dist/ in a temporary home. Every subtest writes to its own thread ids, so
// subtests do not depend on each other's records; counts are compared as deltas around a subtest's writes.

import t, { type Test } from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ALICE, http, httpVia, makeHome, postJson, serve, stop, type Home, type HttpResult } from '../helpers/spl.js';

const BOB = 'did:sync:agent:bob';
const CAROL = 'did:sync:user:carol';
const HEX64 = /^[0-9a-f]{64}$/;
const JSON_CT = { 'content-type': 'application/json' };
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let threadCounter = 0;
/** A fresh, distinct minted-form thread id: th_ + 64 hex. */
function newThread(): string {
  threadCounter++;
  return 'th_' + 'f00d' + threadCounter.toString(16).padStart(60, '0');
}

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
};

interface Expected {
  field?: string;
  /** Substrings or patterns the message must contain: it has to name the problem. */
  mentions?: Array<string | RegExp>;
}

/** Asserts the exact status and the §6 error envelope {object:'error', type, code, message[, field]}. */
function isError(t: Test, r: HttpResult, status: number, code: string, exp: Expected = {}): void {
  t.equal(r.status, status, `status ${status} (${code}); got ${r.status}: ${r.text.slice(0, 300)}`);
  t.match(String(r.headers['content-type']), /^application\/json/, 'error bodies are JSON');
  const b = r.body as Record<string, unknown> | undefined;
  t.type(b, 'object', 'error body parses as a JSON object');
  if (!b) return;
  t.equal(b.object, 'error');
  t.equal(b.type, TYPES[status], `type for ${status}`);
  t.equal(b.code, code);
  t.type(b.message, 'string');
  t.ok((b.message as string).length > 0, 'message is not empty');
  if (exp.field !== undefined) t.equal(b.field, exp.field, `field names ${exp.field}`);
  for (const m of exp.mentions ?? []) t.match(b.message as string, m, `message mentions ${String(m)}`);
}

/** A request over the instance's unix socket, shaped like the TCP helper's result. */
function viaSocket(socketPath: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpVia({ socketPath }, method, path, body, headers);
}

let h: Home;
let port: number;

t.before(async () => {
  h = await makeHome();
  port = h.port;
  await serve(h);
});

t.teardown(async () => {
  if (h) {
    await stop(h);
    h.cleanup();
  }
});

const rec = (thread: string, over: Record<string, unknown> = {}) => ({ thread, actor: ALICE, act: 'DO', body: {}, ...over });

async function health(): Promise<{ records: number; threads: number }> {
  const r = await http(port, 'GET', '/health');
  if (r.status !== 200) throw new Error(`GET /health: ${r.status} ${r.text}`);
  return r.body;
}

async function threadRecords(thread: string): Promise<unknown[]> {
  const r = await http(port, 'GET', `/v1/records?thread=${thread}&limit=1000`);
  if (r.status !== 200) throw new Error(`GET /v1/records?thread=${thread}: ${r.status} ${r.text}`);
  return r.body.data;
}

async function post(value: unknown): Promise<HttpResult> {
  return postJson(port, '/v1/records', value);
}

t.test('GET /health reports status, version, counts, instance DID and uptime', async (t) => {
  const r = await http(port, 'GET', '/health');
  t.equal(r.status, 200);
  t.match(String(r.headers['content-type']), /^application\/json/);
  t.same(Object.keys(r.body).sort(), ['instance_did', 'log', 'records', 'status', 'threads', 'uptime_secs', 'version']);
  t.same(r.body.log, { writing: true, dropped_lines: 0 }, 'the log file takes every line');
  t.equal(r.body.status, 'ok');
  t.equal(r.body.version, VERSION);
  t.match(r.body.instance_did, /^did:sync:instance:[0-9a-f]{16}$/);
  t.ok(Number.isInteger(r.body.records) && r.body.records >= 0, 'records is a count');
  t.ok(Number.isInteger(r.body.threads) && r.body.threads >= 0, 'threads is a count');
  t.ok(Number.isInteger(r.body.uptime_secs) && r.body.uptime_secs >= 0, 'uptime_secs is whole seconds');

  const th = newThread();
  t.equal((await post(rec(th))).status, 201);
  const after = await health();
  t.equal(after.records, r.body.records + 1, 'records counts the new record');
  t.equal(after.threads, r.body.threads + 1, 'threads counts the new thread');
});

t.test('POST /v1/records: one record, then its idempotent repeat', async (t) => {
  // The SPEC §2 test vector: the server must compute exactly this id.
  const vector = {
    act: 'INTEND',
    actor: 'did:sync:user:alice',
    body: { goal: 'Ship v2', task: true },
    clock: 0,
    data_type: 'SCALAR',
    parents: [],
    thread: 'th_13d0d958d9970abedfaaf9f0ae797b5a2f5654a3eebb78ebe87be7ded9b41044',
  };
  const before = await health();
  const r = await post(vector);
  t.equal(r.status, 201);
  t.match(r.body.id, HEX64);
  t.equal(r.body.id, '7e306c0036aed7da1beffb5aa2f0d996c14c7633c0bcf3d2c8a4e4a8815beaea', 'id is sha256 of the canonical JSON');
  t.equal(r.body.clock, 0);
  t.ok(Number.isInteger(r.body.sequence) && r.body.sequence > 0, 'sequence assigned');
  t.equal(r.body.judged_by, null);
  t.same(r.body.body, vector.body);
  t.equal(r.body.thread, vector.thread);
  const mid = await health();
  t.equal(mid.records, before.records + 1);

  const again = await post(vector);
  t.equal(again.status, 200, 'the same record again is an idempotent success');
  t.equal(again.body.id, r.body.id);
  t.equal(again.body.sequence, r.body.sequence, 'the stored record is returned, not a new one');
  t.equal((await health()).records, mid.records, 'nothing new stored');

  // judged_by is not part of the id: the same content with a judged_by is the same record.
  const judged = await post({ ...vector, judged_by: 'd'.repeat(64) });
  t.equal(judged.status, 200);
  t.equal(judged.body.id, r.body.id);
  // An explicit matching id is accepted; a mismatching one is named.
  const withId = await post({ ...vector, id: r.body.id });
  t.equal(withId.status, 200);
  t.equal(withId.body.id, r.body.id);
  const wrongId = await post({ ...vector, id: 'a'.repeat(64) });
  isError(t, wrongId, 400, 'INVALID_RECORD', { field: 'id', mentions: [r.body.id] });
  t.equal((await health()).records, mid.records);

  // A server-assigned clock produces a distinct record; parents are sorted and data_type defaults.
  const p1 = 'b'.repeat(64);
  const p2 = 'a'.repeat(64);
  const next = await post({ thread: vector.thread, actor: vector.actor, act: 'DO', body: { step: 1 }, parents: [p1, p2] });
  t.equal(next.status, 201);
  t.equal(next.body.clock, 1);
  t.same(next.body.parents, [p2, p1]);
  t.equal(next.body.data_type, 'SCALAR');
  t.ok(next.body.sequence > r.body.sequence);

  // Content type parameters are fine.
  const charset = await http(port, 'POST', '/v1/records', JSON.stringify(rec(newThread())), { 'content-type': 'application/json; charset=utf-8' });
  t.equal(charset.status, 201);
});

t.test('clocks: server-assigned per (actor, thread), conflicts and regressions', async (t) => {
  const th = newThread();
  const other = newThread();
  const clocks: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await post(rec(th, { body: { i } }));
    t.equal(r.status, 201);
    clocks.push(r.body.clock);
  }
  t.same(clocks, [0, 1, 2], 'alice on th: 0, 1, 2');
  t.equal((await post(rec(th, { actor: BOB }))).body.clock, 0, 'bob has his own clock on the same thread');
  t.equal((await post(rec(other))).body.clock, 0, 'alice has her own clock on another thread');
  t.equal((await post(rec(th, { body: { i: 3 } }))).body.clock, 3, "bob's writes do not move alice's clock");

  const before = await health();
  const conflict = await post(rec(th, { clock: 1, body: { different: true } }));
  isError(t, conflict, 409, 'CLOCK_CONFLICT', { field: 'clock', mentions: ['clock 1', ALICE, th] });

  const gap = await post(rec(th, { clock: 10, body: { jump: true } }));
  t.equal(gap.status, 201, 'a higher explicit clock is accepted');
  t.equal(gap.body.clock, 10);

  const regression = await post(rec(th, { clock: 5, body: { late: true } }));
  isError(t, regression, 409, 'CLOCK_REGRESSION', { field: 'clock', mentions: [/\b5\b/, /\b10\b/] });
  const stillConflict = await post(rec(th, { clock: 10, body: { other: true } }));
  isError(t, stillConflict, 409, 'CLOCK_CONFLICT', { field: 'clock' });

  t.equal((await health()).records, before.records + 1, 'only the gap record was stored');
  t.equal((await post(rec(th, { body: { after: 'gap' } }))).body.clock, 11, 'the next assigned clock follows the highest');
  t.equal((await threadRecords(th)).length, 7, 'alice 0-3, 10, 11 and bob 0');
});

t.test('batches: stored together, rejected together', async (t) => {
  const th = newThread();
  const before = await health();
  const batch = [rec(th, { act: 'INTEND', body: { n: 0 } }), rec(th, { body: { n: 1 } }), rec(th, { actor: BOB, body: { n: 2 } })];
  const r = await post(batch);
  t.equal(r.status, 201);
  t.ok(Array.isArray(r.body), 'an array in, an array out');
  t.equal(r.body.length, 3);
  for (const x of r.body) t.match(x.id, HEX64);
  t.same(r.body.map((x: { clock: number }) => x.clock), [0, 1, 0]);
  t.same(r.body.map((x: { body: { n: number } }) => x.body.n), [0, 1, 2], 'in request order');
  const seq = r.body.map((x: { sequence: number }) => x.sequence);
  t.same(seq, [seq[0], seq[0] + 1, seq[0] + 2], 'consecutive sequences');
  t.equal((await health()).records, before.records + 3);

  // The same batch with its clocks is an idempotent repeat.
  const withClocks = batch.map((b, i) => ({ ...b, clock: r.body[i].clock }));
  const again = await post(withClocks);
  t.equal(again.status, 200);
  t.same(again.body.map((x: { id: string }) => x.id), r.body.map((x: { id: string }) => x.id));
  t.equal((await health()).records, before.records + 3);

  // One bad element rejects the whole batch, naming records[i].field.
  const th2 = newThread();
  const bad = await post([rec(th2, { body: { n: 0 } }), rec(th2, { body: { n: 1 } }), rec(th2, { act: 'SHOUT' }), rec(th2)]);
  isError(t, bad, 400, 'INVALID_RECORD', { field: 'records[2].act', mentions: ['records[2].act', 'INTEND'] });
  t.same(await threadRecords(th2), [], 'nothing from the rejected batch is stored');
  const badClock = await post([rec(th2), rec(th2, { clock: '3' })]);
  isError(t, badClock, 400, 'INVALID_RECORD', { field: 'records[1].clock' });
  const badUnknown = await post([rec(th2), rec(th2, { colour: 'red' })]);
  isError(t, badUnknown, 400, 'INVALID_RECORD', { field: 'records[1].colour', mentions: ['unknown field'] });
  t.same(await threadRecords(th2), []);

  // A clock conflict late in the batch also rolls back the earlier, valid elements.
  const conflictBatch = await post([rec(th2, { body: { ok: 1 } }), rec(th, { clock: 0, body: { clash: true } })]);
  isError(t, conflictBatch, 409, 'CLOCK_CONFLICT', { field: 'records[1].clock' });
  t.same(await threadRecords(th2), [], 'the valid first element was not stored either');
  t.equal((await health()).records, before.records + 3);

  // Empty and oversized batches.
  isError(t, await post([]), 400, 'INVALID_REQUEST', { mentions: [/empty/] });
  const th3 = newThread();
  const big = Array.from({ length: 1001 }, (_, i) => rec(th3, { body: { i } }));
  isError(t, await post(big), 413, 'BATCH_TOO_LARGE', { mentions: ['1000', '1001'] });
  t.same(await threadRecords(th3), []);
  const full = await post(big.slice(0, 1000));
  t.equal(full.status, 201, 'exactly 1000 records is allowed');
  t.equal(full.body.length, 1000);
  t.equal(full.body[999].clock, 999);
  t.equal((await threadRecords(th3)).length, 1000);
});

t.test('malformed requests are 4xx with the problem named, never 500', async (t) => {
  const th = newThread();
  const before = await health();

  isError(t, await http(port, 'POST', '/v1/records', '{"thread": "th_', JSON_CT), 400, 'INVALID_JSON', { mentions: [/not valid JSON/] });
  isError(t, await http(port, 'POST', '/v1/records', '{"a":1,}', JSON_CT), 400, 'INVALID_JSON');
  isError(t, await http(port, 'POST', '/v1/records', '', JSON_CT), 400, 'INVALID_JSON', { mentions: [/empty/] });
  isError(t, await http(port, 'POST', '/v1/records', JSON.stringify(rec(th)), { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE', {
    mentions: ['application/json', 'text/plain'],
  });
  isError(t, await http(port, 'POST', '/v1/records', JSON.stringify(rec(th))), 415, 'UNSUPPORTED_MEDIA_TYPE', {
    mentions: ['application/json', /no Content-Type/i],
  });

  // Over 1 MiB: streamed (chunked, no length) and declared up front.
  const huge = Buffer.from(JSON.stringify(rec(th, { body: { s: 'x'.repeat(1024 * 1024 + 10) } })));
  isError(t, await http(port, 'POST', '/v1/records', huge, JSON_CT), 413, 'BODY_TOO_LARGE', { mentions: ['1048576'] });
  isError(t, await http(port, 'POST', '/v1/records', huge, { ...JSON_CT, 'content-length': String(huge.length) }), 413, 'BODY_TOO_LARGE', {
    mentions: [String(huge.length), '1048576'],
  });
  // Far over the cap the body is not read at all: the answer comes as soon as the headers are in.
  const declaredOnly = await http(port, 'POST', '/v1/records', undefined, { ...JSON_CT, 'content-length': String(64 * 1024 * 1024) });
  isError(t, declaredOnly, 413, 'BODY_TOO_LARGE', { mentions: [String(64 * 1024 * 1024), '1048576'] });
  t.equal(declaredOnly.headers.connection, 'close', 'a body that is not read closes the connection');
  // Just under the cap is accepted.
  const fits = Buffer.from(JSON.stringify(rec(th, { body: { s: '' } })));
  const under = Buffer.from(JSON.stringify(rec(th, { body: { s: 'y'.repeat(1024 * 1024 - fits.length) } })));
  t.equal(under.length, 1024 * 1024);
  t.equal((await http(port, 'POST', '/v1/records', under, JSON_CT)).status, 201, 'a body of exactly 1 MiB is accepted');

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['unknown field', { colour: 'red' }, 'colour'],
    ['clock as a string', { clock: '3' }, 'clock'],
    ['negative clock', { clock: -1 }, 'clock'],
    ['fractional clock', { clock: 1.5 }, 'clock'],
    ['act as a number', { act: 5 }, 'act'],
    ['unknown act', { act: 'do' }, 'act'],
    ['body as an array', { body: [] }, 'body'],
    ['body as a string', { body: 'hi' }, 'body'],
    ['parents as a string', { parents: 'x' }, 'parents'],
    ['parents holding a non-id', { parents: ['x'] }, 'parents[0]'],
    ['thread not an id', { thread: 'thread-1' }, 'thread'],
    ['thread as a number', { thread: 7 }, 'thread'],
    ['actor not a DID', { actor: 'alice' }, 'actor'],
    ['data_type unknown', { data_type: 'BLOB' }, 'data_type'],
    ['judged_by as a number', { judged_by: 3 }, 'judged_by'],
    ['body integer beyond 2^53', { body: { big: 2 ** 60 } }, 'body.big'],
  ];
  for (const [what, over, field] of cases) {
    const r = await post(rec(th, over));
    t.test(what, async (t) => isError(t, r, 400, 'INVALID_RECORD', { field, mentions: [field] }));
  }
  const missing = await post({ actor: ALICE, act: 'DO', body: {} });
  isError(t, missing, 400, 'INVALID_RECORD', { field: 'thread' });
  for (const v of [null, 42, 'record', true]) {
    isError(t, await post(v), 400, 'INVALID_RECORD', { field: 'record', mentions: [/JSON object/] });
  }

  t.equal((await health()).records, before.records + 1, 'only the 1 MiB record was stored');
  t.equal((await threadRecords(th)).length, 1);
});

t.test('GET /v1/records/:id', async (t) => {
  const th = newThread();
  const created = await post(rec(th, { act: 'KNOW', body: { fact: 'sky is blue', nested: { a: [1, 2, { b: null }] } }, judged_by: 'c'.repeat(64) }));
  t.equal(created.status, 201);
  const r = await http(port, 'GET', `/v1/records/${created.body.id}`);
  t.equal(r.status, 200);
  t.same(r.body, created.body, 'the stored record, as POST returned it');
  t.equal(r.body.judged_by, 'c'.repeat(64));

  const unknown = '0'.repeat(64);
  isError(t, await http(port, 'GET', `/v1/records/${unknown}`), 404, 'RECORD_NOT_FOUND', { mentions: [unknown] });
  isError(t, await http(port, 'GET', '/v1/records/not-hex'), 400, 'INVALID_REQUEST', { field: 'id', mentions: ['not-hex'] });
  isError(t, await http(port, 'GET', `/v1/records/${created.body.id.toUpperCase()}`), 400, 'INVALID_REQUEST', { field: 'id' });
  isError(t, await http(port, 'GET', `/v1/records/${created.body.id.slice(1)}`), 400, 'INVALID_REQUEST', { field: 'id' });
});

t.test('GET /v1/records: filters and pagination', async (t) => {
  const th = newThread();
  const other = newThread();
  const written = [];
  for (const [actor, act] of [[ALICE, 'INTEND'], [BOB, 'DO'], [ALICE, 'DO'], [CAROL, 'KNOW'], [BOB, 'DO']] as const) {
    const r = await post(rec(th, { actor, act, body: { by: actor } }));
    t.equal(r.status, 201);
    written.push(r.body);
  }
  t.equal((await post(rec(other, { act: 'DO' }))).status, 201);
  const ids = (xs: Array<{ id: string }>) => xs.map((x) => x.id);

  const all = await http(port, 'GET', `/v1/records?thread=${th}`);
  t.equal(all.status, 200);
  t.equal(all.body.object, 'list');
  t.same(ids(all.body.data), ids(written), 'only this thread, in sequence order');
  t.equal(all.body.next_after_sequence, null, 'a short page is the last one');

  const bobs = await http(port, 'GET', `/v1/records?thread=${th}&actor=${encodeURIComponent(BOB)}`);
  t.same(ids(bobs.body.data), [written[1].id, written[4].id]);
  const dos = await http(port, 'GET', `/v1/records?thread=${th}&act=DO`);
  t.same(ids(dos.body.data), [written[1].id, written[2].id, written[4].id]);
  const aliceDo = await http(port, 'GET', `/v1/records?thread=${th}&actor=${encodeURIComponent(ALICE)}&act=DO`);
  t.same(ids(aliceDo.body.data), [written[2].id]);
  const carolAnywhere = await http(port, 'GET', `/v1/records?actor=${encodeURIComponent(CAROL)}&act=KNOW&limit=1000`);
  t.ok(ids(carolAnywhere.body.data).includes(written[3].id));
  for (const x of carolAnywhere.body.data) t.same([x.actor, x.act], [CAROL, 'KNOW']);
  const afterSecond = await http(port, 'GET', `/v1/records?thread=${th}&after_sequence=${written[1].sequence}`);
  t.same(ids(afterSecond.body.data), ids(written.slice(2)));

  // Pages of 2: 2, 2, 1, with next_after_sequence chaining them.
  const pages: string[][] = [];
  let after: number | null = 0;
  while (after !== null && pages.length < 10) {
    const page: HttpResult = await http(port, 'GET', `/v1/records?thread=${th}&limit=2&after_sequence=${after}`);
    t.equal(page.status, 200);
    pages.push(ids(page.body.data));
    after = page.body.next_after_sequence;
    if (after !== null) t.equal(after, page.body.data[page.body.data.length - 1].sequence);
  }
  t.same(pages, [ids(written.slice(0, 2)), ids(written.slice(2, 4)), ids(written.slice(4))]);

  for (const bad of ['0', '1001', 'abc', '-1', '1.5']) {
    isError(t, await http(port, 'GET', `/v1/records?limit=${bad}`), 400, 'INVALID_REQUEST', { field: 'limit', mentions: ['limit', '1000'] });
  }
  isError(t, await http(port, 'GET', '/v1/records?limit=1&limit=2'), 400, 'INVALID_REQUEST', { field: 'limit' });
  isError(t, await http(port, 'GET', '/v1/records?after_sequence=x'), 400, 'INVALID_REQUEST', { field: 'after_sequence' });
  isError(t, await http(port, 'GET', '/v1/records?thread=nope'), 400, 'INVALID_REQUEST', { field: 'thread', mentions: ['thread'] });
  isError(t, await http(port, 'GET', '/v1/records?actor=alice'), 400, 'INVALID_REQUEST', { field: 'actor', mentions: ['DID'] });
  isError(t, await http(port, 'GET', '/v1/records?act=SING'), 400, 'INVALID_REQUEST', { field: 'act', mentions: ['INTEND'] });
});

t.test('POST /v1/records/query', async (t) => {
  const th = newThread();
  const written: Array<{ id: string; sequence: number; act: string; body: Record<string, unknown> }> = [];
  const specs = [
    { act: 'LEARN', body: { topic: 'routing_rule', n: 0, meta: { level: 'a' } } },
    { act: 'DO', body: { topic: 'heartbeat', n: 1, meta: { level: 'b' } } },
    { act: 'KNOW', body: { topic: 'routing_rule', n: 2, enabled: true } },
    { act: 'DO', body: { topic: 'other', n: 3, enabled: false } },
    { act: 'LEARN', body: { topic: 'routing_rule', n: 4, meta: { level: 'b' } } },
    { act: 'GET', body: { n: 5 } },
  ];
  for (const s of specs) {
    const r = await post(rec(th, s));
    t.equal(r.status, 201);
    written.push(r.body);
  }
  const ns = (r: HttpResult) => r.body.data.map((x: { body: { n: number } }) => x.body.n);
  const q = (query: unknown) => postJson(port, '/v1/records/query', query);

  const topic = await q({ where: { thread: th, 'body.topic': 'routing_rule' } });
  t.equal(topic.status, 200);
  t.equal(topic.body.object, 'list');
  t.same(ns(topic), [0, 2, 4], 'body.topic equality, sequence order');
  t.equal(topic.body.next_cursor, null);

  t.same(ns(await q({ where: { thread: th, act: ['DO', 'KNOW'] } })), [1, 2, 3], 'membership on an envelope field');
  t.same(ns(await q({ where: { thread: th, 'body.topic': ['heartbeat', 'other'] } })), [1, 3], 'membership on a body path');
  t.same(ns(await q({ where: { thread: th, act: 'LEARN', 'body.meta.level': 'b' } })), [4], 'nested body path with an envelope field');
  t.same(ns(await q({ where: { thread: th, 'body.enabled': true } })), [2], 'boolean equality');
  t.same(ns(await q({ where: { thread: th, 'body.enabled': false } })), [3]);
  t.same(ns(await q({ where: { thread: th, 'body.n': { gte: 1, lt: 4 } } })), [1, 2, 3], 'range on a body path');
  t.same(ns(await q({ where: { thread: th, sequence: { gt: written[3]!.sequence } } })), [4, 5], 'range on sequence');
  t.same(ns(await q({ where: { thread: th, clock: { lte: 1 } } })), [0, 1], 'range on clock');
  t.same(ns(await q({ where: { thread: th, 'body.topic': null } })), [5], 'null matches a missing body key');
  t.same(ns(await q({ where: { thread: th, 'body.topic': ['other', null] } })), [3, 5], 'null in a membership array matches null/missing');
  t.same(ns(await q({ where: { thread: th, 'body.topic': [null] } })), [5]);
  t.same(ns(await q({ where: { thread: th, judged_by: ['nobody', null], act: ['GET', 'DO'] } })), [1, 3, 5], 'null membership on an envelope field');
  t.same(ns(await q({ where: { id: written[2]!.id } })), [2]);
  t.same(ns(await q({ where: { thread: th, 'body.n': '2' } })), [], 'the string "2" does not equal the number 2');

  const desc = await q({ where: { thread: th }, sort: '-sequence' });
  t.same(ns(desc), [5, 4, 3, 2, 1, 0], '-sequence sorts newest first');
  const limited = await q({ where: { thread: th }, limit: 2 });
  t.same(ns(limited), [0, 1]);
  t.type(limited.body.next_cursor, 'string', 'a full page carries next_cursor');

  for (const sort of ['sequence', '-sequence']) {
    const seen: number[] = [];
    let cursor: string | null | undefined;
    let pages = 0;
    do {
      const page = await q({ where: { thread: th }, sort, limit: 4, ...(cursor ? { cursor } : {}) });
      t.equal(page.status, 200, page.text);
      seen.push(...ns(page));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    t.same(seen, sort === 'sequence' ? [0, 1, 2, 3, 4, 5] : [5, 4, 3, 2, 1, 0], `cursor pagination by ${sort} visits each record once`);
    t.equal(pages, 2);
  }

  isError(t, await q({ where: { colour: 'red' } }), 400, 'INVALID_QUERY', { field: 'where.colour', mentions: ['where.colour'] });
  isError(t, await q({ where: { parents: [] } }), 400, 'INVALID_QUERY', { field: 'where.parents' });
  isError(t, await q({ where: { 'body.a-b': 1 } }), 400, 'INVALID_QUERY', { field: 'where.body.a-b' });
  isError(t, await q({ where: { act: { gt: 'A' } } }), 400, 'INVALID_QUERY', { field: 'where.act' });
  isError(t, await q({ where: { clock: { near: 1 } } }), 400, 'INVALID_QUERY', { field: 'where.clock.near' });
  isError(t, await q({ where: { act: [] } }), 400, 'INVALID_QUERY', { field: 'where.act' });
  isError(t, await q({ where: { act: [{}] } }), 400, 'INVALID_QUERY', { field: 'where.act[0]' });
  isError(t, await q({ where: [] }), 400, 'INVALID_QUERY', { field: 'where' });
  isError(t, await q({ sort: 'clock' }), 400, 'INVALID_QUERY', { field: 'sort' });
  isError(t, await q({ limit: 1001 }), 400, 'INVALID_QUERY', { field: 'limit', mentions: ['1000'] });
  isError(t, await q({ limit: 0 }), 400, 'INVALID_QUERY', { field: 'limit' });
  isError(t, await q({ limit: '10' }), 400, 'INVALID_QUERY', { field: 'limit' });
  isError(t, await q({ cursor: 'not-a-cursor' }), 400, 'INVALID_QUERY', { field: 'cursor' });
  isError(t, await q({ select: ['id'] }), 400, 'INVALID_QUERY', { field: 'select' });
  isError(t, await q([]), 400, 'INVALID_QUERY', { field: 'query' });
  isError(t, await http(port, 'POST', '/v1/records/query', '{"where":', JSON_CT), 400, 'INVALID_JSON');
  isError(t, await http(port, 'POST', '/v1/records/query', '{}', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
});

t.test('threads: list, state, fulfilment and records', async (t) => {
  const th = newThread();
  const intend = await post(rec(th, { act: 'INTEND', body: { goal: 'ship' } }));
  t.equal(intend.status, 201);
  const work = await post(rec(th, { actor: BOB, act: 'DO', body: { step: 1 } }));
  const work2 = await post(rec(th, { actor: BOB, act: 'DO', body: { step: 2 } }));

  const list = await http(port, 'GET', '/v1/threads?limit=1000');
  t.equal(list.status, 200);
  t.equal(list.body.object, 'list');
  t.equal(list.body.total, (await health()).threads, 'total matches /health threads');
  const entry = list.body.data.find((x: { thread: string }) => x.thread === th);
  t.ok(entry, 'the thread is listed');
  t.equal(entry?.records, 3, 'with its record count');
  t.equal(entry?.first_sequence, intend.body.sequence);
  t.equal(entry?.last_sequence, work2.body.sequence);
  t.equal(list.body.data[0].thread, th, 'most recently written first');
  const one = await http(port, 'GET', '/v1/threads?limit=1');
  t.equal(one.body.data.length, 1);
  isError(t, await http(port, 'GET', '/v1/threads?limit=0'), 400, 'INVALID_REQUEST', { field: 'limit' });

  const open = await http(port, 'GET', `/v1/threads/${th}`);
  t.equal(open.status, 200);
  t.equal(open.body.object, 'thread');
  t.equal(open.body.thread, th);
  t.equal(open.body.records, 3);
  t.same(open.body.participants, [ALICE, BOB]);
  t.same(open.body.actor_clocks, { [ALICE]: 0, [BOB]: 1 });
  t.equal(open.body.status, 'open');

  const unrelated = await post(rec(th, { actor: CAROL, act: 'KNOW', body: { fulfills: work.body.id } }));
  t.equal(unrelated.status, 201);
  t.equal((await http(port, 'GET', `/v1/threads/${th}`)).body.status, 'open', 'fulfilling a non-INTEND does not fulfil the thread');

  const done = await post(rec(th, { act: 'KNOW', body: { fulfills: intend.body.id } }));
  t.equal(done.status, 201);
  const fulfilled = await http(port, 'GET', `/v1/threads/${th}`);
  t.equal(fulfilled.body.status, 'fulfilled');
  t.equal(fulfilled.body.records, 5);
  t.same(fulfilled.body.participants, [ALICE, BOB, CAROL]);
  t.same(fulfilled.body.actor_clocks, { [ALICE]: 1, [BOB]: 1, [CAROL]: 0 });

  const records = await http(port, 'GET', `/v1/threads/${th}/records`);
  t.equal(records.status, 200);
  t.same(
    records.body.data.map((x: { id: string }) => x.id),
    [intend, work, work2, unrelated, done].map((r) => r.body.id),
    'records in sequence order',
  );
  const seqs = records.body.data.map((x: { sequence: number }) => x.sequence);
  t.same(seqs, [...seqs].sort((a: number, b: number) => a - b));
  const page = await http(port, 'GET', `/v1/threads/${th}/records?limit=2&after_sequence=${work.body.sequence}`);
  t.same(page.body.data.map((x: { id: string }) => x.id), [work2.body.id, unrelated.body.id]);
  t.equal(page.body.next_after_sequence, unrelated.body.sequence);

  const missing = newThread();
  isError(t, await http(port, 'GET', `/v1/threads/${missing}`), 404, 'THREAD_NOT_FOUND', { mentions: [missing] });
  isError(t, await http(port, 'GET', `/v1/threads/${missing}/records`), 404, 'THREAD_NOT_FOUND', { mentions: [missing] });
  isError(t, await http(port, 'GET', '/v1/threads/th_NOT-AN-ID'), 400, 'INVALID_REQUEST', { field: 'id' });
  isError(t, await http(port, 'GET', `/v1/threads/${th}/records?limit=1001`), 400, 'INVALID_REQUEST', { field: 'limit' });
});

t.test('unknown routes and wrong methods', async (t) => {
  isError(t, await http(port, 'GET', '/nope'), 404, 'NOT_FOUND', { mentions: ['/nope'] });
  isError(t, await http(port, 'GET', '/v1/nothing/here'), 404, 'NOT_FOUND', { mentions: ['GET /v1/nothing/here'] });
  isError(t, await http(port, 'POST', '/v1/threads', '{}', JSON_CT), 405, 'METHOD_NOT_ALLOWED', { mentions: ['POST', '/v1/threads'] });

  const del = await http(port, 'DELETE', '/v1/records');
  isError(t, del, 405, 'METHOD_NOT_ALLOWED', { mentions: ['DELETE', '/v1/records'] });
  const allow = String(del.headers.allow ?? '').split(/,\s*/).sort();
  t.same(allow, ['GET', 'HEAD', 'POST'], '405 carries an Allow header listing the methods the path supports');

  const put = await http(port, 'PUT', `/v1/records/${'a'.repeat(64)}`, '{}', JSON_CT);
  isError(t, put, 405, 'METHOD_NOT_ALLOWED', { mentions: ['PUT'] });
  t.same(String(put.headers.allow ?? '').split(/,\s*/).sort(), ['GET', 'HEAD']);
  isError(t, await http(port, 'DELETE', `/v1/threads/${newThread()}`), 405, 'METHOD_NOT_ALLOWED');
  // A method the router does not implement at all is still an enveloped 405, not a 500 or a bare 501.
  isError(t, await http(port, 'PROPFIND', '/v1/records'), 405, 'METHOD_NOT_ALLOWED', { mentions: ['PROPFIND'] });
  isError(t, await http(port, 'PROPFIND', '/no/such/route'), 404, 'NOT_FOUND', { mentions: ['/no/such/route'] });

  const options = await http(port, 'OPTIONS', '/v1/records');
  t.equal(options.status, 200, 'OPTIONS answers with the allowed methods');
  t.same(String(options.headers.allow ?? '').split(/,\s*/).sort(), ['GET', 'HEAD', 'POST']);
});

t.test('the unix socket serves the same API', async (t) => {
  const sock = join(h.home, 'run', 'spl.sock');
  t.ok(statSync(sock).isSocket(), 'run/spl.sock is a socket');
  t.equal(statSync(sock).mode & 0o777, 0o600, 'socket is 0600');
  t.equal(statSync(join(h.home, 'run')).mode & 0o777, 0o700, 'run/ is 0700');

  const [tcp, unix] = await Promise.all([http(port, 'GET', '/health'), viaSocket(sock, 'GET', '/health')]);
  t.equal(unix.status, 200);
  t.same(Object.keys(unix.body).sort(), Object.keys(tcp.body).sort());
  const { uptime_secs: a, ...tcpRest } = tcp.body;
  const { uptime_secs: b, ...unixRest } = unix.body;
  t.same(unixRest, tcpRest, 'same /health body');
  t.ok(Math.abs(a - b) <= 1, 'uptime agrees within a second');

  const th = newThread();
  const written = await viaSocket(sock, 'POST', '/v1/records', JSON.stringify(rec(th, { body: { via: 'socket' } })), JSON_CT);
  t.equal(written.status, 201);
  const read = await http(port, 'GET', `/v1/records/${written.body.id}`);
  t.same(read.body, written.body, 'a record written over the socket is readable over TCP');
  const viaSock = await viaSocket(sock, 'GET', `/v1/threads/${th}`);
  t.equal(viaSock.body.records, 1);
  isError(t, await viaSocket(sock, 'GET', '/nope'), 404, 'NOT_FOUND');
  isError(t, await viaSocket(sock, 'POST', '/v1/records', '{', JSON_CT), 400, 'INVALID_JSON');
});
