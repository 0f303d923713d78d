// The fuzz drill's requests (drills/fuzz-drill.mjs): request i of a run is a pure function of (seed, i), drawn
// from its own PRNG, so a seed replays the same requests in the same order (which connection carries each one,
// and what the store holds at that moment, still vary with timing).
//
// Every request says who sends it (bob, the low-privilege actor; the admin; nobody), its category, a short kind
// label for the report, and what the drill may judge it by:
//   denied     bob asks for a resource his rules deny (by the product's resource map applied to the path as an
//              operator means it: case, percent-encoding, dot segments and duplicate slashes folded away), so
//              any 2xx is a denied request served;
//   valid      a well-formed request the sender may make: it should succeed (2xx);
//   answer     'required' (a response must come), 'optional' (the server may also just close), or 'none'.

import { buildRequest } from './fuzz-http.mjs';
import { mulberry32 } from './prng.mjs';

// ---------------------------------------------------------------------------------------------------------------
// PRNG (mulberry32 from prng.mjs) and hashing

function hash32(a, b) {
  let h = (a ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (b + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

class Rng {
  constructor(seed) {
    this.next = mulberry32(seed);
  }
  f() {
    return this.next();
  }
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick(a) {
    return a[Math.floor(this.next() * a.length)];
  }
  chance(p) {
    return this.next() < p;
  }
  /** Picks a key of `weights` ({name: weight}) in proportion to its weight. */
  weighted(weights) {
    const entries = Object.entries(weights);
    let total = 0;
    for (const [, w] of entries) total += w;
    let u = this.next() * total;
    for (const [k, w] of entries) {
      if ((u -= w) < 0) return k;
    }
    return entries[entries.length - 1][0];
  }
  hex(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(this.next() * 16)];
    return s;
  }
  str(n, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789') {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The product's intent: which resource a request touches (README "Permission rules", SPEC §10), judged on the
// path an operator means, and which of them bob's rules allow.

export const BOB = 'did:sync:user:bob';
export const BOB_ALLOWED = ['record_write', 'record_read', 'thread_read', 'config_read'];
export const ENGINE_CONFIG = 'th_engine_config';

/** The path as meant: query and fragment dropped, percent-decoded, case-folded, dot segments and repeated
 * slashes resolved, trailing slashes, dots, spaces and ;params dropped, Unicode compatibility-folded. */
export function canonicalPath(raw) {
  let p = typeof raw === 'string' ? raw : raw.toString('utf8');
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(p);
  if (abs) p = p.slice(abs[0].length) || '/';
  p = p.split('#')[0].split('?')[0];
  for (let k = 0; k < 3 && /%[0-9a-f]{2}/i.test(p); k++) {
    try {
      p = decodeURIComponent(p);
    } catch {
      p = p.replace(/%([0-9a-f]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    }
  }
  p = p.normalize('NFKC').toLowerCase().replace(/\\/g, '/').replace(/\0/g, '');
  const out = [];
  for (let seg of p.split('/')) {
    seg = seg.split(';')[0].replace(/[.\s]+$/, (m) => (seg === '.' || seg === '..' ? m : ''));
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

export function intendedResource(method, path) {
  const m = method.toUpperCase();
  if (m === 'OPTIONS') return null; // answers only with Allow; nothing is read or changed
  const p = canonicalPath(path);
  const under = (base) => p === base || p.startsWith(base + '/');
  if (p === '/health') return null;
  if (p === '/v1/records' && m === 'POST') return 'records'; // decided per record: record_write or config_write
  if (under('/v1/records')) return 'record_read';
  if (under('/v1/threads')) return 'thread_read';
  if (under('/v1/tokens')) return 'config_write';
  if (under('/v1/dispatch')) return 'dispatch';
  if (under('/v1/config') && m !== 'GET' && m !== 'HEAD') return 'config_write';
  return 'config_read';
}

/** Whether bob's rules deny this request (for record writes: any record on th_engine_config). */
export function deniedForBob(method, path, records) {
  const r = intendedResource(method, path);
  if (r === null) return false;
  if (r === 'records') return (records ?? []).some((x) => x && typeof x === 'object' && x.thread === ENGINE_CONFIG);
  return !BOB_ALLOWED.includes(r);
}

// ---------------------------------------------------------------------------------------------------------------
// Shared material

const ACTS = ['INTEND', 'DO', 'KNOW', 'LEARN', 'GET', 'PUT', 'CALL', 'MAP'];
const OTHER_ACTORS = ['did:sync:user:root', 'did:sync:user:alice', 'did:sync:agent:deployer', 'did:sync:system:scheduler', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK', 'did:web:example.com', 'did:sync:user:bob2', 'did:sync:user:bo', 'did:sync:user:BOB', 'did:sync:instance:0123456789abcdef'];

export class Cases {
  /**
   * @param seed   the run's seed
   * @param ctx    { port, adminActor, bobToken(), adminToken(), corpus: { records: [ids], threads: [ids] },
   *                 tokenNames: { admin, spare } }
   */
  constructor(seed, ctx) {
    this.seed = seed;
    this.ctx = ctx;
    this.deepCap = ctx.deepCap ?? 50; // 10k-deep documents and 100k-character paths cost the server tens of ms each: a capped number
    this.deepSent = 0;
    this.bigBodyCap = ctx.bigBodyCap ?? 100; // >1 MiB bodies: a capped number
    this.bigBodySent = 0;
  }

  /** Request i of the main stream. */
  make(i) {
    const r = new Rng(hash32(this.seed, i));
    const cat = r.weighted({ valid: 22, json: 24, query: 20, path: 22, claim: 5, http: 7 });
    const spec = { valid: this.valid, json: this.jsonCase, query: this.queryCase, path: this.pathCase, claim: this.claim, http: this.http }[cat].call(this, r, i);
    spec.i = i;
    spec.cat = cat;
    return spec;
  }

  // --- building blocks ----------------------------------------------------------------------------------------

  actorOf(who) {
    return who === 'admin' ? this.ctx.adminActor : BOB;
  }

  auth(who) {
    if (who === 'bob') return [['Authorization', `Bearer ${this.ctx.bobToken()}`]];
    if (who === 'admin') return [['Authorization', `Bearer ${this.ctx.adminToken()}`]];
    return [];
  }

  freshThread(i, salt = 0) {
    const h = (n) => hash32(this.seed ^ salt, n).toString(16).padStart(8, '0');
    return 'th_' + h(i) + h(i + 0x1000000) + h(i + 0x2000000) + h(i + 0x3000000) + h(i + 0x4000000) + h(i + 0x5000000) + h(i + 0x6000000) + h(i + 0x7000000);
  }

  record(r, i, who, extra = {}) {
    const rec = { thread: this.freshThread(i, r.int(0, 3)), actor: this.actorOf(who), act: r.pick(ACTS), body: { fz: i, n: r.int(0, 1e6), s: r.str(r.int(0, 40)) } };
    if (r.chance(0.2)) rec.body.tags = [r.str(4), r.str(5)];
    if (r.chance(0.1) && this.ctx.corpus.records.length) rec.parents = [r.pick(this.ctx.corpus.records)];
    if (r.chance(0.1)) rec.data_type = r.pick(['SCALAR', 'FORMULA', 'DISTRIBUTION', 'REFERENCE', 'MORPHISM', 'VOID']);
    return Object.assign(rec, extra);
  }

  queryDoc(r) {
    const q = {};
    const where = {};
    if (r.chance(0.5)) where.act = r.chance(0.5) ? r.pick(ACTS) : [r.pick(ACTS), r.pick(ACTS)];
    if (r.chance(0.3) && this.ctx.corpus.threads.length) where.thread = r.pick(this.ctx.corpus.threads);
    if (r.chance(0.3)) where['body.fz'] = { gt: r.int(0, 1000) };
    if (r.chance(0.2)) where.sequence = { gt: r.int(0, 100), lte: r.int(100, 100000) };
    if (r.chance(0.2)) where['body.topic'] = r.pick(['routing_rule', 'permission_rule', 'x']);
    if (Object.keys(where).length) q.where = where;
    if (r.chance(0.5)) q.limit = r.int(1, 200);
    if (r.chance(0.3)) q.sort = r.pick(['sequence', '-sequence']);
    return q;
  }

  http_(who, method, path, { body, headers = [], ctype = body === undefined ? undefined : 'application/json', extraHeaders = [] } = {}) {
    const h = [...this.auth(who), ...(ctype === undefined ? [] : [['Content-Type', ctype]]), ...headers, ...extraHeaders];
    return buildRequest({ method, path, headers: h, body, port: this.ctx.port });
  }

  // --- valid: the server doing real work ------------------------------------------------------------------------

  valid(r, i) {
    const who = r.chance(0.6) ? 'bob' : 'admin';
    const c = this.ctx.corpus;
    const kind = r.weighted({ write: 30, batch: 6, get: 10, list: 10, query: 12, threads: 5, thread: 8, threadRecords: 8, health: 3, reads: 6, expr: 2, tokens: who === 'admin' ? 2 : 0 });
    let method = 'GET';
    let path;
    let body;
    let records;
    switch (kind) {
      case 'write':
        records = [this.record(r, i, who)];
        method = 'POST';
        path = '/v1/records';
        body = JSON.stringify(records[0]);
        break;
      case 'batch':
        records = Array.from({ length: r.int(2, 6) }, (_, k) => this.record(r, i, who, { body: { fz: i, k } }));
        method = 'POST';
        path = '/v1/records';
        body = JSON.stringify(records);
        break;
      case 'get':
        path = `/v1/records/${r.pick(c.records)}`;
        break;
      case 'list': {
        const qs = [];
        if (r.chance(0.6)) qs.push(`thread=${r.pick(c.threads)}`);
        if (r.chance(0.3)) qs.push(`act=${r.pick(ACTS)}`);
        if (r.chance(0.3)) qs.push(`actor=${encodeURIComponent(r.pick([BOB, this.ctx.adminActor]))}`);
        if (r.chance(0.5)) qs.push(`limit=${r.int(1, 100)}`);
        if (r.chance(0.3)) qs.push(`after_sequence=${r.int(0, 50)}`);
        path = `/v1/records${qs.length ? '?' + qs.join('&') : ''}`;
        break;
      }
      case 'query':
        method = 'POST';
        path = '/v1/records/query';
        body = JSON.stringify(this.queryDoc(r));
        break;
      case 'threads':
        path = `/v1/threads?limit=${r.int(1, 50)}`;
        break;
      case 'thread':
        path = `/v1/threads/${r.pick(c.threads)}`;
        break;
      case 'threadRecords':
        path = `/v1/threads/${r.pick(c.threads)}/records?limit=${r.int(1, 50)}`;
        break;
      case 'health':
        path = '/health';
        break;
      case 'reads':
        path = r.pick(['/v1/instance', '/v1/trust', '/v1/config', '/v1/config/rules', '/v1/config/permission-rules', '/v1/engine/health', '/v1/engine/expression_cache/stats']);
        break;
      case 'expr':
        method = 'POST';
        path = '/v1/engine/expr';
        body = JSON.stringify({ expression: r.pick(['1 + 2 == 3', 'current_actor() != ""', 'resource == "record_read"', '[1,2,3].map(x, x * 2).size() == 3', 'has(record.body)']), context: 'permission', record: { act: 'DO', body: { a: 1 } } });
        break;
      case 'tokens':
        path = '/v1/tokens';
        break;
    }
    return { who, kind: `valid.${kind}`, method, path, records, valid: true, bytes: this.http_(who, method, path, { body }), answer: 'required' };
  }

  // --- json: malformed, truncated, deep, huge numbers, bad UTF-8, lone surrogates, prototype keys --------------

  jsonCase(r, i) {
    const who = r.chance(0.75) ? 'bob' : 'admin';
    // Where the document goes. Only bob sends to /v1/tokens (the admin would mint real tokens).
    const target = r.weighted({ records: 55, query: 25, expr: 12, tokens: who === 'bob' ? 8 : 0 });
    const path = { records: '/v1/records', query: '/v1/records/query', expr: '/v1/engine/expr', tokens: '/v1/tokens' }[target];
    const base = () => {
      if (target === 'records') return r.chance(0.8) ? this.record(r, i, who) : [this.record(r, i, who), this.record(r, i + 1, who)];
      if (target === 'query') return this.queryDoc(r);
      if (target === 'expr') return { expression: r.pick(['1 + 1', 'record.act == "DO"', 'size(record.body) > 0']), context: r.pick(['permission', 'routing', 'health_check']), record: { act: 'DO', body: { a: 1 } } };
      return { name: `bob-mint-${i}`, actor: r.pick(OTHER_ACTORS) };
    };
    const deepOk = this.deepSent < this.deepCap;
    const kind = r.weighted({ truncated: 18, mutated: 18, garbage: 6, scalar: 5, deep: deepOk ? 0.6 : 0, nested: 4, huge: 12, utf8: 12, surrogate: 12, proto: 14 });
    let body;
    let doc; // the parsed document the server will see, when the body is valid JSON
    switch (kind) {
      case 'truncated': {
        const s = Buffer.from(JSON.stringify(base()));
        body = s.subarray(0, r.int(0, s.length - 1));
        break;
      }
      case 'mutated': {
        const s = Buffer.from(JSON.stringify(base()));
        const n = r.int(1, 4);
        let b = Buffer.from(s);
        for (let k = 0; k < n; k++) {
          const at = r.int(0, b.length - 1);
          const op = r.pick(['flip', 'insert', 'delete']);
          const ch = Buffer.from(r.pick(['{', '}', '[', ']', '"', ':', ',', '\\', '0', 'e', '-', '.', 'n', 't', ' ', '\n', '\x00', '\x1f', 'ä']));
          if (op === 'flip') b = Buffer.concat([b.subarray(0, at), ch, b.subarray(at + 1)]);
          else if (op === 'insert') b = Buffer.concat([b.subarray(0, at), ch, b.subarray(at)]);
          else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        }
        body = b;
        break;
      }
      case 'garbage':
        body = Buffer.from(Array.from({ length: r.int(1, 300) }, () => r.int(0, 255)));
        break;
      case 'scalar':
        body = r.pick(['', ' ', '\n\t ', 'null', 'true', 'false', '0', '-1', '1e400', '"x"', '[]', '[[]]', '{}', '[{}]', '[null]', '{"":""}', 'NaN', 'Infinity', 'undefined', "{'a':1}", '{"a":1,}', '[1,]', '{"a"}', '\ufeff{}', '{"a":1}{"b":2}', '{"a":1} x']);
        break;
      case 'deep': {
        this.deepSent++;
        const n = r.pick([10000, 10000, 5000, 20000]);
        const nest = r.chance(0.5) ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
        body = this.wrapDeep(r, target, i, who, nest);
        break;
      }
      case 'nested': {
        const n = r.pick([63, 64, 65, 100, 500, 1000]);
        const nest = r.chance(0.5) ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
        body = this.wrapDeep(r, target, i, who, nest);
        break;
      }
      case 'huge': {
        const num = r.pick(['1e400', '-1e400', '1e-400', '123456789012345678901', '-98765432109876543210', '9007199254740993', '1.7976931348623157e309', '0.1e99999', '-0', '1E+400', '0e0', '99999999999999999999999999999999999999.5']);
        if (target === 'records') {
          const rec = this.record(r, i, who);
          const where = r.pick(['body', 'clock', 'parents', 'act']);
          const s = JSON.stringify(rec);
          body = where === 'body' ? s.replace('"n":', `"big":${num},"n":`) : where === 'clock' ? s.slice(0, -1) + `,"clock":${num}}` : where === 'parents' ? s.slice(0, -1) + `,"parents":[${num}]}` : s.replace(/"act":"[A-Z]+"/, `"act":${num}`);
        } else if (target === 'query') {
          body = r.pick([`{"limit":${num}}`, `{"where":{"sequence":{"gt":${num}}}}`, `{"where":{"clock":${num}}}`, `{"where":{"body.n":[${num},1]}}`, `{"where":{"body.n":{"lte":${num}}},"limit":${num}}`]);
        } else if (target === 'expr') {
          body = r.pick([`{"expression":"${num} > 0"}`, `{"expression":"record.body.n > 1","record":{"body":{"n":${num}}}}`, `{"expression":"1","context":${num}}`]);
        } else {
          body = `{"name":${num},"actor":"${BOB}"}`;
        }
        break;
      }
      case 'utf8': {
        const bad = Buffer.from(r.pick([[0xff], [0xfe], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xbf], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3]]));
        const s = Buffer.from(JSON.stringify(base()));
        // inside a string value, as a key, at the very end, or instead of a structural byte
        const quotes = [];
        for (let k = 0; k < s.length; k++) if (s[k] === 0x22) quotes.push(k);
        const where = r.pick(['string', 'end', 'start', 'anywhere']);
        const at = where === 'string' && quotes.length ? r.pick(quotes) + 1 : where === 'end' ? s.length : where === 'start' ? 0 : r.int(0, s.length);
        body = Buffer.concat([s.subarray(0, at), bad, s.subarray(at)]);
        break;
      }
      case 'surrogate': {
        const sur = r.pick(['\\ud800', '\\udfff', '\\udbff', '\\ud800\\u0041', '\\udc00\\ud800', 'a\\ud83d', '\\ude00b']);
        if (target === 'records') {
          const rec = this.record(r, i, who);
          const s = JSON.stringify(rec);
          const where = r.pick(['value', 'key', 'thread', 'actor', 'act', 'judged_by', 'data_type']);
          body = where === 'value' ? s.replace('"s":"', `"s":"${sur}`) : where === 'key' ? s.replace('"n":', `"k${sur}":1,"n":`) : where === 'thread' ? s.replace('"thread":"', `"thread":"${sur}`) : where === 'actor' ? s.replace(/"actor":"[^"]*"/, `"actor":"${rec.actor}${sur}"`) : where === 'act' ? s.replace(/"act":"/, `"act":"${sur}`) : s.slice(0, -1) + `,"${where}":"${sur}"}`;
        } else if (target === 'query') {
          body = r.pick([`{"where":{"body.s":"${sur}"}}`, `{"where":{"body.${sur}":1}}`, `{"where":{"actor":"${sur}"}}`, `{"cursor":"${sur}"}`, `{"sort":"${sur}"}`, `{"where":{"body.s":["${sur}","x"]}}`]);
        } else if (target === 'expr') {
          body = r.pick([`{"expression":"\\"${sur}\\" == \\"x\\""}`, `{"expression":"record.body.s == \\"\\"","record":{"body":{"s":"${sur}"}}}`, `{"expression":"${sur}"}`]);
        } else {
          body = `{"name":"bob${sur}","actor":"${BOB}"}`;
        }
        break;
      }
      case 'proto': {
        const pk = r.pick(['__proto__', '__proto__', 'constructor', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__']);
        const payload = r.pick([`{"polluted":true}`, `{"prototype":{"polluted":true}}`, `{"admin":true,"actor":"did:sync:user:root"}`, `null`, `1`, `[]`]);
        if (target === 'records') {
          const rec = this.record(r, i, who);
          const s = JSON.stringify(rec);
          const where = r.pick(['top', 'body', 'bodyDeep', 'bodyOnly']);
          body = where === 'top' ? `{"${pk}":${payload},` + s.slice(1) : where === 'body' ? s.replace('"body":{', `"body":{"${pk}":${payload},`) : where === 'bodyDeep' ? s.replace('"body":{', `"body":{"x":{"${pk}":{"${pk}":${payload}}},`) : s.replace(/"body":\{[^}]*\}/, `"body":{"${pk}":${payload}}`);
        } else if (target === 'query') {
          body = r.pick([`{"${pk}":${payload}}`, `{"where":{"${pk}":${payload}}}`, `{"where":{"body.${pk}":1}}`, `{"where":{"body.${pk}.polluted":true}}`, `{"where":{"body.constructor.prototype":1}}`, `{"where":{"sequence":{"${pk}":1}}}`, `{"where":{"body.a":{"${pk}":{"gt":1}}}}`, `{"where":{},"${pk}":{"limit":1}}`]);
        } else if (target === 'expr') {
          body = r.pick([`{"expression":"1 == 1","${pk}":{"evaluate":false}}`, `{"expression":"has(record.${pk})","record":{"${pk}":${payload}}}`, `{"expression":"record.body.polluted","record":{"body":{"${pk}":{"polluted":true}}}}`]);
        } else {
          body = `{"name":"bob-mint-${i}","${pk}":{"actor":"did:sync:user:root"}}`;
        }
        break;
      }
    }
    if (typeof body === 'string') body = Buffer.from(body, 'utf8');
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      doc = undefined;
    }
    const records = target === 'records' && doc !== undefined ? (Array.isArray(doc) ? doc : [doc]) : undefined;
    const denied = who === 'bob' && (target === 'tokens' || deniedForBob('POST', path, records));
    return { who, kind: `json.${kind}`, method: 'POST', path, records, denied, bytes: this.http_(who, 'POST', path, { body }), answer: 'required' };
  }

  wrapDeep(r, target, i, who, nest) {
    if (target === 'records') {
      const s = JSON.stringify(this.record(r, i, who));
      return r.chance(0.3) ? nest : s.replace('"body":{', `"body":{"deep":${nest},`);
    }
    if (target === 'query') return r.pick([`{"where":{"body.a":${nest}}}`, `{"where":${nest}}`, nest]);
    if (target === 'expr') return r.pick([`{"expression":"1","record":{"body":{"d":${nest}}}}`, nest]);
    return `{"name":${nest}}`;
  }

  // --- query: filters, cursors, limits --------------------------------------------------------------------------

  queryCase(r, i) {
    const who = r.chance(0.7) ? 'bob' : 'admin';
    const kind = r.weighted({ sqlKey: 14, sqlValue: 14, sort: 5, limit: 8, cursor: 10, shape: 10, unicode: 8, longPath: 6, getList: 12, getThreads: 6, getId: 5, getThread: 5, misc: 3 });
    const SQL = ["'; DROP TABLE records;--", "' OR 1=1--", "\" OR \"\"=\"", '1; DELETE FROM records', "') OR ('1'='1", '%', '_', '\\', '\u0000', "'", '"', '`', '*/', '/*', "1' UNION SELECT sql FROM sqlite_master--", 'NULL', '$', '$.a', "json_extract(body,'$')"];
    let method = 'POST';
    let path = '/v1/records/query';
    let body;
    switch (kind) {
      case 'sqlKey': {
        const k = r.pick(["body.a') OR 1=1--", 'body.a; DROP TABLE records;--', "body.a'--", 'body."a"', 'body.a[0]', 'body.$', 'body.', 'body..a', 'body.a.', 'body', 'thread OR 1=1', 'sequence)--', 'sequence; DROP TABLE records', 'body.a/*', "body.a' AND sqlite_version()--", 'body.1a', 'body._', 'body.a b', 'records.actor', 'rowid', 'body.a\u0000b', 'Body.a', 'ACT', 'actor--']);
        body = JSON.stringify({ where: { [k]: r.pick([1, 'x', null, [1, 2], { gt: 1 }]) } });
        break;
      }
      case 'sqlValue': {
        const field = r.pick(['body.a', 'body.topic', 'thread', 'actor', 'act', 'id', 'judged_by', 'data_type', 'clock', 'sequence']);
        const v = r.pick(SQL);
        const cond = r.pick([v, [v, 'x'], [v, null], { gt: v }, { lte: v, gt: 1 }]);
        body = JSON.stringify({ where: { [field]: cond } });
        break;
      }
      case 'sort':
        body = JSON.stringify({ sort: r.pick(['sequence; DROP TABLE records', '-sequence--', 'clock', 'sequence DESC', '', null, 1, ['sequence'], { by: 'sequence' }, 'SEQUENCE', '+sequence', ' sequence']) });
        break;
      case 'limit':
        body = JSON.stringify({ limit: r.pick([0, -1, 1001, 1.5, '10', null, true, [], {}, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 1000, 1]) });
        break;
      case 'cursor': {
        const raw = r.pick(['s:-1', 's:99999999999999999999', 's:1 OR 1=1', 's:', 's:1.5', 'x:1', 's:0x10', 's:1;DROP TABLE records', 's:' + '9'.repeat(15), 's:1\u0000']);
        const c = r.pick([
          Buffer.from(raw).toString('base64url'),
          Buffer.from(raw).toString('base64'),
          r.str(r.int(1, 40), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/='),
          'x'.repeat(r.pick([1000, 1000, 1000, 100000])),
          Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('base64url'),
          123,
          null,
          ['s:1'],
          { s: 1 },
          '',
        ]);
        body = JSON.stringify({ cursor: c, ...(r.chance(0.5) ? { sort: '-sequence' } : {}) });
        break;
      }
      case 'shape':
        body = JSON.stringify(
          r.pick([
            { where: [] },
            { where: 'act = DO' },
            { where: null },
            { where: { act: [] } },
            { where: { act: Array.from({ length: 101 }, () => 'DO') } },
            { where: { act: Array.from({ length: 100 }, () => 'DO') } },
            { where: { act: [[1]] } },
            { where: { act: [{}] } },
            { where: { act: { gt: 'A' } } },
            { where: { sequence: {} } },
            { where: { sequence: { $gt: 1 } } },
            { where: { sequence: { gt: null } } },
            { where: { sequence: { gt: [1] } } },
            { where: { sequence: { gt: 1, gte: 2, lt: 3, lte: 4 } } },
            { where: { 'body.a': { gt: 1, lt: 'z', gte: 0 } } },
            { where: { 'body.a': [null] } },
            { where: { 'body.a': [null, 1, 'x'] } },
            { where: { 'body.a': true } },
            { select: '*' },
            { where: {}, extra: 1 },
            [],
            'query',
          ]),
        );
        break;
      case 'unicode': {
        const u = r.pick(['ünïcødé', '😀', '\u202e', '\u200b', 'ſ', 'K', 'İ', '\uffff', '\u0000', 'a\u0301', '中文']);
        body = JSON.stringify(r.pick([{ where: { [`body.${u}`]: 1 } }, { where: { 'body.a': u } }, { where: { thread: `th_${u}` } }, { where: { actor: `did:sync:user:${u}` } }, { sort: u }]));
        break;
      }
      case 'longPath': {
        const seg = 'a'.repeat(r.pick([1, 10, 100, 1000]));
        const n = r.pick([15, 16, 17, 100]);
        body = JSON.stringify({ where: { [`body.${Array(n).fill(seg).join('.')}`]: 1 } });
        // a single path of 100k–500k characters: costly to send and to answer, so a capped number
        if (this.deepSent < this.deepCap && r.chance(0.1)) {
          this.deepSent++;
          body = JSON.stringify({ where: { ['body.' + 'a'.repeat(r.pick([100000, 500000]))]: 1 } });
        }
        break;
      }
      case 'getList': {
        method = 'GET';
        const bad = () => r.pick(['0', '-1', '1001', 'abc', '1e3', '0x10', '%00', "1'%20OR%201=1", '99999999999999999999', '1.5', '', '%', '%zz', '+1', '1%20', '00000000000000001', '9007199254740993', 'NaN', 'Infinity', '[]', '1&limit=2']);
        const qs = [];
        qs.push(`${r.pick(['limit', 'after_sequence'])}=${bad()}`);
        if (r.chance(0.5)) qs.push(`${r.pick(['limit', 'after_sequence'])}=${bad()}`);
        if (r.chance(0.3)) qs.push(`thread=${r.pick(["th_'--", 'th_', 'th_%00', 'th_' + 'a'.repeat(65), "'%20OR%201=1--", '%ff'])}`);
        if (r.chance(0.3)) qs.push(`actor=${r.pick(["';%20DROP%20TABLE%20records;--", 'did:sync:user:', 'did:sync:user:%00', '%ed%a0%80'])}`);
        if (r.chance(0.2)) qs.push(`act=${r.pick(['do', 'DO%00', 'DO&act=KNOW', "DO'"])}`);
        path = `/v1/records?${qs.join('&')}`;
        break;
      }
      case 'getThreads': {
        method = 'GET';
        const bad = r.pick(['0', '-1', '1001', 'abc', '99999999999999999999', '%', '1.0', '9007199254740992']);
        path = r.chance(0.5) ? `/v1/threads?${r.pick(['limit', 'offset'])}=${bad}` : `/v1/threads/${r.pick(this.ctx.corpus.threads)}/records?${r.pick(['limit', 'after_sequence'])}=${bad}`;
        break;
      }
      case 'getId':
        method = 'GET';
        path = `/v1/records/${r.pick(["'%20OR%201=1--", '%', '%zz', '%c0%af', '%ff', '%ed%a0%80', 'a'.repeat(64), 'A'.repeat(64), '0'.repeat(63), '0'.repeat(65), 'x'.repeat(5000), '%00', '..', '.', '__proto__', 'constructor', 'query'])}`;
        break;
      case 'getThread':
        method = 'GET';
        path = `/v1/threads/${r.pick(["th_'--", '%', '%zz', 'th_%00', 'th_' + '0'.repeat(64), 'th_engine_config', 'th_ENGINE_CONFIG', '__proto__', 'constructor', 'th_' + 'z'.repeat(64), 'th_a%2F..%2F..%2Ftokens'])}${r.chance(0.3) ? '/records' : ''}`;
        break;
      case 'misc':
        method = 'GET';
        path = r.pick(['/v1/config/rules?topic=%27;DROP', '/v1/config/rules?topic=__proto__', '/v1/config/rules?all=1&all=2', '/v1/trust?actor=%27%20OR%201=1', '/v1/trust?domain[]=x', '/v1/config/permission-rules?all=%ff', '/v1/threads?limit[]=1', '/v1/records?limit[a]=1']);
        break;
    }
    return { who, kind: `query.${kind}`, method, path, denied: false, bytes: this.http_(who, method, path, { body }), answer: 'required' };
  }

  // --- path: case and encoding variants of every route, sent by bob -----------------------------------------------

  pathCase(r, i) {
    const c = this.ctx.corpus;
    const routes = [
      // [method, canonical path, body maker, weight]
      ['POST', '/v1/tokens', () => ({ name: `bob-mint-${i}`, actor: r.pick(['did:sync:user:root', 'did:sync:user:root', BOB, 'did:sync:user:alice']) }), 12],
      ['GET', '/v1/tokens', null, 6],
      ['DELETE', `/v1/tokens/${r.pick([this.ctx.tokenNames.admin, this.ctx.tokenNames.spare])}`, null, 8],
      ['POST', '/v1/config/permissions/disable', () => ({}), 10],
      ['POST', '/v1/config/permissions/enable', () => ({}), 3],
      ['POST', '/v1/records', () => ({ thread: ENGINE_CONFIG, actor: BOB, act: 'LEARN', body: { topic: 'permissions_enabled', enabled: false } }), 6],
      ['POST', '/v1/records', () => ({ thread: ENGINE_CONFIG, actor: BOB, act: 'LEARN', body: { topic: 'permission_rule', name: `bob-all-${i}`, priority: 5000, enabled: true, expression: 'true', effect: 'allow' } }), 4],
      ['POST', '/v1/dispatch', () => ({ task: 'x' }), 2],
      ['POST', '/v1/records', () => this.record(r, i, 'bob'), 4],
      ['GET', '/v1/records', null, 3],
      ['GET', `/v1/records/${r.pick(c.records)}`, null, 3],
      ['POST', '/v1/records/query', () => this.queryDoc(r), 3],
      ['GET', '/v1/threads', null, 2],
      ['GET', `/v1/threads/${r.pick(c.threads)}`, null, 2],
      ['GET', `/v1/threads/${r.pick(c.threads)}/records`, null, 2],
      ['GET', '/v1/config', null, 2],
      ['GET', '/v1/config/rules', null, 1],
      ['GET', '/v1/config/permission-rules', null, 1],
      ['GET', '/v1/instance', null, 1],
      ['GET', '/v1/trust', null, 1],
      ['GET', '/v1/engine/health', null, 1],
      ['GET', '/v1/engine/expression_cache/stats', null, 1],
      ['POST', '/v1/engine/expr', () => ({ expression: '1 == 1' }), 1],
      ['GET', '/health', null, 1],
    ];
    const weights = {};
    routes.forEach((rt, k) => (weights[k] = rt[3]));
    const [method0, canon, mkBody] = routes[Number(r.weighted(weights))];
    const variant = r.weighted({ exact: 6, upper: 10, title: 8, randcase: 10, trail: 8, trail2: 3, lead2: 5, inner2: 5, dot: 5, dotdot: 5, pct: 8, pctall: 4, pctslash: 4, trailDot: 4, trailSpace: 2, semicolon: 3, query: 2, frag: 2, backslash: 3, absolute: 4, unicode: 4, nul: 2, combo: 8 });
    let path = this.variant(r, variant, canon);
    let method = method0;
    if (method === 'GET' && r.chance(0.1)) method = 'HEAD';
    else if (r.chance(0.05)) method = r.pick(['PUT', 'PATCH', 'OPTIONS', 'DELETE', 'POST', 'GET']);
    const doc = mkBody && method !== 'GET' && method !== 'HEAD' ? mkBody() : undefined;
    const body = doc === undefined ? undefined : JSON.stringify(doc);
    // Sometimes bob also names another actor in the header the socket honours; over TCP it must mean nothing.
    const extra = r.chance(0.1) ? [['X-Spl-Actor', 'did:sync:user:root']] : [];
    const records = canonicalPath(path) === '/v1/records' && doc ? [doc] : undefined;
    const denied = deniedForBob(method, path, records);
    // Requests that can change what every other request is judged by (enforcement, the rules, the admin's
    // token) run one at a time after the main stream, each followed by a repair if it got through.
    const serial = canon === '/v1/config/permissions/disable' || canon === '/v1/config/permissions/enable' || canon.startsWith('/v1/tokens/') || (records ?? []).some((x) => x?.thread === ENGINE_CONFIG);
    const dangerous = !denied ? undefined : canon.startsWith('/v1/tokens/') && method === 'DELETE' ? 'revoke' : canon === '/v1/config/permissions/disable' && method === 'POST' ? 'disable' : canon === '/v1/tokens' && method === 'POST' ? 'mint' : records ? 'config-record' : undefined;
    return { who: 'bob', kind: `path.${variant}`, method, path, canon, records, denied, dangerous, serial, bytes: this.http_('bob', method, path, { body, extraHeaders: extra }), answer: 'required' };
  }

  variant(r, v, p) {
    const segs = p.split('/').slice(1);
    const encodeChar = (ch) => '%' + ch.charCodeAt(0).toString(16).padStart(2, '0')[r.chance(0.5) ? 'toUpperCase' : 'toLowerCase']();
    switch (v) {
      case 'exact':
        return p;
      case 'upper':
        return p.toUpperCase();
      case 'title':
        return '/' + segs.map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('/');
      case 'randcase': {
        let out = '';
        for (const ch of p) out += r.chance(0.4) ? ch.toUpperCase() : ch;
        return out === p ? p.toUpperCase() : out;
      }
      case 'trail':
        return p + '/';
      case 'trail2':
        return p + '//';
      case 'lead2':
        return '/' + p;
      case 'inner2': {
        const k = r.int(1, segs.length - 1 || 1);
        return '/' + segs.slice(0, k).join('/') + '//' + segs.slice(k).join('/');
      }
      case 'dot': {
        const k = r.int(0, segs.length - 1);
        return '/' + [...segs.slice(0, k), '.', ...segs.slice(k)].join('/');
      }
      case 'dotdot': {
        // through an allowed prefix and back: /v1/records/../tokens, /v1/x/../tokens
        const via = r.pick(['records', 'threads', 'x', 'engine']);
        return `/v1/${via}/../${segs.slice(1).join('/')}`;
      }
      case 'pct': {
        const idx = [];
        for (let k = 1; k < p.length; k++) if (/[a-z]/i.test(p[k])) idx.push(k);
        const k = r.pick(idx);
        return p.slice(0, k) + encodeChar(p[k]) + p.slice(k + 1);
      }
      case 'pctall': {
        const k = r.int(0, segs.length - 1);
        return '/' + segs.map((s, j) => (j === k ? [...s].map(encodeChar).join('') : s)).join('/');
      }
      case 'pctslash': {
        const k = p.lastIndexOf('/');
        return k > 0 ? p.slice(0, k) + r.pick(['%2F', '%2f', '%5C']) + p.slice(k + 1) : p + '%2F';
      }
      case 'trailDot':
        return p + r.pick(['.', '..', '%2e', '/.', '/..']);
      case 'trailSpace':
        return p + r.pick(['%20', '%09', '%0a', '+']);
      case 'semicolon':
        return p + r.pick([';', ';x=1', ';jsessionid=1']);
      case 'query':
        return p + r.pick(['?', '?x=1', '?path=/health', '??']);
      case 'frag':
        return p + r.pick(['#', '#x', '#/health']);
      case 'backslash':
        return p.replace(/\//g, (m, k) => (k > 0 && r.chance(0.6) ? '\\' : m));
      case 'absolute':
        return r.pick([`http://127.0.0.1:${this.ctx.port}${p}`, `http://example.com${p}`, `HTTP://127.0.0.1${p.toUpperCase()}`]);
      case 'unicode':
        // ſ (U+017F) upper-cases to S and K (U+212A, Kelvin) lower-cases to k; raw UTF-8 or percent-encoded
        if (/s/.test(p) && r.chance(0.6)) return p.replace(/s/, r.chance(0.5) ? 'ſ' : '%C5%BF');
        return /k/.test(p) ? p.replace(/k/, r.chance(0.5) ? 'K' : '%E2%84%AA') : p.replace(/e/, 'é');
      case 'nul':
        return p + r.pick(['%00', '%00.json', '\u0000']);
      case 'combo': {
        const a = r.pick(['upper', 'title', 'randcase', 'pct', 'lead2', 'dot']);
        const b = r.pick(['trail', 'trailDot', 'semicolon', 'query', 'pctslash', 'inner2']);
        return this.variant(r, b, this.variant(r, a, p));
      }
    }
    return p;
  }

  // --- claim: records by bob that name another actor ---------------------------------------------------------------

  claim(r, i) {
    const other = r.pick(OTHER_ACTORS);
    const kind = r.weighted({ single: 50, batch: 25, variantPath: 15, header: 10 });
    const rec = this.record(r, i, 'bob', { actor: other, body: { fz: i, claim: other } });
    let docs = [rec];
    if (kind === 'batch') {
      docs = [this.record(r, i, 'bob'), rec, this.record(r, i + 7, 'bob')];
      if (r.chance(0.5)) docs.reverse();
    }
    const path = kind === 'variantPath' ? r.pick(['/V1/RECORDS', '/v1/Records/', '/v1/records/', '/v1/%72ecords', '//v1/records']) : '/v1/records';
    const body = kind === 'batch' ? JSON.stringify(docs) : JSON.stringify(rec);
    const extra = kind === 'header' ? [['X-Spl-Actor', other]] : [];
    return { who: 'bob', kind: `claim.${kind}`, method: 'POST', path, records: docs, claim: true, denied: false, bytes: this.http_('bob', 'POST', path, { body, extraHeaders: extra }), answer: 'required' };
  }

  // --- http: content types, header and body sizes, framing, request lines, auth, abandoned uploads ---------------

  http(r, i) {
    const who = r.weighted({ bob: 60, admin: 25, none: 15 });
    const bigOk = this.bigBodySent < this.bigBodyCap;
    const kind = r.weighted({ ctype: 28, bigHeader: 9, bigBody: bigOk ? 2 : 0, framing: 12, requestLine: 20, auth: 14, abandon: 15 });
    const port = this.ctx.port;
    const rec = () => JSON.stringify(this.record(r, i, who === 'admin' ? 'admin' : 'bob'));
    const auth = this.auth(who);
    let bytes;
    let answer = 'required';
    let abandon;
    let method = 'POST';
    let path = '/v1/records';
    let sub = '';
    let timeoutMs = 5000;
    switch (kind) {
      case 'ctype': {
        const ct = r.pick([undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/jsonx', 'application/json, text/plain', 'application/ld+json', 'application/vnd.api+json', 'application/json;', ';', '', 'application/' + 'x'.repeat(2000), 'application/json\u00a0', 'text/json', '*/*', 'application/json; charset="utf-8"', 'application/json; boundary=--']);
        path = r.pick(['/v1/records', '/v1/records/query', '/v1/engine/expr', ...(who === 'bob' ? ['/v1/tokens'] : [])]);
        const body = path === '/v1/records' ? rec() : path === '/v1/records/query' ? JSON.stringify(this.queryDoc(r)) : path === '/v1/engine/expr' ? '{"expression":"1 == 1"}' : JSON.stringify({ name: `bob-mint-${i}`, actor: 'did:sync:user:root' });
        const headers = [...auth];
        if (ct !== undefined) headers.push(['Content-Type', ct]);
        if (r.chance(0.1)) headers.push(['Content-Type', 'text/plain']);
        bytes = buildRequest({ method, path, headers, body, port });
        sub = ct === undefined ? 'missing' : ct.slice(0, 24);
        break;
      }
      case 'bigHeader': {
        const size = r.pick([16 * 1024 + 1, 17 * 1024, 24 * 1024, 40 * 1024, 64 * 1024]);
        const how = r.pick(['one', 'many', 'cookie', 'auth', 'url']);
        method = 'GET';
        path = '/v1/records?limit=1';
        let headers = [...auth];
        if (how === 'one') headers.push(['X-Filler', 'a'.repeat(size)]);
        else if (how === 'many') for (let k = 0; k < Math.ceil(size / 100); k++) headers.push([`X-F${k}`, 'b'.repeat(90)]);
        else if (how === 'cookie') headers.push(['Cookie', `c=${'c'.repeat(size)}`]);
        else if (how === 'auth') headers = [['Authorization', `Bearer spl_${'t'.repeat(size)}`]];
        else path = `/v1/records?thread=${'t'.repeat(size)}`;
        bytes = buildRequest({ method, path, headers, port });
        sub = how;
        break;
      }
      case 'bigBody': {
        this.bigBodySent++;
        const size = r.pick([1024 * 1024 + 1, 1024 * 1024 + 100, 1200 * 1024, 1536 * 1024]);
        const doc = JSON.stringify({ ...this.record(r, i, who === 'admin' ? 'admin' : 'bob'), body: { fz: i, pad: 'p'.repeat(size) } });
        const how = r.pick(['declared', 'chunked', 'lying']);
        path = r.pick(['/v1/records', '/v1/records/query', '/v1/engine/expr']);
        const headers = [...auth, ['Content-Type', 'application/json']];
        if (how === 'declared') bytes = buildRequest({ method, path, headers, body: doc, port });
        else if (how === 'chunked') {
          const b = Buffer.from(doc);
          const parts = [];
          for (let k = 0; k < b.length; k += 65536) {
            const c = b.subarray(k, k + 65536);
            parts.push(Buffer.from(c.length.toString(16) + '\r\n'), c, Buffer.from('\r\n'));
          }
          parts.push(Buffer.from('0\r\n\r\n'));
          bytes = Buffer.concat([buildRequest({ method, path, headers: [...headers, ['Transfer-Encoding', 'chunked']], port, contentLength: 'none' }), ...parts]);
        } else {
          // claims 1000 bytes and sends more: the rest is read as the next request on the connection
          bytes = Buffer.concat([buildRequest({ method, path, headers: [...headers, ['Content-Length', '1000']], port, contentLength: 'none' }), Buffer.from(doc)]);
        }
        sub = how;
        answer = 'optional'; // the server may answer 413 and close before it has read what was sent
        timeoutMs = 10_000;
        break;
      }
      case 'framing': {
        const body = rec();
        const headers = [...auth, ['Content-Type', 'application/json']];
        const how = r.pick(['clAbc', 'clNeg', 'clDup', 'clList', 'clTe', 'teBadChunk', 'teGzip', 'teDup', 'clShort', 'clPlus', 'clHex', 'clHuge', 'teChunkedExt', 'clSpace']);
        sub = how;
        const req = (h, b, cl = 'none') => buildRequest({ method, path, headers: [...headers, ...h], body: b, port, contentLength: cl });
        const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n0\r\n\r\n`;
        switch (how) {
          case 'clAbc':
            bytes = req([['Content-Length', 'abc']], body);
            break;
          case 'clNeg':
            bytes = req([['Content-Length', '-1']], body);
            break;
          case 'clDup':
            bytes = req([['Content-Length', String(Buffer.byteLength(body))], ['Content-Length', '5']], body);
            break;
          case 'clList':
            bytes = req([['Content-Length', `${Buffer.byteLength(body)}, ${Buffer.byteLength(body)}`]], body);
            break;
          case 'clTe':
            bytes = req([['Content-Length', '4'], ['Transfer-Encoding', 'chunked']], chunk(body));
            break;
          case 'teBadChunk':
            bytes = req([['Transfer-Encoding', 'chunked']], `zz\r\n${body}\r\n0\r\n\r\n`);
            break;
          case 'teGzip':
            bytes = req([['Transfer-Encoding', 'gzip']], body);
            break;
          case 'teDup':
            bytes = req([['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'chunked']], chunk(body));
            break;
          case 'clShort':
            // the tail of the body becomes a second, garbage request on the same connection
            bytes = req([['Content-Length', String(Math.max(1, Buffer.byteLength(body) - 10))]], body);
            break;
          case 'clPlus':
            bytes = req([['Content-Length', `+${Buffer.byteLength(body)}`]], body);
            break;
          case 'clHex':
            bytes = req([['Content-Length', '0x10']], body);
            break;
          case 'clHuge':
            bytes = req([['Content-Length', '99999999999999999999']], body);
            break;
          case 'teChunkedExt':
            bytes = req([['Transfer-Encoding', 'chunked']], `${Buffer.byteLength(body).toString(16)};ext=${'e'.repeat(r.pick([10, 5000]))}\r\n${body}\r\n0\r\n\r\n`);
            break;
          case 'clSpace':
            bytes = req([['Content-Length', ` ${Buffer.byteLength(body)} `]], body);
            break;
        }
        answer = 'optional';
        timeoutMs = 3000;
        break;
      }
      case 'requestLine': {
        const a = auth.length ? `Authorization: ${auth[0][1]}\r\n` : '';
        const h = `Host: 127.0.0.1:${port}\r\n`;
        const how = r.pick(['garbage', 'noVersion', 'badVersion', 'http10', 'http2', 'lowerMethod', 'unknownMethod', 'connect', 'trace', 'optionsStar', 'doubleSpace', 'noColon', 'spaceName', 'obsFold', 'bareLf', 'nulPath', 'rawUtf8Path', 'badBytesPath', 'noHost', 'twoHosts', 'tabs', 'ctlHeader', 'emptyLine', 'longMethod', 'pathNoSlash']);
        sub = how;
        method = 'GET';
        path = '/v1/records';
        const L = (s) => Buffer.from(s, 'latin1');
        switch (how) {
          case 'garbage':
            bytes = Buffer.from(Array.from({ length: r.int(1, 200) }, () => r.int(1, 255)).concat([13, 10, 13, 10]));
            break;
          case 'noVersion':
            bytes = L(`GET /v1/records\r\n${h}${a}\r\n`);
            break;
          case 'badVersion':
            bytes = L(`GET /v1/records HTTP/${r.pick(['9.9', '1.2', '0.9', 'x', '1.1.1', ''])}\r\n${h}${a}\r\n`);
            break;
          case 'http10':
            bytes = L(`GET /v1/records?limit=1 HTTP/1.0\r\n${a}\r\n`);
            break;
          case 'http2':
            bytes = L('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
            break;
          case 'lowerMethod':
            bytes = L(`get /v1/records HTTP/1.1\r\n${h}${a}\r\n`);
            break;
          case 'unknownMethod':
            bytes = L(`${r.pick(['FOO', 'PROPFIND', 'MKCOL', 'LINK', 'PURGE', 'SEARCH'])} /v1/tokens HTTP/1.1\r\n${h}${a}\r\n`);
            path = '/v1/tokens';
            break;
          case 'connect':
            bytes = L(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n${h}${a}\r\n`);
            break;
          case 'trace':
            bytes = L(`TRACE /v1/tokens HTTP/1.1\r\n${h}${a}\r\n`);
            path = '/v1/tokens';
            break;
          case 'optionsStar':
            bytes = L(`OPTIONS * HTTP/1.1\r\n${h}${a}\r\n`);
            break;
          case 'doubleSpace':
            bytes = L(`GET  /v1/records  HTTP/1.1\r\n${h}${a}\r\n`);
            break;
          case 'noColon':
            bytes = L(`GET /v1/records HTTP/1.1\r\n${h}${a}X-Broken\r\n\r\n`);
            break;
          case 'spaceName':
            bytes = L(`GET /v1/records HTTP/1.1\r\n${h}${a}X Broken: 1\r\n\r\n`);
            break;
          case 'obsFold':
            bytes = L(`GET /v1/records HTTP/1.1\r\n${h}${a}X-Folded: a\r\n b\r\n\r\n`);
            break;
          case 'bareLf':
            bytes = L(`GET /v1/records?limit=1 HTTP/1.1\n${h.replace('\r', '')}${a.replace('\r', '')}\n`);
            break;
          case 'nulPath':
            bytes = Buffer.concat([L('GET /v1/rec'), Buffer.from([0]), L(`ords HTTP/1.1\r\n${h}${a}\r\n`)]);
            break;
          case 'rawUtf8Path':
            bytes = Buffer.concat([L('GET /v1/records/'), Buffer.from('ünï😀', 'utf8'), L(` HTTP/1.1\r\n${h}${a}\r\n`)]);
            break;
          case 'badBytesPath':
            bytes = Buffer.concat([L('GET /v1/'), Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]), L(`tokens HTTP/1.1\r\n${h}${a}\r\n`)]);
            path = '/v1/\xff\xfe\xed\xa0\x80tokens';
            break;
          case 'noHost':
            bytes = L(`GET /v1/records?limit=1 HTTP/1.1\r\n${a}\r\n`);
            break;
          case 'twoHosts':
            bytes = L(`GET /v1/records?limit=1 HTTP/1.1\r\n${h}Host: example.com\r\n${a}\r\n`);
            break;
          case 'tabs':
            bytes = L(`GET\t/v1/records\tHTTP/1.1\r\n${h}${a}\r\n`);
            break;
          case 'ctlHeader':
            bytes = Buffer.concat([L(`GET /v1/records?limit=1 HTTP/1.1\r\n${h}${a}X-Ctl: a`), Buffer.from([1, 0x7f, 0]), L('b\r\n\r\n')]);
            break;
          case 'emptyLine':
            bytes = L(`\r\n\r\nGET /v1/records?limit=1 HTTP/1.1\r\n${h}${a}\r\n`);
            break;
          case 'longMethod':
            bytes = L(`${'G'.repeat(r.pick([100, 10000]))} /v1/records HTTP/1.1\r\n${h}${a}\r\n`);
            break;
          case 'pathNoSlash':
            bytes = L(`GET ${r.pick(['v1/tokens', '*', 'tokens', '.', '..', 'http://', 'http:///v1/tokens'])} HTTP/1.1\r\n${h}${a}\r\n`);
            path = '/v1/tokens';
            break;
        }
        answer = 'optional';
        timeoutMs = 3000;
        break;
      }
      case 'auth': {
        const how = r.pick(['none', 'basic', 'lower', 'spaces', 'twoTokens', 'unknown', 'empty', 'bearerOnly', 'unicode', 'dupHeader', 'actorHeader', 'tokenInQuery', 'prefixOnly', 'nul']);
        sub = how;
        method = 'GET';
        path = r.pick(['/v1/tokens', '/v1/records?limit=1', '/v1/config', '/v1/threads?limit=1']);
        const bob = this.ctx.bobToken();
        let headers;
        switch (how) {
          case 'none':
            headers = [];
            break;
          case 'basic':
            headers = [['Authorization', `Basic ${Buffer.from(`bob:${bob}`).toString('base64')}`]];
            break;
          case 'lower':
            headers = [['authorization', `bearer ${bob}`]];
            break;
          case 'spaces':
            headers = [['Authorization', `Bearer   ${bob}   `]];
            break;
          case 'twoTokens':
            headers = [['Authorization', `Bearer ${bob} spl_other`]];
            break;
          case 'unknown':
            headers = [['Authorization', `Bearer spl_${r.str(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')}`]];
            break;
          case 'empty':
            headers = [['Authorization', '']];
            break;
          case 'bearerOnly':
            headers = [['Authorization', 'Bearer']];
            break;
          case 'unicode':
            headers = [['Authorization', Buffer.from(`Bearer ${bob}ä`, 'utf8')]];
            break;
          case 'dupHeader':
            headers = [['Authorization', `Bearer ${bob}`], ['Authorization', 'Bearer spl_garbage']];
            break;
          case 'actorHeader':
            headers = [['Authorization', `Bearer ${bob}`], ['X-Spl-Actor', 'did:sync:user:root']];
            break;
          case 'tokenInQuery':
            headers = [];
            path = `/v1/tokens?token=${bob}&access_token=${bob}`;
            break;
          case 'prefixOnly':
            headers = [['Authorization', `Bearer ${bob.slice(0, 10)}`]];
            break;
          case 'nul':
            headers = [['Authorization', Buffer.from(`Bearer ${bob}\u0000x`, 'latin1')]];
            break;
        }
        bytes = buildRequest({ method, path, headers, port });
        // whatever the header, a request that is not plainly bob's token may never reach bob's or anyone's data
        // beyond what bob may see; /v1/tokens is denied to everyone here
        answer = 'optional';
        timeoutMs = 3000;
        return { who: 'bob', kind: `http.auth.${how}`, method, path, denied: canonicalPath(path) === '/v1/tokens', oneShot: true, bytes, answer, timeoutMs };
      }
      case 'abandon': {
        const how = r.pick(['midBody', 'midBody', 'afterHeaders', 'midHeaders', 'chunkedMid']);
        sub = how;
        const body = Buffer.from(rec());
        const headers = [...auth, ['Content-Type', 'application/json']];
        if (how === 'midBody') bytes = buildRequest({ method, path, headers: [...headers, ['Content-Length', String(body.length + r.int(1, 100000))]], body, port, contentLength: 'none' });
        else if (how === 'afterHeaders') bytes = buildRequest({ method, path, headers: [...headers, ['Content-Length', String(r.int(1, 1000000))]], port, contentLength: 'none' });
        else if (how === 'midHeaders') {
          const full = buildRequest({ method, path, headers, body, port });
          bytes = full.subarray(0, r.int(5, full.indexOf('\r\n\r\n')));
        } else bytes = Buffer.concat([buildRequest({ method, path, headers: [...headers, ['Transfer-Encoding', 'chunked']], port, contentLength: 'none' }), Buffer.from(`${(body.length * 3).toString(16)}\r\n`), body]);
        abandon = r.int(0, 20);
        answer = 'none';
        break;
      }
    }
    const denied = who === 'bob' && deniedForBob(method, path, undefined);
    return { who, kind: `http.${kind}${sub ? '.' + sub : ''}`, method, path, denied, oneShot: true, bytes, answer, abandon, timeoutMs };
  }
}

/** The costly and long expressions for POST /v1/engine/expr, sent in a phase of their own. */
export function celCases(seed) {
  const r = new Rng(hash32(seed, 0xce1));
  const list = (n) => `[${Array.from({ length: n }, (_, k) => k + 1).join(',')}]`;
  const vars = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const nestMap = (depth, n) => {
    let e = vars[depth - 1];
    for (let k = depth - 1; k >= 0; k--) e = `${list(n)}.map(${vars[k]}, ${e})`;
    return `${e}.size()`;
  };
  const nestAll = (depth, n) => {
    let e = `${vars.slice(0, depth).join(' + ')} > 0`;
    for (let k = depth - 1; k >= 0; k--) e = `${list(n)}.all(${vars[k]}, ${e})`;
    return e;
  };
  // About a million evaluation steps each: seconds of CPU for an evaluator without a cost limit.
  const costly = [
    { kind: 'map3', expression: nestMap(3, 100) },
    { kind: 'map4', expression: nestMap(4, 32) },
    { kind: 'map5', expression: nestMap(5, 16) },
    { kind: 'map6', expression: nestMap(6, 10) },
    { kind: 'map7', expression: nestMap(7, 7) },
    { kind: 'all5', expression: nestAll(5, 16) },
  ].map((c) => ({ ...c, costly: true, context: r.pick(['permission', 'routing', 'health_check']) }));
  // Long or deeply nested source: the compiler's cost, not the evaluator's.
  const long = [
    { kind: 'plus16k', expression: Array(8190).fill('1').join('+') },
    { kind: 'and16k', expression: Array(2040).fill('true').join(' && ') },
    { kind: 'list16k', expression: `${list(3000).slice(0, 16000)}]`.replace(/,\d*\]$/, ']') + '.size() > 0' },
    { kind: 'parens1000', expression: '('.repeat(1000) + '1' + ')'.repeat(1000) },
    { kind: 'member3000', expression: 'record' + '.a'.repeat(3000) },
    { kind: 'index3000', expression: '[1]' + '[0]'.repeat(3000) },
    { kind: 'neg8000', expression: '-'.repeat(8000) + '1' },
    { kind: 'strcat', expression: Array(1600).fill('"aaaaaaaa"').join('+') + ' == ""' },
    { kind: 'over-limit', expression: '1+' + '1'.repeat(16400) },
    { kind: 'map7x2', expression: nestMap(7, 2) },
  ].map((c) => ({ ...c, costly: false, context: r.pick(['permission', 'routing', 'health_check']) }));
  // seeded order within each group
  const shuffle = (a) => {
    for (let k = a.length - 1; k > 0; k--) {
      const j = r.int(0, k);
      [a[k], a[j]] = [a[j], a[k]];
    }
    return a;
  };
  return { costly: shuffle(costly), long: shuffle(long) };
}
