#!/usr/bin/env node
// Fuzz drill, the work behind drills/fuzz.sh: a real instance in a throwaway home with TCP auth on, an admin
// token and a token for did:sync:user:bob whose rules allow him record_write, record_read, thread_read and
// config_read and deny the rest (config_write, dispatch), enforcement on — then a seeded budget of hostile and
// ordinary requests over concurrent keep-alive connections and one-shot raw sockets:
//
//   valid   real work: writes, batches, reads, queries, by bob and the admin
//   json    malformed and truncated JSON, 10k-deep nesting, huge numbers, invalid UTF-8, lone surrogates,
//           __proto__ / constructor / prototype keys in records, queries, expressions
//   query   SQL fragments in body.<path> keys and values, bad sorts, limits, cursors, unicode and long paths;
//           bad limit / after_sequence / ids on the GET routes
//   path    case and encoding variants of every route, sent by bob — among them minting a token for
//           did:sync:user:root, disabling enforcement, revoking the admin's token
//   claim   records written by bob that name another actor
//   http    content types, headers over 16 KiB, bodies over 1 MiB, lying framing, broken request lines,
//           odd Authorization headers, uploads dropped midway
//   slow    slow uploads (answered once complete) and slow headers (must be cut, within a bound)
//   cel     costly and long expressions to POST /v1/engine/expr, in a phase of their own at the end, each with a
//           timeout, and no more once two have stalled the instance
//
// What must hold: no response ≥ 500; the instance never dies and answers /health 200 at the end; its RSS stays
// under a bound; no request bob's rules deny is ever answered 2xx, and afterwards (over the unix socket) the
// token list holds only the drill's tokens, none revoked, enforcement is on, the rules are the drill's, bob has
// no record on th_engine_config and no record names an actor bob may not write as; every response ≥ 400
// carries the JSON error envelope (FUZZ_STRICT_ENVELOPE=0 reports without failing). Each failure is printed
// with samples (request i of the seed, what was sent, what came back).
//
// The RSS bound: after warm-up (the first 2% of the budget) the instance holds ~115 MiB; 100k requests leave
// ~20k records, whose folded state needs a few tens of MiB more. 512 MiB (FUZZ_RSS_MAX_MIB), or 4× the
// post-warm-up value (FUZZ_RSS_GROWTH), is far above that and is crossed by a leak of ~4 KiB a request — the
// size of one abandoned upload's buffers. The costly-CEL phase is judged against the same bound, separately.
//
// Environment: WORK, PORT, HOME, SYNCROPEL_HOME (drills/lib.sh sets them); FUZZ_REQUESTS (100000), FUZZ_SEED
// (replay; printed), FUZZ_CONNECTIONS (16), FUZZ_TIMEOUT_MS (10000), FUZZ_STRICT_ENVELOPE (1),
// FUZZ_RSS_MAX_MIB (512), FUZZ_RSS_GROWTH (4), FUZZ_SLOW_HEADERS (3), FUZZ_SLOW_HEADER_BOUND_S (15),
// FUZZ_SLOW_UPLOADS (6), FUZZ_CEL_TIMEOUT_MS (2000), FUZZ_CEL_STALL_MS (2000), FUZZ_PHASE_SECS (120: the main
// phase's time limit), FUZZ_TIMEOUT_SECS (170: the whole drill's).
// FUZZ_SHOW=i[,j…] prints those requests of the seed and exits (nothing is started).
//
// Only processes this script spawned are ever signalled, by pid, and none is left behind when it exits,
// however it exits. Loopback only.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Conn, buildRequest } from './fuzz-http.mjs';
import { BOB, Cases, ENGINE_CONFIG, canonicalPath, celCases } from './fuzz-cases.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'spl');

const num = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`fuzz-drill: ${name} must be a number ≥ 0 (got ${v})`);
    process.exit(2);
  }
  return n;
};
const SEED = process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== '' ? Number(process.env.FUZZ_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);
const REQUESTS = Math.floor(num('FUZZ_REQUESTS', 100_000));
const CONNECTIONS = Math.max(1, Math.floor(num('FUZZ_CONNECTIONS', 16)));
const TIMEOUT_MS = num('FUZZ_TIMEOUT_MS', 10_000);
const STRICT_ENVELOPE = (process.env.FUZZ_STRICT_ENVELOPE ?? '1') !== '0';
const RSS_MAX_MIB = num('FUZZ_RSS_MAX_MIB', 512);
const RSS_GROWTH = num('FUZZ_RSS_GROWTH', 4);
const SLOW_HEADERS = Math.floor(num('FUZZ_SLOW_HEADERS', 3));
const SLOW_HEADER_BOUND_S = num('FUZZ_SLOW_HEADER_BOUND_S', 15);
const SLOW_UPLOADS = Math.floor(num('FUZZ_SLOW_UPLOADS', 6));
const CEL_TIMEOUT_MS = num('FUZZ_CEL_TIMEOUT_MS', 2000);
const CEL_STALL_MS = num('FUZZ_CEL_STALL_MS', 2000);
const TIMEOUT_SECS = num('FUZZ_TIMEOUT_SECS', 170);
// Stop the main phase early (and fail) when the instance stops answering: this many requests timed out.
const MAX_TIMEOUTS = 200;
// Each deep (10k-level) document and each >1 MiB body costs real time; both are capped, scaled to the budget.
const DEEP_CAP = Math.max(10, Math.round(REQUESTS * 0.0005));
const BIG_BODY_CAP = Math.max(10, Math.round(REQUESTS * 0.001));
// The main phase stops issuing after this long (and fails): the drill stays bounded on a slow or stalled host.
const PHASE_SECS = num('FUZZ_PHASE_SECS', 120);

if (process.env.FUZZ_SHOW) {
  const cases = new Cases(SEED, placeholderCtx(Number(process.env.PORT ?? 9100)));
  for (const s of process.env.FUZZ_SHOW.split(',')) {
    const i = Number(s);
    for (let k = 0; k < i; k++) cases.make(k); // the caps on deep and big documents depend on what came before
    const spec = cases.make(i);
    console.log(`request ${i} of seed ${SEED}: ${spec.cat} ${spec.kind} by ${spec.who}${spec.denied ? ' (denied to bob)' : ''}`);
    console.log(JSON.stringify(spec.bytes.toString('latin1').slice(0, 4000)));
  }
  process.exit(0);
}

function placeholderCtx(port) {
  return {
    port,
    adminActor: 'did:sync:user:root',
    bobToken: () => '$BOB_TOKEN',
    adminToken: () => '$ADMIN_TOKEN',
    corpus: { records: ['0'.repeat(64)], threads: ['th_' + '0'.repeat(64)] },
    tokenNames: { admin: 'admin', spare: 'admin-spare' },
    deepCap: DEEP_CAP,
    bigBodyCap: BIG_BODY_CAP,
  };
}

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`fuzz-drill: ${name} is not set (run it through drills/fuzz.sh)`);
    process.exit(2);
  }
  return v;
};
const WORK = need('WORK');
const PORT = Number(need('PORT'));
const SPL_HOME = need('SYNCROPEL_HOME');
need('HOME');
const SOCKET = join(SPL_HOME, 'run', 'spl.sock');
const INSTANCE_LOG = join(WORK, 'instance.log');

// ---------------------------------------------------------------------------------------------------------------
// Children: every process spawned here is tracked, and SIGKILLed by pid if still alive when this script exits.

const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
const alive = (child) => child.exitCode === null && child.signalCode === null;
function sigkill(child) {
  if (!alive(child)) return false;
  try {
    process.kill(child.pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
function killAllChildren() {
  for (const c of children) sigkill(c);
}
process.on('exit', killAllChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.log(`fuzz drill: interrupted by ${sig}; killing the processes it started`);
    killAllChildren();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.log(`result: FAIL: the drill did not finish within ${TIMEOUT_SECS}s (FUZZ_TIMEOUT_SECS); seed ${SEED}`);
  printTotals();
  killAllChildren();
  process.exit(1);
}, TIMEOUT_SECS * 1000);
watchdog.unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

function waitExit(child, timeoutMs) {
  if (!alive(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((res) => {
    const timer = setTimeout(() => res(undefined), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal });
    });
  });
}

function runSpl(args, timeoutMs = 30_000) {
  const child = track(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return waitExit(child, timeoutMs).then(async (r) => {
    if (!r) {
      sigkill(child);
      await waitExit(child, 5000);
      return { code: 'timeout', out, err };
    }
    return { code: r.signal ?? r.code, out, err };
  });
}

function tail(text, n = 10) {
  return text.split('\n').filter(Boolean).slice(-n).map((l) => `      | ${l.slice(0, 300)}`).join('\n');
}
function instanceLogTail(n = 12) {
  try {
    return tail(readFileSync(INSTANCE_LOG, 'utf8'), n);
  } catch {
    return '      | (no instance log)';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The unix socket: trusted, acts as the admin. The drill's own checks and repairs go through it.

function sock(method, path, body) {
  return new Promise((res) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: SOCKET, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => {
        let json;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString());
        } catch {
          json = undefined;
        }
        res({ status: r.statusCode ?? 0, body: json });
      });
      r.on('error', (e) => res({ status: 0, error: e.message }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => res({ status: 0, error: e.message }));
    req.end(data);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Results

const results = [];
function result(ok, text, details = '') {
  results.push({ ok, text });
  console.log(`result: ${ok ? 'ok' : 'FAIL'}: ${text}${details ? `\n${details}` : ''}`);
}
/** A check whose verdict fuzz.sh takes from the totals line: printed here with its details, counted there. */
function totalsCheck(ok, text, details = '') {
  results.push({ ok, text });
  console.log(`detail: ${ok ? 'ok' : 'FAIL'}: ${text}${details ? `\n${details}` : ''}`);
}
function note(text) {
  console.log(`note: ${text}`);
}

const CATS = ['valid', 'json', 'query', 'path', 'claim', 'http', 'slow', 'cel'];
const T = {
  requests: 0,
  cats: Object.fromEntries(CATS.map((c) => [c, 0])),
  statuses: new Map(),
  catStatuses: Object.fromEntries(CATS.map((c) => [c, new Map()])),
  kinds: new Map(), // kind → { n, statuses: Map }
  fivexx: [],
  fivexxCount: 0,
  envelopeMissing: new Map(), // status → { n, samples }
  unanswered: new Map(), // "kind reason" → n
  unansweredCount: 0,
  unansweredSamples: [],
  optionalNoAnswer: new Map(),
  timeouts: 0,
  retries: 0,
  deniedServed: 0,
  deniedServedSamples: [],
  deniedRoutesSampled: new Set(),
  deniedServedByKind: new Map(),
  deniedServedWhileOff: 0,
  claimsServed: 0,
  claimsServedSamples: [],
  validTotal: 0,
  validOk: 0,
  validBad: new Map(),
  created: 0,
  incidents: { disable: 0, revoke: 0, mint: 0, configRecord: 0, monitorOff: 0, rogueRule: 0 },
};
const bump = (m, k, by = 1) => m.set(k, (m.get(k) ?? 0) + by);

function describe(spec) {
  const raw = spec.bytes.toString('latin1');
  const head = raw.slice(0, raw.indexOf('\r\n') > 0 ? raw.indexOf('\r\n') : 120).slice(0, 160);
  return `#${spec.i} ${spec.kind} by ${spec.who}: ${JSON.stringify(head)}`;
}
function describeRes(res) {
  if (res.status === 0) return `no answer (${res.error}, ${Math.round(res.ms)} ms)`;
  const b = res.body ? res.body.toString('utf8').slice(0, 200) : '';
  return `${res.status} ${JSON.stringify(b)}`;
}
/** A curl command that sends the same request, for the report (only for requests curl can express). */
function curlFor(spec) {
  const raw = spec.bytes.toString('latin1');
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0 || spec.bytes.length > 4096 || !/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(raw)) return '';
  const [line, ...hs] = raw.slice(0, headEnd).split('\r\n');
  const [method, path] = line.split(' ');
  const hdrs = hs.filter((h) => !/^(host|content-length):/i.test(h)).map((h) => (/^authorization:/i.test(h) ? `-H "Authorization: Bearer $${spec.who === 'admin' ? 'ADMIN' : 'BOB'}_TOKEN"` : `-H '${h.replace(/'/g, "'\\''")}'`));
  const body = raw.slice(headEnd + 4);
  if (/[^\x20-\x7e]/.test(body) || /[^\x21-\x7e]/.test(path)) return '';
  return `curl -s ${method === 'HEAD' ? '-I' : `-X ${method}`} ${hdrs.join(' ')}${body ? ` --data-binary '${body.replace(/'/g, "'\\''")}'` : ''} --request-target '${path}' "http://127.0.0.1:$PORT"`;
}

const isEnvelope = (res) => {
  try {
    const j = JSON.parse(res.body.toString('utf8'));
    return j && j.object === 'error' && typeof j.code === 'string';
  } catch {
    return false;
  }
};

let enforcementOff = false; // set when a request is seen to have turned enforcement off, until it is repaired

function judge(spec, res) {
  T.requests++;
  T.cats[spec.cat]++;
  const k = T.kinds.get(spec.kind) ?? { n: 0, statuses: new Map(), ms: 0, maxMs: 0 };
  T.kinds.set(spec.kind, k);
  k.n++;
  k.ms += res.ms ?? 0;
  k.maxMs = Math.max(k.maxMs, res.ms ?? 0);
  const st = res.status;
  const key = st > 0 ? st : `no answer`;
  bump(k.statuses, key);
  if (st > 0) {
    bump(T.statuses, st);
    bump(T.catStatuses[spec.cat], st);
  } else if (res.error === 'timeout') T.timeouts++;

  if (st >= 500) {
    T.fivexxCount++;
    // samples: the first few, and the first of every kind
    if (T.fivexx.length < 6 || !T.fivexx.some((f) => f.spec.kind === spec.kind)) T.fivexx.push({ spec, text: `${describe(spec)} → ${describeRes(res)}` });
  }
  if (st >= 400 && spec.method !== 'HEAD' && !isEnvelope(res)) {
    const e = T.envelopeMissing.get(st) ?? { n: 0, samples: [], kinds: new Map() };
    T.envelopeMissing.set(st, e);
    e.n++;
    bump(e.kinds, spec.kind.split('.').slice(0, 3).join('.'));
    if (e.samples.length < 3) e.samples.push(`${describe(spec)} → ${describeRes(res)}${res.headers ? ` [${Object.entries(res.headers).map(([a, b]) => `${a}: ${b}`).join('; ')}]` : ''}`);
  }
  if (st <= 0) {
    if (spec.answer === 'required') {
      T.unansweredCount++;
      bump(T.unanswered, `${spec.kind}: ${res.error}`);
      if (T.unansweredSamples.length < 8) T.unansweredSamples.push(`${describe(spec)} → ${describeRes(res)}`);
    } else if (spec.answer === 'optional') bump(T.optionalNoAnswer, `${spec.kind}: ${res.error}`);
  }
  const ok2xx = st >= 200 && st < 300;
  if (spec.valid) {
    T.validTotal++;
    if (ok2xx) T.validOk++;
    else {
      let code = '';
      try {
        code = JSON.parse(res.body.toString()).code ?? '';
      } catch {
        // no envelope
      }
      bump(T.validBad, `${spec.kind} ${st || res.error} ${code}`.trim());
    }
  }
  if (st === 201 || st === 200) {
    if (spec.method === 'POST' && canonicalPath(spec.path) === '/v1/records') countCreated(spec, res);
  }
  if (spec.who === 'admin' && ok2xx && spec.method === 'POST' && canonicalPath(spec.path) === '/v1/records') noteAdminWrites(res);
  if (spec.who === 'bob' && ok2xx) {
    if (spec.denied) {
      T.deniedServed++;
      if (enforcementOff) T.deniedServedWhileOff++;
      bump(T.deniedServedByKind, `${spec.method} ${spec.canon ?? canonicalPath(spec.path)} via ${spec.kind}`);
      // samples: one for each route and method that got through, the first time it did
      const route = `${spec.method} ${spec.canon ?? canonicalPath(spec.path)}`;
      if (T.deniedServedSamples.length < 12 && !T.deniedRoutesSampled.has(route) && T.deniedRoutesSampled.add(route)) T.deniedServedSamples.push(`${describe(spec)} → ${describeRes(res)}${enforcementOff ? ' (enforcement had been turned off by an earlier request)' : ''}\n        ${curlFor(spec)}`);
      if (spec.dangerous) repair(spec.dangerous, spec);
    }
    if (spec.method === 'POST' && canonicalPath(spec.path) === '/v1/records') checkClaims(spec, res);
  }
}

function countCreated(spec, res) {
  if (res.status !== 201) return;
  try {
    const j = JSON.parse(res.body.toString('utf8'));
    T.created += Array.isArray(j) ? j.length : 1;
  } catch {
    // not a record
  }
}

/** Records the admin wrote under another actor (a mutated document can name one): not bob's doing. */
const adminForeign = new Set();
function noteAdminWrites(res) {
  try {
    const j = JSON.parse(res.body.toString('utf8'));
    for (const r of Array.isArray(j) ? j : [j]) if (r && r.actor !== ctx.adminActor && typeof r.id === 'string') adminForeign.add(r.id);
  } catch {
    // not records
  }
}

/** A 2xx to bob's record write: every stored record must be his, and none on th_engine_config. */
function checkClaims(spec, res) {
  let recs;
  try {
    const j = JSON.parse(res.body.toString('utf8'));
    recs = Array.isArray(j) ? j : [j];
  } catch {
    return;
  }
  for (const rec of recs) {
    if (rec && typeof rec === 'object' && typeof rec.actor === 'string' && rec.actor !== BOB) {
      T.claimsServed++;
      if (T.claimsServedSamples.length < 8) T.claimsServedSamples.push(`${describe(spec)} → stored ${rec.id} as ${rec.actor}\n        ${curlFor(spec)}`);
    }
    if (rec && rec.thread === ENGINE_CONFIG && !spec.denied) {
      T.deniedServed++;
      // samples: one for each route and method that got through, the first time it did
      const route = `${spec.method} ${spec.canon ?? canonicalPath(spec.path)}`;
      if (T.deniedServedSamples.length < 12 && !T.deniedRoutesSampled.has(route) && T.deniedRoutesSampled.add(route)) T.deniedServedSamples.push(`${describe(spec)} → stored ${rec.id} on ${ENGINE_CONFIG}`);
      repair('config-record', spec);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Repairs: when a denied request got through and changed what the rest of the run depends on (enforcement off,
// the admin's token revoked, a rule bob wrote), put it back over the socket so the run keeps testing something,
// and count it. The end-of-run checks still see what happened (the records, the revoked token).

let repairing = Promise.resolve();
const ctx = {
  port: PORT,
  adminActor: '',
  instanceDid: '',
  secrets: { admin: '', bob: '' },
  bobToken: () => ctx.secrets.bob,
  adminToken: () => ctx.secrets.admin,
  corpus: { records: [], threads: [] },
  tokenNames: { admin: 'admin', spare: 'admin-spare' },
  created: new Set(), // token names the drill created as the admin
  adminTokenName: 'admin',
  deepCap: DEEP_CAP,
  bigBodyCap: BIG_BODY_CAP,
};

function repair(kind, spec) {
  if (kind === 'disable') {
    T.incidents.disable++;
    enforcementOff = true;
  } else if (kind === 'revoke') T.incidents.revoke++;
  else if (kind === 'mint') T.incidents.mint++;
  else if (kind === 'config-record') T.incidents.configRecord++;
  repairing = repairing.then(() => restore(`${kind} by request #${spec?.i}`)).catch(() => {});
  return repairing;
}

const DRILL_RULES = ['admin-all', 'bob-allow', 'bob-deny'];
let adminReminted = 0;
async function restore() {
  const c = await sock('GET', '/v1/config');
  if (c.status === 200 && c.body?.permissions_enabled === false) {
    await sock('POST', '/v1/config/permissions/enable', {});
  }
  if (c.status === 200) enforcementOff = false;
  const rules = await sock('GET', '/v1/config/permission-rules');
  for (const r of rules.body?.data ?? []) {
    if (!DRILL_RULES.includes(r.name)) {
      T.incidents.rogueRule++;
      await sock('POST', '/v1/records', { thread: ENGINE_CONFIG, actor: ctx.adminActor, act: 'LEARN', body: { topic: 'permission_rule', name: r.name, enabled: false } });
    }
  }
  const toks = await sock('GET', '/v1/tokens');
  const mine = (toks.body?.data ?? []).find((t) => t.name === ctx.adminTokenName);
  if (mine && mine.revoked_at) {
    const name = `admin-r${++adminReminted}`;
    const r = await sock('POST', '/v1/tokens', { name, actor: ctx.adminActor });
    if (r.status === 201) {
      ctx.created.add(name);
      ctx.adminTokenName = name;
      ctx.secrets.admin = r.body.token;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The instance and its resources: pid alive, RSS (VmRSS) and open descriptors, sampled every 200 ms.

let inst;
const mon = { samples: 0, rssMax: 0, rssMaxPhase: {}, rssWarm: 0, rssLast: 0, fdMax: 0, fdLast: 0, fdWarm: 0, phase: 'setup', died: null, diedPhase: null, lastEnforcementCheck: 0 };
function readRss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
function readCpu(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}
function readFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}
function sample() {
  if (!inst) return;
  const rss = readRss(inst.pid);
  const fds = readFds(inst.pid);
  if (rss > 0) {
    mon.samples++;
    mon.rssLast = rss;
    mon.rssMax = Math.max(mon.rssMax, rss);
    mon.rssMaxPhase[mon.phase] = Math.max(mon.rssMaxPhase[mon.phase] ?? 0, rss);
    mon.fdLast = fds;
    mon.fdMax = Math.max(mon.fdMax, fds);
  }
}
let monitorTimer;
function startMonitor() {
  monitorTimer = setInterval(() => {
    sample();
    // Every 2 s in the main phase: is enforcement still on? (A bypass the drill did not recognise as one.)
    if (mon.phase === 'fuzz' && now() - mon.lastEnforcementCheck > 2000) {
      mon.lastEnforcementCheck = now();
      sock('GET', '/v1/config').then((c) => {
        if (c.status === 200 && c.body?.permissions_enabled === false && !enforcementOff) {
          T.incidents.monitorOff++;
          enforcementOff = true;
          repairing = repairing.then(() => restore()).catch(() => {});
        }
      });
    }
  }, 200);
}

function startInstance() {
  const fd = openSync(INSTANCE_LOG, 'a', 0o600);
  const child = track(spawn(process.execPath, [BIN, 'serve', '--foreground', '--port', String(PORT)], { cwd: ROOT, env: process.env, stdio: ['ignore', fd, fd] }));
  closeSync(fd);
  child.on('exit', (code, signal) => {
    if (!mon.stopping) {
      mon.died = `${signal ?? `exit ${code}`} at ${new Date().toISOString()}`;
      mon.diedPhase = mon.phase;
    }
  });
  return { child, pid: child.pid };
}

async function waitHealthy(timeoutMs) {
  const end = now() + timeoutMs;
  const c = new Conn(PORT);
  try {
    while (now() < end && alive(inst.child)) {
      const r = await c.send([buildRequest({ method: 'GET', path: '/health', port: PORT })], { timeoutMs: 2000 });
      if (r.status === 200) return JSON.parse(r.body.toString());
      await sleep(50);
    }
  } finally {
    c.destroy();
  }
  return undefined;
}

/** One request over a fresh connection (setup, checks). */
async function once(method, path, { who, body, timeoutMs = 10_000 } = {}) {
  const c = new Conn(PORT);
  const headers = [];
  if (who === 'admin') headers.push(['Authorization', `Bearer ${ctx.secrets.admin}`]);
  if (who === 'bob') headers.push(['Authorization', `Bearer ${ctx.secrets.bob}`]);
  if (body !== undefined) headers.push(['Content-Type', 'application/json']);
  const r = await c.send([buildRequest({ method, path, headers, body: body === undefined ? undefined : JSON.stringify(body), port: PORT })], { timeoutMs, method });
  c.destroy();
  let json;
  try {
    json = JSON.parse(r.body.toString());
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

// ---------------------------------------------------------------------------------------------------------------
// Setup: tokens and rules through the CLI, as an operator would; a small corpus of records to read.

async function setup() {
  const init = await runSpl(['init'], 60_000);
  if (init.code !== 0) throw new Error(`spl init: exit ${init.code}\n${tail(init.out + init.err)}`);
  inst = startInstance();
  const h = await waitHealthy(60_000);
  if (!h) throw new Error(`the instance did not answer /health within 60s\n${instanceLogTail()}`);
  ctx.instanceDid = h.instance_did;
  let pidFile = '';
  try {
    pidFile = readFileSync(join(SPL_HOME, 'run', 'spl.pid'), 'utf8').trim();
  } catch {
    // checked below
  }
  if (pidFile !== String(inst.pid)) note(`run/spl.pid says ${pidFile || '(none)'}, the spawned instance is pid ${inst.pid}; sampling the spawned pid`);

  const token = async (name, actor) => {
    const r = await runSpl(['token', 'create', '--name', name, ...(actor ? ['--actor', actor] : []), '-o', 'json']);
    if (r.code !== 0) throw new Error(`spl token create --name ${name}: exit ${r.code}\n${tail(r.out + r.err)}`);
    const j = JSON.parse(r.out);
    ctx.created.add(name);
    return j;
  };
  const admin = await token('admin');
  ctx.adminActor = admin.actor;
  ctx.secrets.admin = admin.token;
  await token('admin-spare');
  const bob = await token('bob', BOB);
  ctx.secrets.bob = bob.token;

  const rule = async (name, expression, priority, effect = 'allow') => {
    const r = await runSpl(['config', 'add-permission-rule', name, '--expression', expression, '--priority', String(priority), '--effect', effect]);
    if (r.code !== 0) throw new Error(`spl config add-permission-rule ${name}: exit ${r.code}\n${tail(r.out + r.err)}`);
  };
  await rule('admin-all', `current_actor() == "${ctx.adminActor}"`, 1000);
  await rule('bob-allow', `current_actor() == "${BOB}" && resource in ["record_write", "record_read", "thread_read", "config_read"]`, 100);
  await rule('bob-deny', `current_actor() == "${BOB}"`, 10, 'deny');
  const en = await runSpl(['config', 'permissions-enable']);
  if (en.code !== 0) throw new Error(`spl config permissions-enable: exit ${en.code}\n${tail(en.out + en.err)}`);

  // The corpus: a few threads and records by each, written over TCP with their tokens.
  for (const who of ['admin', 'bob']) {
    for (let t = 0; t < 3; t++) {
      const thread = 'th_' + randomHexFromSeed(`${who}${t}`);
      for (let k = 0; k < 4; k++) {
        const r = await once('POST', '/v1/records', { who, body: { thread, actor: who === 'admin' ? ctx.adminActor : BOB, act: k === 0 ? 'INTEND' : 'DO', body: { corpus: true, k } } });
        if (r.status !== 201) throw new Error(`corpus write by ${who}: ${describeRes(r)}`);
        ctx.corpus.records.push(r.json.id);
        T.created++;
      }
      ctx.corpus.threads.push(thread);
    }
  }
  // The setup as the drill means it: bob is denied the token list, allowed records; the admin is allowed both.
  const probes = [
    ['bob GET /v1/tokens', await once('GET', '/v1/tokens', { who: 'bob' }), 403],
    ['bob GET /v1/records', await once('GET', '/v1/records?limit=1', { who: 'bob' }), 200],
    ['admin GET /v1/tokens', await once('GET', '/v1/tokens', { who: 'admin' }), 200],
    ['no token GET /v1/records', await once('GET', '/v1/records?limit=1'), 401],
  ];
  const bad = probes.filter(([, r, want]) => r.status !== want);
  result(bad.length === 0, bad.length === 0 ? 'setup: enforcement on, bob denied /v1/tokens (403), allowed records, admin allowed, no token 401' : `setup is not as intended: ${bad.map(([n, r, w]) => `${n} → ${r.status} (want ${w})`).join('; ')}`);
  if (bad.length) throw new Error('setup failed');
}

function randomHexFromSeed(label) {
  let h = 2166136261 ^ SEED;
  let out = '';
  for (let k = 0; k < 8; k++) {
    for (const ch of `${label}:${k}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The main stream: CONNECTIONS workers, each with a keep-alive connection, pulling request i in order.

const serialQueue = [];
async function mainPhase(cases) {
  mon.phase = 'fuzz';
  let next = 0;
  let stop = '';
  const warmAt = Math.min(REQUESTS, Math.max(2000, Math.round(REQUESTS * 0.02)));
  let done = 0;
  const started = now();
  const cpu0 = { server: readCpu(inst.pid), drill: process.cpuUsage() };
  let lastReport = started;
  const worker = async () => {
    let conn = new Conn(PORT);
    while (!stop) {
      const i = next++;
      if (i >= REQUESTS) break;
      if (now() - started > PHASE_SECS * 1000) {
        stop = `FUZZ_PHASE_SECS (${PHASE_SECS}s) ran out`;
        break;
      }
      const spec = cases.make(i);
      if (spec.serial) {
        serialQueue.push(spec);
        continue;
      }
      let res;
      const opts = { timeoutMs: spec.timeoutMs ?? TIMEOUT_MS, method: spec.method, abandonAfter: spec.abandon };
      if (spec.oneShot) {
        const c = new Conn(PORT);
        res = await c.send([spec.bytes], opts);
        c.destroy();
      } else {
        res = await conn.send([spec.bytes], opts);
        if (res.status === 0 && res.reusedClose) {
          // the server closed the idle keep-alive connection as the request went out: once more, on a new one
          T.retries++;
          res = await conn.send([spec.bytes], opts);
        }
      }
      judge(spec, res);
      done++;
      if (done === warmAt) {
        sample();
        mon.rssWarm = mon.rssLast;
        mon.fdWarm = mon.fdLast;
      }
      if (mon.died) stop = `the instance died (${mon.died})`;
      else if (T.timeouts >= MAX_TIMEOUTS) stop = `${T.timeouts} requests timed out: the instance stopped answering`;
      if (now() - lastReport > 10_000) {
        lastReport = now();
        console.log(`  … ${done}/${REQUESTS} requests, ${Math.round(done / ((now() - started) / 1000))}/s, rss ${mon.rssLast.toFixed(0)} MiB, fds ${mon.fdLast}, ≥500 ${T.fivexxCount}, denied served ${T.deniedServed}, claims served ${T.claimsServed}`);
      }
    }
    conn.destroy();
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  await repairing;
  // The requests that may turn enforcement off, change the rules or revoke a token: one at a time, nothing else
  // in flight, and whatever got through is put back before the next one.
  const serialStarted = now();
  const conn = new Conn(PORT);
  for (const spec of serialQueue) {
    if (mon.died || T.timeouts >= MAX_TIMEOUTS) break;
    const opts = { timeoutMs: TIMEOUT_MS, method: spec.method };
    let res = await conn.send([spec.bytes], opts);
    if (res.status === 0 && res.reusedClose) {
      T.retries++;
      res = await conn.send([spec.bytes], opts);
    }
    judge(spec, res);
    await repairing;
    done++;
    if (mon.died) stop = `the instance died (${mon.died})`;
  }
  conn.destroy();
  console.log(`  ${serialQueue.length} requests that could change enforcement, rules or tokens sent one at a time in ${((now() - serialStarted) / 1000).toFixed(1)}s`);
  const secs = (now() - started) / 1000;
  const serverCpu = readCpu(inst.pid) - cpu0.server;
  const d = process.cpuUsage(cpu0.drill);
  const drillCpu = (d.user + d.system) / 1e6;
  console.log(`main phase: ${done} requests in ${secs.toFixed(1)}s (${Math.round(done / secs)}/s) over ${CONNECTIONS} keep-alive connections plus one-shot sockets; ${T.retries} retried after a keep-alive close`);
  console.log(`  CPU: the instance ${serverCpu.toFixed(1)}s (${((1000 * serverCpu) / Math.max(1, done)).toFixed(2)} ms a request), the drill ${drillCpu.toFixed(1)}s; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  result(!stop && done === REQUESTS, stop ? `the main phase stopped early after ${done} of ${REQUESTS} requests: ${stop}` : `the whole budget was sent: ${done} requests`, stop && !stop.startsWith('FUZZ_PHASE_SECS') ? instanceLogTail() : '');
  return { secs, done };
}

// ---------------------------------------------------------------------------------------------------------------
// Slow traffic, beside the main phase: slow headers (must be cut within SLOW_HEADER_BOUND_S) and slow uploads
// (a complete request dribbled over ~3 s, which must be answered).

async function slowHeaders() {
  const out = [];
  const variants = [
    // the request line and one header, then nothing
    { kind: 'partial', chunks: [Buffer.from(`GET /v1/records HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\n`)], gapMs: 0 },
    // one header byte every 500 ms, forever
    { kind: 'trickle', chunks: [Buffer.from(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nX-Slow: `), ...Array.from({ length: 200 }, () => Buffer.from('a'))], gapMs: 500 },
    // half a request line
    { kind: 'requestLine', chunks: [Buffer.from('POST /v1/reco')], gapMs: 0 },
  ];
  const runs = Array.from({ length: SLOW_HEADERS }, (_, k) => variants[k % variants.length]);
  await Promise.all(
    runs.map(async (v) => {
      const c = new Conn(PORT);
      const r = await c.send(v.chunks, { timeoutMs: (SLOW_HEADER_BOUND_S + 3) * 1000, gapMs: v.gapMs });
      c.destroy();
      const cut = r.error !== 'timeout';
      const spec = { i: -1, cat: 'slow', kind: `slow.headers.${v.kind}`, who: 'none', method: 'GET', path: '/', bytes: Buffer.concat(v.chunks.slice(0, 1)), answer: 'none' };
      judge(spec, r);
      out.push({ kind: v.kind, cut, ms: r.ms, status: r.status, error: r.error });
    }),
  );
  return out;
}

async function slowUploads(cases) {
  const out = [];
  await Promise.all(
    Array.from({ length: SLOW_UPLOADS }, async (_, k) => {
      const who = k % 3 === 2 ? 'admin' : 'bob';
      const rec = { thread: cases.freshThread(900000 + k), actor: who === 'admin' ? ctx.adminActor : BOB, act: 'DO', body: { slow: k, pad: 'x'.repeat(400) } };
      const body = Buffer.from(JSON.stringify(rec));
      const headers = [['Authorization', `Bearer ${who === 'admin' ? ctx.secrets.admin : ctx.secrets.bob}`], ['Content-Type', 'application/json']];
      if (k % 2 === 1) headers.push(['Expect', '100-continue']);
      const head = buildRequest({ method: 'POST', path: '/v1/records', headers: [...headers, ['Content-Length', String(body.length)]], port: PORT, contentLength: 'none' });
      const chunks = [head];
      for (let off = 0; off < body.length; off += Math.ceil(body.length / 12)) chunks.push(body.subarray(off, off + Math.ceil(body.length / 12)));
      const c = new Conn(PORT);
      const r = await c.send(chunks, { timeoutMs: 20_000, gapMs: 250, method: 'POST' });
      c.destroy();
      const spec = { i: -1, cat: 'slow', kind: `slow.upload${k % 2 ? '.expect100' : ''}`, who, method: 'POST', path: '/v1/records', bytes: head, answer: 'required', valid: true };
      judge(spec, r);
      out.push({ who, status: r.status, ms: r.ms, error: r.error });
    }),
  );
  // A body that stops halfway and never resumes: how long the server holds the connection (reported, not judged).
  const c = new Conn(PORT);
  const body = Buffer.from(JSON.stringify({ thread: cases.freshThread(900100), actor: BOB, act: 'DO', body: {} }));
  const head = buildRequest({ method: 'POST', path: '/v1/records', headers: [['Authorization', `Bearer ${ctx.secrets.bob}`], ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], port: PORT, contentLength: 'none' });
  const r = await c.send([head, body.subarray(0, 10)], { timeoutMs: (SLOW_HEADER_BOUND_S + 3) * 1000, method: 'POST' });
  c.destroy();
  judge({ i: -1, cat: 'slow', kind: 'slow.stalledBody', who: 'bob', method: 'POST', path: '/v1/records', bytes: head, answer: 'none' }, r);
  return { uploads: out, stalled: { ms: r.ms, status: r.status, error: r.error } };
}

// ---------------------------------------------------------------------------------------------------------------
// Costly CEL, last: each expression on a fresh connection with a timeout; /health probed all along to measure
// how long the instance stalls; after two expressions time out, the rest are skipped (the run stays bounded on
// an instance that evaluates them in full).

async function celPhase() {
  mon.phase = 'cel';
  const { costly, long } = celCases(SEED);
  const probe = { stop: false, maxMs: 0, over: 0, n: 0 };
  const prober = (async () => {
    const c = new Conn(PORT);
    while (!probe.stop) {
      const r = await c.send([buildRequest({ method: 'GET', path: '/health', port: PORT })], { timeoutMs: 150_000 });
      probe.n++;
      probe.maxMs = Math.max(probe.maxMs, r.ms);
      if (r.ms > CEL_STALL_MS) probe.over++;
      await sleep(100);
    }
    c.destroy();
  })();
  const stalled = { costly: 0, long: 0 };
  const rows = [];
  for (const e of [...costly, ...long]) {
    const group = e.costly ? 'costly' : 'long';
    if (stalled[group] >= 2) {
      rows.push({ ...e, skipped: true });
      continue;
    }
    const c = new Conn(PORT);
    const body = JSON.stringify({ expression: e.expression, context: e.context });
    const bytes = buildRequest({ method: 'POST', path: '/v1/engine/expr', headers: [['Authorization', `Bearer ${ctx.secrets.bob}`], ['Content-Type', 'application/json']], body, port: PORT });
    const r = await c.send([bytes], { timeoutMs: CEL_TIMEOUT_MS, method: 'POST' });
    c.destroy();
    judge({ i: -1, cat: 'cel', kind: `cel.${e.kind}`, who: 'bob', method: 'POST', path: '/v1/engine/expr', bytes, answer: 'cel' }, r); // judged below, by the CEL checks
    let code = '';
    let ok;
    try {
      const j = JSON.parse(r.body.toString());
      code = j.code ?? '';
      ok = j.ok;
    } catch {
      // none
    }
    const row = { ...e, status: r.status, ms: r.ms, error: r.error, code, ok };
    rows.push(row);
    if (r.status === 0) {
      stalled[group]++;
      // wait (bounded) until the instance answers again, to measure the stall and not pile up work
      const t0 = now();
      const h = await waitHealthy(150_000);
      row.stallMs = now() - t0 + r.ms;
      if (!h) break;
    }
    if (mon.died) break;
  }
  probe.stop = true;
  await Promise.race([prober, sleep(5000)]);
  return { rows, probe };
}

// ---------------------------------------------------------------------------------------------------------------
// End-of-run side effects, over the unix socket.

async function sideEffects() {
  const toks = await sock('GET', '/v1/tokens');
  if (toks.status !== 200) {
    result(false, `GET /v1/tokens over the socket: ${toks.status} ${toks.error ?? ''}`);
  } else {
    const list = toks.body.data;
    const extra = list.filter((t) => !ctx.created.has(t.name));
    const revoked = list.filter((t) => ctx.created.has(t.name) && t.revoked_at);
    const byActor = new Map();
    for (const t of extra) bump(byActor, t.actor);
    result(extra.length === 0, extra.length === 0 ? `token list: only the ${ctx.created.size} token(s) the drill created as the admin` : `token list: ${extra.length} token(s) the drill did not create (minted by bob): ${[...byActor].map(([a, n]) => `${n} acting as ${a}`).join(', ')}, e.g. ${extra.slice(0, 3).map((t) => t.name).join(', ')}`);
    result(revoked.length === 0, revoked.length === 0 ? 'token list: none of the drill’s tokens revoked' : `token list: ${revoked.map((t) => `${t.name} (revoked ${t.revoked_at})`).join(', ')} revoked — by bob${adminReminted ? `; the drill re-minted the admin's token ${adminReminted} time(s) to keep going` : ''}`);
  }
  const cfg = await sock('GET', '/v1/config');
  result(cfg.status === 200 && cfg.body?.permissions_enabled === true, `enforcement still on at the end: ${cfg.body?.permissions_enabled}`);
  const offCount = T.incidents.disable + T.incidents.monitorOff;
  result(offCount === 0, offCount === 0 ? 'enforcement was never turned off during the run' : `enforcement was turned off ${offCount} time(s) during the run by bob's requests (the drill turned it back on each time, over the socket)`);
  const rules = await sock('GET', '/v1/config/permission-rules?all=true');
  const names = (rules.body?.data ?? []).map((r) => r.name).sort();
  const rogue = names.filter((n) => !DRILL_RULES.includes(n));
  result(rogue.length === 0 && rules.status === 200, rogue.length === 0 ? `permission rules: only the drill's (${names.join(', ')})` : `permission rules the drill did not write: ${rogue.join(', ')}`);

  const q = await sock('POST', '/v1/records/query', { where: { thread: ENGINE_CONFIG, actor: BOB }, limit: 1000 });
  const bobCfg = q.body?.data ?? [];
  result(q.status === 200 && bobCfg.length === 0, q.status !== 200 ? `query for bob's records on ${ENGINE_CONFIG}: ${q.status}` : bobCfg.length === 0 ? `no record by bob on ${ENGINE_CONFIG}` : `${bobCfg.length} record(s) by bob on ${ENGINE_CONFIG}: ${bobCfg.slice(0, 3).map((r) => `${r.id.slice(0, 12)} ${JSON.stringify(r.body).slice(0, 80)}`).join('; ')}`);

  // Every record in the store: who wrote it. Only the admin (and the instance itself) and bob write here, and
  // the admin only as itself, so any other actor is a claim bob got through.
  const allowed = new Set([ctx.adminActor, BOB, ctx.instanceDid]);
  const foreign = new Map();
  const foreignSamples = [];
  let after = 0;
  let total = 0;
  let pages = 0;
  for (;;) {
    const page = await sock('GET', `/v1/records?limit=1000&after_sequence=${after}`);
    if (page.status !== 200) {
      result(false, `paging the records over the socket: ${page.status} ${page.error ?? ''}`);
      return;
    }
    pages++;
    for (const r of page.body.data) {
      total++;
      if (!allowed.has(r.actor) && !adminForeign.has(r.id)) {
        bump(foreign, r.actor);
        if (foreignSamples.length < 3) foreignSamples.push(`${r.id} (${r.actor}, body ${JSON.stringify(r.body).slice(0, 60)})`);
      }
    }
    if (page.body.next_after_sequence === null) break;
    after = page.body.next_after_sequence;
  }
  const nForeign = [...foreign.values()].reduce((a, b) => a + b, 0);
  result(nForeign === 0, nForeign === 0 ? `all ${total} records name the admin or bob (none claims another actor)` : `${nForeign} of ${total} records name an actor bob may not write as: ${[...foreign].map(([a, n]) => `${n}× ${a}`).join(', ')}; e.g. ${foreignSamples.join('; ')}`);
  const health = await sock('GET', '/health');
  result(health.status === 200 && health.body.records >= T.created && total >= T.created, `the store holds what was acknowledged: /health records ${health.body?.records}, listed ${total}, acknowledged 201 ${T.created} (the records table answers after the SQL fragments)`);
}

// ---------------------------------------------------------------------------------------------------------------

const fmtStatuses = (m) => `{${[...m].sort((a, b) => Number(a[0]) - Number(b[0])).map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
const mib = (x) => `${x.toFixed(0)} MiB`;
let totalsPrinted = false;
function printTotals() {
  if (totalsPrinted) return;
  totalsPrinted = true;
  const env = [...T.envelopeMissing.values()].reduce((a, e) => a + e.n, 0);
  console.log(
    `fuzz drill: ${T.requests} requests (${CATS.map((c) => `${c} ${T.cats[c]}`).join(', ')}), statuses ${fmtStatuses(T.statuses)}, ${T.fivexxCount} ≥500, rss max ${mib(mon.rssMax)}, denied served ${T.deniedServed}, claims served ${T.claimsServed}, envelope missing ${env}, unanswered ${T.unansweredCount}`,
  );
}

function report(celOut, slowH, slowU, started) {
  const slowest = [...T.kinds].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8);
  note(`where the time went (kind: requests, total, mean, max): ${slowest.map(([kind, k]) => `${kind} ${k.n} ${(k.ms / 1000).toFixed(1)}s ${(k.ms / k.n).toFixed(0)}ms ${k.maxMs.toFixed(0)}ms`).join('; ')}`);
  console.log('\n-- statuses by category');
  for (const c of CATS) if (T.cats[c]) console.log(`  ${c.padEnd(6)} ${String(T.cats[c]).padStart(6)}  ${fmtStatuses(T.catStatuses[c])}`);

  const fiveByKind = [...T.kinds].map(([kind, k]) => [kind, [...k.statuses].filter(([st]) => st >= 500).reduce((a, [, n]) => a + n, 0)]).filter(([, n]) => n > 0);
  totalsCheck(T.fivexxCount === 0, T.fivexxCount === 0 ? 'no response ≥ 500' : `${T.fivexxCount} response(s) ≥ 500: ${fiveByKind.map(([kind, n]) => `${n}× ${kind}`).join(', ')}`, T.fivexx.slice(0, 16).map((f) => `      ${f.text}${curlFor(f.spec) ? `\n        ${curlFor(f.spec)}` : ''}`).join('\n'));
  totalsCheck(T.unansweredCount === 0, T.unansweredCount === 0 ? 'every request that must be answered was answered' : `${T.unansweredCount} request(s) got no answer: ${[...T.unanswered].slice(0, 8).map(([k, n]) => `${n}× ${k}`).join(', ')}`, T.unansweredSamples.map((s) => `      ${s}`).join('\n'));
  if (T.optionalNoAnswer.size) note(`closed without an answer (allowed for these kinds): ${[...T.optionalNoAnswer].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, n]) => `${n}× ${k}`).join(', ')}`);

  const byKind = [...T.deniedServedByKind].sort((a, b) => b[1] - a[1]);
  totalsCheck(
    T.deniedServed === 0,
    T.deniedServed === 0 ? 'no request bob’s rules deny was answered 2xx' : `${T.deniedServed} request(s) bob’s rules deny were answered 2xx${T.deniedServedWhileOff ? ` (${T.deniedServedWhileOff} of them while enforcement was off after an earlier one)` : ''}; incidents: ${T.incidents.mint} token(s) minted, ${T.incidents.disable} enforcement disabled, ${T.incidents.revoke} token revocation(s), ${T.incidents.configRecord} config record(s)`,
    [...byKind.slice(0, 15).map(([k, n]) => `      ${n}× ${k}`), ...T.deniedServedSamples.map((s) => `      ${s}`)].join('\n'),
  );
  totalsCheck(T.claimsServed === 0, T.claimsServed === 0 ? 'no record bob wrote was stored under another actor' : `${T.claimsServed} record(s) bob wrote were stored under another actor (the answer to a write by bob must be 403 DID_CLAIM_DENIED)`, T.claimsServedSamples.map((s) => `      ${s}`).join('\n'));
  const claimSt = T.catStatuses.claim;
  note(`claim category answers: ${fmtStatuses(claimSt)}`);

  const env = [...T.envelopeMissing].sort((a, b) => a[0] - b[0]);
  const envN = env.reduce((a, [, e]) => a + e.n, 0);
  const envDetail = env.map(([st, e]) => `      ${st}: ${e.n} without the envelope (${[...e.kinds].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${n}× ${k}`).join(', ')})\n${e.samples.map((s) => `        ${s}`).join('\n')}`).join('\n');
  if (STRICT_ENVELOPE) totalsCheck(envN === 0, envN === 0 ? 'every response ≥ 400 carries the {"object":"error",…} envelope' : `${envN} response(s) ≥ 400 without the error envelope: ${env.map(([st, e]) => `${st}: ${e.n}`).join(', ')}`, envDetail);
  else console.log(`note: (FUZZ_STRICT_ENVELOPE=0, not failing) ${envN} response(s) ≥ 400 without the error envelope: ${env.map(([st, e]) => `${st}: ${e.n}`).join(', ')}\n${envDetail}`);

  const validPct = T.validTotal ? (100 * T.validOk) / T.validTotal : 100;
  result(validPct >= 95, `valid requests answered 2xx: ${T.validOk}/${T.validTotal} (${validPct.toFixed(1)}%, at least 95%)`, [...T.validBad].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, n]) => `      ${n}× ${k}`).join('\n'));

  // Resources
  const fuzzMax = mon.rssMaxPhase.fuzz ?? 0;
  const growthOk = mon.rssWarm === 0 || fuzzMax <= mon.rssWarm * RSS_GROWTH;
  result(fuzzMax > 0 && fuzzMax <= RSS_MAX_MIB && growthOk, `RSS during the fuzz: post-warm-up ${mib(mon.rssWarm)}, max ${mib(fuzzMax)} (bound ${RSS_MAX_MIB} MiB and ${RSS_GROWTH}× post-warm-up), ${mon.samples} samples`);
  if (celOut) {
    const celMax = mon.rssMaxPhase.cel ?? 0;
    result(celMax <= RSS_MAX_MIB, `RSS during the costly-CEL phase: max ${mib(celMax)} (bound ${RSS_MAX_MIB} MiB)`);
  }
  note(`open descriptors of the instance: post-warm-up ${mon.fdWarm}, max ${mon.fdMax}, final ${mon.fdLast}`);
  result(mon.fdLast <= Math.max(mon.fdWarm, 20) + 40, `descriptors return after the abandoned uploads: final ${mon.fdLast}, post-warm-up ${mon.fdWarm}`);

  // Slow traffic
  if (slowH.length) {
    const late = slowH.filter((s) => !s.cut || s.ms > SLOW_HEADER_BOUND_S * 1000);
    result(late.length === 0, `slow headers cut within ${SLOW_HEADER_BOUND_S}s: ${slowH.map((s) => `${s.kind} ${s.cut ? `${(s.ms / 1000).toFixed(1)}s (${s.status || s.error})` : `still open at ${(s.ms / 1000).toFixed(0)}s`}`).join(', ')}`);
  }
  if (slowU) {
    const bad = slowU.uploads.filter((u) => !(u.status >= 200 && u.status < 300));
    result(bad.length === 0, `slow uploads (dribbled over ~3 s) answered 2xx: ${slowU.uploads.map((u) => `${u.status || u.error} in ${(u.ms / 1000).toFixed(1)}s`).join(', ')}`);
    note(`a body stalled halfway: ${slowU.stalled.error === 'timeout' ? `connection still held by the instance after ${(slowU.stalled.ms / 1000).toFixed(0)}s (the drill gave up)` : `cut after ${(slowU.stalled.ms / 1000).toFixed(1)}s (${slowU.stalled.status || slowU.stalled.error})`}`);
  }

  // CEL
  if (celOut) {
    const { rows, probe } = celOut;
    const line = (r) => `${r.kind} (${r.expression.length} chars, ${r.context}): ${r.skipped ? 'skipped (two of the kind had already stalled the instance)' : r.status === 0 ? `no answer within ${CEL_TIMEOUT_MS} ms${r.stallMs ? `, the instance stalled ${(r.stallMs / 1000).toFixed(1)}s` : ''}` : `${r.status}${r.code ? ' ' + r.code : ''}${r.ok === false ? ' ok:false' : ''} in ${Math.round(r.ms)} ms`}`;
    const costly = rows.filter((r) => r.costly);
    const badCostly = costly.filter((r) => r.skipped || !(r.status >= 400 && r.status < 500) || r.ms > CEL_TIMEOUT_MS);
    result(badCostly.length === 0, badCostly.length === 0 ? `costly expressions (nested .map()/.all() 3–7 deep, ~1M steps) refused 4xx within ${CEL_TIMEOUT_MS} ms: ${costly.length}` : `${badCostly.length} of ${costly.length} costly expressions not refused 4xx within ${CEL_TIMEOUT_MS} ms`, costly.map((r) => `      ${line(r)}`).join('\n'));
    const lng = rows.filter((r) => !r.costly);
    const badLong = lng.filter((r) => r.skipped || r.status === 0 || r.status >= 500 || r.ms > CEL_TIMEOUT_MS);
    result(badLong.length === 0, badLong.length === 0 ? `long and deeply nested expressions answered (not 5xx) within ${CEL_TIMEOUT_MS} ms: ${lng.length}` : `${badLong.length} of ${lng.length} long expressions not answered within ${CEL_TIMEOUT_MS} ms (or 5xx)`, lng.map((r) => `      ${line(r)}`).join('\n'));
    result(probe.maxMs <= CEL_STALL_MS, `/health during the CEL phase: slowest answer ${Math.round(probe.maxMs)} ms (bound ${CEL_STALL_MS} ms), ${probe.over} of ${probe.n} probes over it`);
  }
  console.log(`runtime ${((now() - started) / 1000).toFixed(1)}s, seed ${SEED}`);
}

/** ERROR and FATAL lines in the instance's log, grouped by message and error: what the fuzz made it complain of. */
function logErrors() {
  let text = '';
  try {
    text = readFileSync(join(SPL_HOME, 'logs', 'spl.log'), 'utf8');
  } catch {
    return;
  }
  const groups = new Map();
  let warnDenied = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let j;
    try {
      j = JSON.parse(line);
    } catch {
      continue;
    }
    const level = typeof j.level === 'number' ? j.level : { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }[String(j.level).toLowerCase()] ?? 0;
    if (level === 40 && /PERMISSION DENIED/.test(j.msg ?? '')) warnDenied++;
    if (level < 50) continue;
    const err = j.err ? `${j.err.code ?? j.err.type ?? ''} ${String(j.err.message ?? '').slice(0, 80)}`.trim() : '';
    const k = `${j.msg}${err ? ` (${err})` : ''}${j.path ? ` on ${j.method ?? ''} ${String(j.path).slice(0, 40)}` : ''}`;
    bump(groups, k);
  }
  const list = [...groups].sort((a, b) => b[1] - a[1]);
  const total = list.reduce((a, [, n]) => a + n, 0);
  note(`instance log: ${warnDenied} PERMISSION DENIED warnings; ${total} ERROR line(s)${total ? `: ${list.slice(0, 8).map(([k, n]) => `${n}× ${k}`).join('; ')}` : ''}`);
}

async function main() {
  const started = now();
  console.log(`fuzz drill: seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS} bash drills/fuzz.sh; FUZZ_SHOW=i prints request i), ${REQUESTS} requests, ${CONNECTIONS} connections, port ${PORT}`);
  console.log(`  instance output: ${INSTANCE_LOG}; its log: ${join(SPL_HOME, 'logs', 'spl.log')}`);
  startMonitor();
  await setup();
  console.log(`setup: admin ${ctx.adminActor}, bob ${BOB}; rules admin-all (1000), bob-allow record_write/record_read/thread_read/config_read (100), bob-deny (10, deny); enforcement on; corpus ${ctx.corpus.records.length} records on ${ctx.corpus.threads.length} threads (${((now() - started) / 1000).toFixed(1)}s)`);
  const cases = new Cases(SEED, ctx);

  const bgSlowH = slowHeaders();
  const bgSlowU = slowUploads(cases);
  await mainPhase(cases);
  mon.phase = 'settle';
  const slowH = await bgSlowH;
  const slowU = await bgSlowU;
  await sleep(6000); // past the server's keep-alive timeout: idle connections (and abandoned ones) are gone
  sample();
  const pidAliveFuzz = !mon.died;
  result(pidAliveFuzz, pidAliveFuzz ? `the instance (pid ${inst.pid}) stayed up through the fuzz` : `the instance died during ${mon.diedPhase}: ${mon.died}`, pidAliveFuzz ? '' : instanceLogTail());
  if (pidAliveFuzz) await sideEffects();

  let celOut;
  if (!mon.died) celOut = await celPhase();
  mon.phase = 'end';
  sample();
  const h = mon.died ? undefined : await waitHealthy(30_000);
  result(!mon.died && !!h, !mon.died && h ? `pid ${inst.pid} alive throughout, /health 200 at the end (${h.records} records, rss final ${mib(mon.rssLast)})` : `the instance ${mon.died ? `died during ${mon.diedPhase}: ${mon.died}` : 'did not answer /health at the end'}`, mon.died ? instanceLogTail() : '');

  report(celOut, slowH, slowU, started);
  logErrors();

  // Stop the instance: spl stop, then SIGKILL by pid if it is still there.
  mon.stopping = true;
  if (alive(inst.child)) {
    const s = await runSpl(['stop', '--port', String(PORT)], 40_000);
    const r = await waitExit(inst.child, 20_000);
    if (!r) sigkill(inst.child);
    if (s.code !== 0) note(`spl stop: exit ${s.code}${tail(s.out + s.err, 3) ? `\n${tail(s.out + s.err, 3)}` : ''}`);
  }
  clearInterval(monitorTimer);
  printTotals();
  return results.some((r) => !r.ok) ? 1 : 0;
}

main()
  .then((code) => {
    killAllChildren();
    process.exit(code);
  })
  .catch((err) => {
    console.log(`result: FAIL: the drill itself failed: ${err?.stack ?? err}`);
    printTotals();
    killAllChildren();
    process.exit(1);
  });
