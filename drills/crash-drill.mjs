#!/usr/bin/env node
// Crash drill, the work behind drills/crash.sh: start the instance as a real subprocess, ingest from 8 keep-alive
// writers, SIGKILL it at a random moment — during start-up, during steady ingest, during an off-host backup
// (sometimes killing the backup too) — and after every kill check, with the store closed, that
// `PRAGMA integrity_check` says exactly `ok` and that every record acknowledged so far (HTTP 201 with an id) is
// in the store. At the end: one clean start (/health holds at least what was acknowledged), one clean backup,
// `spl stop`, and no leftovers (backup temp files, restore temp files, PID file, socket).
//
// Environment: WORK (scratch dir), PORT, HOME and SYNCROPEL_HOME (a throwaway home: drills/lib.sh sets them all),
// CRASH_KILLS (cycles, default 100), CRASH_SEED (replay a run; printed at the start), CRASH_RATE (ingest cap in
// requests/s, default 500, 0 for none), CRASH_TIMEOUT_SECS (overall bound, default 60 + 9 per cycle). Only processes this script spawned are ever signalled, by pid, and none is
// left behind when it exits, however it exits. Loopback only.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, statSync, writeSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './prng.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'spl');
const sqlite3 = createRequire(join(ROOT, 'package.json'))('sqlite3');

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`crash-drill: ${name} is not set (run it through drills/crash.sh)`);
    process.exit(2);
  }
  return v;
};
const WORK = need('WORK');
const PORT = Number(need('PORT'));
const HOME = need('HOME');
const SPL_HOME = need('SYNCROPEL_HOME');
const KILLS = Number(process.env.CRASH_KILLS ?? 100);
const SEED = process.env.CRASH_SEED !== undefined && process.env.CRASH_SEED !== '' ? Number(process.env.CRASH_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);
// Ingest is capped at this many requests a second in all (each writer starts one at most every WRITERS/RATE s):
// the kills need writes in flight, not volume, and every record makes each later start-up and check slower.
const RATE = Number(process.env.CRASH_RATE ?? 500);
const TIMEOUT_SECS = Number(process.env.CRASH_TIMEOUT_SECS ?? 60 + 9 * KILLS);
if (!Number.isFinite(RATE) || RATE < 0) {
  console.error(`crash-drill: CRASH_RATE must be a number ≥ 0 (0: no cap; got ${process.env.CRASH_RATE})`);
  process.exit(2);
}
if (!Number.isInteger(KILLS) || KILLS < 1) {
  console.error(`crash-drill: CRASH_KILLS must be a whole number ≥ 1 (got ${process.env.CRASH_KILLS})`);
  process.exit(2);
}
if (!isAbsolute(WORK) || !isAbsolute(SPL_HOME)) {
  console.error('crash-drill: WORK and SYNCROPEL_HOME must be absolute paths');
  process.exit(2);
}

const WRITERS = 8;
const STORE = join(SPL_HOME, 'hub.db');
const OFFHOST = join(WORK, 'offhost');
const INSTANCE_LOG = join(WORK, 'instance.log');
const BACKUP_LOG = join(WORK, 'backup.log');
const xdg = process.env.XDG_DATA_HOME;
const BACKUPS_ROOT = join(xdg && isAbsolute(xdg) ? xdg : join(HOME, '.local', 'share'), 'syncropel', 'backups');
const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 10_000;
const BACKUP_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32): every random choice comes from here, drawn in a fixed order per cycle, so a seed
// replays the same schedule of kill kinds and delays (what the machine does in between still varies).

const rand = mulberry32(SEED);
const between = (u, lo, hi) => Math.round(lo + u * (hi - lo));

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
    console.log(`crash drill: interrupted by ${sig}; killing the processes it started`);
    killAllChildren();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.log(`result: FAIL: the drill did not finish within ${TIMEOUT_SECS}s (CRASH_TIMEOUT_SECS); seed ${SEED}`);
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

/** Resolves to the value of `fn` once it is truthy, or undefined after timeoutMs. */
async function pollUntil(fn, timeoutMs, everyMs = 3) {
  const end = now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (now() >= end) return undefined;
    await sleep(everyMs);
  }
}

function withTimeout(promise, ms) {
  return Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP (loopback only).

function httpJson(method, path, { agent = false, body, timeoutMs = 2000 } = {}) {
  return new Promise((res) => {
    const req = request({ host: '127.0.0.1', port: PORT, method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (r) => {
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
      r.on('error', (err) => res({ status: 0, error: err.code ?? err.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => res({ status: 0, error: err.code ?? err.message }));
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The instance: `spl serve --foreground` spawned directly (so its pid is ours), output appended to instance.log.

function startInstance(label) {
  const fd = openSync(INSTANCE_LOG, 'a', 0o600);
  writeSync(fd, `\n----- ${label} -----\n`);
  const logOffset = fstatSync(fd).size;
  const child = track(
    spawn(process.execPath, [BIN, 'serve', '--foreground', '--port', String(PORT), '--insecure-localhost'], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', fd, fd],
    }),
  );
  closeSync(fd);
  const inst = { child, pid: child.pid, spawnedAt: now(), logOffset, logSeen: '', ready: false, readyAt: 0, health: undefined, killedByUs: false };
  // Readiness: /health 200, polled every 20 ms until ready, the process exits, or the timeout.
  inst.readiness = (async () => {
    const end = now() + READY_TIMEOUT_MS;
    while (alive(child) && now() < end) {
      const h = await httpJson('GET', '/health', { timeoutMs: 1000 });
      if (h.status === 200 && alive(child)) {
        markReady(inst);
        inst.health = h.body;
        return true;
      }
      await sleep(20);
    }
    return false;
  })();
  return inst;
}

/** The instance serves: /health answered 200, or a write was acknowledged (whichever this drill saw first). */
function markReady(inst) {
  if (inst.ready) return;
  inst.ready = true;
  inst.readyAt = now();
}

/** What the instance has written to instance.log since it was spawned. */
function instanceOutput(inst) {
  const fd = openSync(INSTANCE_LOG, 'r');
  try {
    const size = fstatSync(fd).size;
    const from = inst.logOffset + Buffer.byteLength(inst.logSeen);
    if (size > from) {
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      inst.logSeen += buf.toString();
    }
  } finally {
    closeSync(fd);
  }
  return inst.logSeen;
}

function tail(text, n = 8) {
  return text.split('\n').filter(Boolean).slice(-n).map((l) => `      | ${l}`).join('\n');
}

/** The startup backup's temp file of this instance (hub.db.bak.new.tmp-<pid>) exists. */
function startupSnapshotInProgress(pid) {
  for (const dir of listDirs(BACKUPS_ROOT)) {
    if (existsSync(join(dir, `hub.db.bak.new.tmp-${pid}`))) return true;
  }
  return false;
}

function listDirs(root) {
  try {
    return readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(root, d.name));
  } catch {
    return [];
  }
}

/** Every file under `root` (recursively), as paths. */
function walk(root) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(root, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Ingest: WRITERS concurrent writers over one keep-alive agent, one record per request, each on a fresh thread.

const acked = new Set();
const rejected = new Map(); // "status code" → count, for HTTP answers other than 201 (not connection errors)
let rejectedSamples = [];

function startIngest(cycle, inst) {
  const agent = new Agent({ keepAlive: true, maxSockets: WRITERS });
  const state = { stop: false, acked: 0 };
  const writer = async (w) => {
    const interval = RATE > 0 ? (WRITERS * 1000) / RATE : 0;
    let next = now() + Math.random() * interval; // spread the writers out (not from the seeded PRNG: timing only)
    for (let i = 0; !state.stop; i++) {
      if (interval && now() < next) await sleep(next - now());
      next = Math.max(next + interval, now());
      if (state.stop) break;
      const thread = 'th_' + (cycle.toString(16).padStart(6, '0') + w.toString(16).padStart(2, '0') + i.toString(16).padStart(10, '0')).padStart(64, '0');
      const body = JSON.stringify({ thread, actor: 'did:sync:user:alice', act: 'DO', body: { drill: 'crash', cycle, w, i, pad: 'x'.repeat(120) } });
      const r = await httpJson('POST', '/v1/records', { agent, body, timeoutMs: 15_000 });
      if (r.status === 201 && typeof r.body?.id === 'string') {
        acked.add(r.body.id);
        state.acked++;
        markReady(inst);
      } else {
        if (r.status !== 0) {
          const k = `${r.status} ${r.body?.code ?? ''}`.trim();
          rejected.set(k, (rejected.get(k) ?? 0) + 1);
          if (rejectedSamples.length < 5) rejectedSamples.push(`cycle ${cycle}: ${r.status} ${JSON.stringify(r.body)}`);
        }
        await sleep(15); // refused or reset (down, starting, just killed): try again shortly
      }
    }
  };
  const done = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  return {
    state,
    async stop() {
      state.stop = true;
      const ok = await withTimeout(done, 20_000);
      agent.destroy();
      return ok;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The store check, with the instance dead: opened read-only (so closing it does not checkpoint or delete the WAL
// the next start must recover from), integrity_check, every acknowledged id present.

function openReadOnly(path) {
  return new Promise((res, rej) => {
    const db = new sqlite3.Database(path, sqlite3.OPEN_READONLY, (err) => (err ? rej(err) : res(db)));
  });
}
const all = (db, sql) => new Promise((res, rej) => db.all(sql, (err, rows) => (err ? rej(err) : res(rows))));
const closeDb = (db) => new Promise((res) => db.close(() => res()));

async function checkStore() {
  let db;
  try {
    db = await openReadOnly(STORE);
  } catch (err) {
    return { integrity: `cannot open ${STORE}: ${err.message}`, missing: [...acked], stored: 0 };
  }
  try {
    db.configure('busyTimeout', 5000);
    const ic = await all(db, 'PRAGMA integrity_check');
    const integrity = ic.map((r) => Object.values(r)[0]).join('; ');
    const rows = await all(db, 'SELECT id FROM records');
    const stored = new Set(rows.map((r) => r.id));
    const missing = [];
    for (const id of acked) if (!stored.has(id)) missing.push(id);
    return { integrity, missing, stored: stored.size };
  } catch (err) {
    return { integrity: `check failed: ${err.message}`, missing: [], stored: 0, checkError: true };
  } finally {
    await closeDb(db);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Off-host backup: `spl backup create --dest $WORK/offhost`, output appended to backup.log.

const backups = { started: 0, completed: 0, failed: 0, killed: 0, failures: [] };

function startBackup(label) {
  const fd = openSync(BACKUP_LOG, 'a', 0o600);
  writeSync(fd, `\n----- ${label} -----\n`);
  const offset = fstatSync(fd).size;
  const child = track(spawn(process.execPath, [BIN, 'backup', 'create', '--dest', OFFHOST], { cwd: ROOT, env: process.env, stdio: ['ignore', fd, fd] }));
  closeSync(fd);
  backups.started++;
  return { child, pid: child.pid, startedAt: now(), offset, killedByUs: false };
}

function backupOutput(b) {
  const fd = openSync(BACKUP_LOG, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - b.offset));
    readSync(fd, buf, 0, buf.length, b.offset);
    return buf.toString();
  } finally {
    closeSync(fd);
  }
}

/** The finished store snapshots in the off-host directory (hub.db.<stamp>.bak). */
function offhostStoreBackups() {
  try {
    return readdirSync(OFFHOST).filter((n) => /^hub\.db\.\d{8}-\d{6}\.bak$/.test(n));
  } catch {
    return [];
  }
}

/** The backup's snapshot copy is being written (its hub.db.<stamp>.bak.tmp-<pid> exists). */
function backupCopying(b) {
  try {
    return readdirSync(OFFHOST).some((n) => n.endsWith(`.bak.tmp-${b.pid}`));
  } catch {
    return false;
  }
}

async function settleBackup(b, cycle) {
  const r = await waitExit(b.child, BACKUP_TIMEOUT_MS);
  if (!r) {
    sigkill(b.child);
    await waitExit(b.child, EXIT_TIMEOUT_MS);
    backups.failed++;
    backups.failures.push(`cycle ${cycle}: spl backup create (pid ${b.pid}) still running after ${BACKUP_TIMEOUT_MS / 1000}s; killed`);
    return 'hung, killed';
  }
  if (b.killedByUs) {
    backups.killed++;
    return 'killed';
  }
  if (r.code === 0) {
    backups.completed++;
    return 'completed';
  }
  backups.failed++;
  backups.failures.push(`cycle ${cycle}: spl backup create exited ${r.signal ?? r.code} after the instance was killed:\n${tail(backupOutput(b), 4)}`);
  return `failed (${r.signal ?? `exit ${r.code}`})`;
}

// ---------------------------------------------------------------------------------------------------------------
// One cycle.

const kinds = { 'start-up': 0, ingest: 0, backup: 0 };
const problems = [];
let integrityOk = 0;
let lost = 0;
let kills = 0;

// The first three cycles cover each kind once (in a seeded order), so even CRASH_KILLS=3 exercises all three.
const opening = ['start-up', 'ingest', 'backup'];
for (let i = opening.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [opening[i], opening[j]] = [opening[j], opening[i]];
}

async function cycle(n) {
  // A fixed number of draws per cycle, whatever happens, so the schedule replays from the seed.
  const u = Array.from({ length: 8 }, () => rand());
  const plan = n <= opening.length ? opening[n - 1] : u[0] < 0.3 ? 'start-up' : u[0] < 0.65 ? 'ingest' : 'backup';
  const inst = startInstance(`cycle ${n}: ${plan}`);
  const ingest = startIngest(n, inst);
  let backup;
  let detail = '';

  const exitedEarly = () => !alive(inst.child) && !inst.killedByUs;
  const ready = () => inst.ready;

  if (plan === 'start-up') {
    const variant = u[1] < 0.4 ? 'timer' : u[1] < 0.6 ? 'store-opened' : u[1] < 0.8 ? 'startup-backup' : 'rebuild';
    if (variant === 'timer') {
      const delay = between(u[2], 0, 800);
      detail = `${delay} ms after spawn`;
      await pollUntil(() => exitedEarly() || now() - inst.spawnedAt >= delay, delay + 1000, 2);
    } else {
      const trigger =
        variant === 'store-opened' ? () => instanceOutput(inst).includes('store opened, quick_check ok')
        : variant === 'startup-backup' ? () => startupSnapshotInProgress(inst.pid)
        : () => instanceOutput(inst).includes('startup backup written and verified');
      const seen = await pollUntil(() => trigger() || exitedEarly() || ready(), READY_TIMEOUT_MS, 2);
      const extra = variant === 'store-opened' ? between(u[2], 0, 40) : variant === 'startup-backup' ? between(u[2], 0, 20) : between(u[2], 0, 80);
      if (seen && trigger() && !ready()) await sleep(extra);
      detail = `${variant} +${extra} ms (${Math.round(now() - inst.spawnedAt)} ms after spawn)`;
    }
  } else {
    await pollUntil(() => ready() || exitedEarly(), READY_TIMEOUT_MS, 5);
    if (!exitedEarly() && !ready()) {
      problems.push(`cycle ${n}: the instance (pid ${inst.pid}) did not answer /health within ${READY_TIMEOUT_MS / 1000}s:\n${tail(instanceOutput(inst))}`);
    }
    if (plan === 'ingest') {
      const delay = between(u[1], 100, 1500);
      await pollUntil(() => exitedEarly() || now() - inst.readyAt >= delay, delay + 1000, 5);
      detail = `${Math.round(now() - inst.readyAt)} ms after ready`;
    } else {
      const warm = between(u[1], 100, 600);
      await pollUntil(() => exitedEarly() || now() - inst.readyAt >= warm, warm + 1000, 5);
      const setsBefore = offhostStoreBackups();
      backup = startBackup(`cycle ${n}: backup`);
      // Three moments: while the backup process starts and reads the store ahead (a fixed delay), while it writes
      // the snapshot copy (its temp file exists), after the copy is verified and in place (checksum, tarball, manifest).
      const variant = u[2] < 0.35 ? 'timer' : u[2] < 0.7 ? 'copying' : 'copied';
      const running = () => exitedEarly() || !alive(backup.child);
      if (variant === 'timer') {
        const delay = between(u[3], 50, 1500);
        await pollUntil(() => running() || now() - backup.startedAt >= delay, delay + 1000, 2);
        detail = `${delay} ms into the backup`;
      } else {
        const extra = between(u[3], 0, variant === 'copying' ? 60 : 40);
        const trigger = variant === 'copying' ? () => backupCopying(backup) : () => offhostStoreBackups().some((f) => !setsBefore.includes(f));
        await pollUntil(() => running() || trigger(), BACKUP_TIMEOUT_MS, 2);
        if (!running()) await sleep(extra);
        detail = `${variant} +${extra} ms (${Math.round(now() - backup.startedAt)} ms into the backup)`;
      }
    }
  }

  // The kill. What it interrupted is what was true at this moment, whatever was planned.
  if (exitedEarly()) {
    const r = { code: inst.child.exitCode, signal: inst.child.signalCode };
    problems.push(`cycle ${n}: the instance (pid ${inst.pid}) exited by itself (${r.signal ?? `exit ${r.code}`}) before the kill:\n${tail(instanceOutput(inst))}`);
  }
  const kind = !ready() ? 'start-up' : backup && alive(backup.child) ? 'backup' : 'ingest';
  const startupMs = ready() ? Math.round(inst.readyAt - inst.spawnedAt) : undefined;
  inst.killedByUs = sigkill(inst.child);
  const died = await waitExit(inst.child, EXIT_TIMEOUT_MS);
  if (!died) problems.push(`cycle ${n}: pid ${inst.pid} still alive ${EXIT_TIMEOUT_MS / 1000}s after SIGKILL`);
  if (inst.killedByUs) {
    kills++;
    kinds[kind]++;
  }
  let backupNote = '';
  if (backup) {
    if (u[4] < 0.4 && alive(backup.child)) {
      await sleep(between(u[5], 0, 400));
      backup.killedByUs = sigkill(backup.child);
      backupNote = backup.killedByUs ? ', backup SIGKILLed too' : '';
    }
    const outcome = await settleBackup(backup, n);
    if (!backup.killedByUs) backupNote = `, backup ${outcome}`;
  }
  if (!(await ingest.stop())) problems.push(`cycle ${n}: the writers did not stop within 20s`);
  await withTimeout(inst.readiness, 3000); // its /health poller ends with the process

  const checkStarted = now();
  const c = await checkStore();
  const checkMs = Math.round(now() - checkStarted);
  const ok = c.integrity === 'ok' && c.missing.length === 0;
  if (c.integrity === 'ok') integrityOk++;
  else problems.push(`cycle ${n}: PRAGMA integrity_check after the kill: ${c.integrity.slice(0, 500)}`);
  if (c.missing.length) {
    lost += c.missing.length;
    problems.push(`cycle ${n}: ${c.missing.length} acknowledged record(s) missing after the kill, e.g. ${c.missing.slice(0, 3).join(', ')}`);
  }
  const planned = plan === kind ? '' : ` [planned ${plan}]`;
  const timing = `${startupMs === undefined ? '' : `ready in ${startupMs} ms, `}check ${checkMs} ms`;
  console.log(`cycle ${String(n).padStart(3)}/${KILLS} killed during ${kind.padEnd(8)} (${detail}${backupNote})${planned}: ${acked.size} acked (+${ingest.state.acked}), store ${c.stored}; ${timing}${ok ? '' : '  <-- FAIL'}`);
  return ok && problems.length === 0;
}

// ---------------------------------------------------------------------------------------------------------------
// The end: a clean start, a clean backup, spl stop, no leftovers.

function runSpl(args, timeoutMs) {
  const child = track(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return waitExit(child, timeoutMs).then(async (r) => {
    if (!r) {
      sigkill(child);
      await waitExit(child, EXIT_TIMEOUT_MS);
      return { code: 'timeout', out };
    }
    return { code: r.signal ?? r.code, out };
  });
}

const results = [];
/** One check of the final phase: a one-line `result:` (crash.sh turns it into pass/fail), details indented below. */
function result(ok, text, details = '') {
  results.push({ ok, text });
  console.log(`result: ${ok ? 'ok' : 'FAIL'}: ${text}${details ? `\n${details}` : ''}`);
}

async function finalPhase() {
  console.log('final: clean start, clean backup, spl stop, leftovers');
  const inst = startInstance('final: clean start');
  const isReady = await inst.readiness;
  result(isReady, isReady ? `clean restart answers /health (${inst.health?.records} records)` : `clean restart did not answer /health within ${READY_TIMEOUT_MS / 1000}s`, isReady ? '' : tail(instanceOutput(inst)));
  if (!isReady) return;
  const records = inst.health?.records ?? -1;
  result(records >= acked.size, `/health records ${records} ≥ ${acked.size} acknowledged`);

  // A killed backup's temp file is the next backup's to clean up, so give the product that chance.
  const b = await runSpl(['backup', 'create', '--dest', OFFHOST], BACKUP_TIMEOUT_MS);
  result(b.code === 0, b.code === 0 ? 'a clean spl backup create after the crashes exits 0' : `spl backup create after the crashes: exit ${b.code}`, b.code === 0 ? '' : tail(b.out));

  const s = await runSpl(['stop', '--port', String(PORT)], 60_000);
  result(s.code === 0, s.code === 0 ? 'spl stop exits 0' : `spl stop --port ${PORT}: exit ${s.code}`, s.code === 0 ? '' : tail(s.out));
  const r = await waitExit(inst.child, 30_000);
  if (!r) sigkill(inst.child);
  result(r?.code === 0, r ? `the instance exited ${r.signal ?? r.code} after spl stop` : 'the instance was still running 30s after spl stop');

  const c = await checkStore();
  result(c.integrity === 'ok' && c.missing.length === 0, `after the clean stop: integrity_check ${c.integrity === 'ok' ? 'ok' : c.integrity.slice(0, 300)}, ${c.missing.length} of ${acked.size} acknowledged missing`);
  if (c.missing.length) lost = Math.max(lost, c.missing.length);

  const startupDirFiles = walk(BACKUPS_ROOT);
  const offhostFiles = walk(OFFHOST);
  const tempLeft = [...startupDirFiles, ...offhostFiles].filter((p) => /\.tmp-/.test(p.slice(p.lastIndexOf('/') + 1)) || /^hub\.db\.bak\.new/.test(p.slice(p.lastIndexOf('/') + 1)));
  result(
    tempLeft.length === 0,
    tempLeft.length === 0 ? `no *.tmp-* or hub.db.bak.new* under ${BACKUPS_ROOT} and ${OFFHOST}` : `${tempLeft.length} backup temp file(s) left behind: ${tempLeft.map((p) => p.slice(p.lastIndexOf('/') + 1)).join(', ')}`,
    tempLeft.map((p) => `      | ${p} (${sizeOf(p)} bytes)`).join('\n'),
  );
  const restoreLeft = walk(SPL_HOME).filter((p) => /\.restore-/.test(p.slice(p.lastIndexOf('/') + 1)));
  result(restoreLeft.length === 0, restoreLeft.length === 0 ? `no *.restore-* in ${SPL_HOME}` : `restore temp file(s) left: ${restoreLeft.join(', ')}`);
  for (const f of ['run/spl.pid', 'run/spl.sock']) {
    const p = join(SPL_HOME, f);
    result(!existsSync(p), existsSync(p) ? `${p} is still there after spl stop` : `${f} removed`);
  }

  // Not part of the pass/fail: off-host sets that a killed backup left incomplete (no manifest beside them).
  const stamps = new Map();
  for (const p of offhostFiles) {
    const m = /^(?:hub\.db\.|syncro-data\.|manifest\.)(\d{8}-\d{6})\.(bak|tar\.gz|json)$/.exec(p.slice(p.lastIndexOf('/') + 1));
    if (m) stamps.set(m[1], [...(stamps.get(m[1]) ?? []), m[2]]);
  }
  const incomplete = [...stamps].filter(([, kinds]) => !kinds.includes('json'));
  if (incomplete.length) {
    console.log(`note: ${incomplete.length} off-host set(s) without a manifest (left by killed backups): ${incomplete.map(([s, k]) => `${s} [${k.join(', ')}]`).join('; ')}`);
  }
}

function sizeOf(p) {
  try {
    return statSync(p).size;
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const started = now();
  console.log(`crash drill: seed ${SEED} (replay: CRASH_SEED=${SEED} CRASH_KILLS=${KILLS} bash drills/crash.sh), ${KILLS} cycles, ${WRITERS} writers, port ${PORT}`);
  console.log(`  instance output: ${INSTANCE_LOG}; backup output: ${BACKUP_LOG}`);
  const init = await runSpl(['init'], 60_000);
  if (init.code !== 0) {
    console.log(`result: FAIL: spl init: exit ${init.code}\n${tail(init.out)}`);
    return 1;
  }

  let stoppedEarly = false;
  for (let n = 1; n <= KILLS; n++) {
    const ok = await cycle(n);
    if (!ok) {
      console.log(`stopping after cycle ${n} (seed ${SEED}):`);
      for (const p of problems) console.log(`  ${p}`);
      stoppedEarly = true;
      break;
    }
  }
  result(problems.length === 0, problems.length === 0 ? `${kills} kills, every one followed by integrity_check ok and no acknowledged record missing` : `${problems.length} problem(s) in the kill cycles (seed ${SEED}): ${problems[0]?.split('\n')[0]}`);
  if (!stoppedEarly) await finalPhase();

  const rej = [...rejected].map(([k, v]) => `${v}× ${k}`).join(', ');
  console.log(`ingest: ${acked.size} acknowledged; other HTTP answers: ${rej || 'none'}${rejectedSamples.length ? `\n  ${rejectedSamples.join('\n  ')}` : ''}`);
  console.log(`backups during kills: ${backups.started} started, ${backups.completed} completed, ${backups.killed} SIGKILLed by the drill, ${backups.failed} failed${backups.failures.length ? `\n  ${backups.failures.join('\n  ')}` : ''}`);
  console.log(`runtime ${((now() - started) / 1000).toFixed(1)}s, seed ${SEED}`);
  console.log(`crash drill: ${kills} kills (${kinds['start-up']} during start-up, ${kinds.ingest} during ingest, ${kinds.backup} during a backup), ${acked.size} records acknowledged, ${lost} lost, integrity_check ok ${integrityOk}/${kills}`);
  const failed = problems.length > 0 || lost > 0 || integrityOk !== kills || kills !== KILLS || results.some((r) => !r.ok);
  return failed ? 1 : 0;
}

main()
  .then((code) => {
    killAllChildren();
    process.exit(code);
  })
  .catch((err) => {
    console.log(`result: FAIL: the drill itself failed: ${err?.stack ?? err}`);
    killAllChildren();
    process.exit(1);
  });
