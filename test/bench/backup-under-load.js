// backup-under-load: a store of 1,000,000 records takes `spl backup create` while 32 keep-alive clients keep
// posting single records. Ratio = ingest rate while the backup runs ÷ ingest rate in the equally long window
// just before it or just after it, whichever is faster (same instance, same clients, same run); target ≥ 0.8. Also reports the backup duration.

import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sqlite3 from 'sqlite3';
import { fmt, makeHome, runSpl, sleep } from './lib.js';

export const TARGET = 0.8;
const RECORDS = Number(process.env.SPL_BENCH_BACKUP_RECORDS ?? 1_000_000);

/** Fills the store with `n` records straight through SQL (the shape of real rows; ids are random hex). */
function fill(path, n) {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(path);
    db.exec(
      `PRAGMA journal_mode = WAL;
       WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n})
       INSERT INTO records (sequence, id, thread, actor, act, clock, data_type, parents, body, judged_by, created_at)
       SELECT x, lower(hex(randomblob(32))), 'th_' || printf('%064x', x % 5000), 'did:sync:user:filler', 'DO', x / 5000, 'SCALAR', '[]',
              '{"kind":"bench.backup.filler","n":' || x || ',"text":"' || hex(randomblob(24)) || '"}', NULL, 1790000000000 + x
       FROM c;
       PRAGMA wal_checkpoint(TRUNCATE);`,
      (err) => db.close(() => (err ? reject(err) : resolve())),
    );
  });
}

function post(agent, port, body) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/records', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

export async function backupUnderLoad(opts = {}) {
  const o = { connections: 32, log: console.log, ...opts };
  const h = await makeHome('spl-bench-backup-');
  const problems = [];
  try {
    const ok = async (args, timeoutMs) => {
      const r = await runSpl(args, h.env, timeoutMs);
      if (r.code !== 0) throw new Error(`spl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
      return r;
    };
    await ok(['init']);
    let t = Date.now();
    await fill(join(h.home, 'hub.db'), RECORDS);
    o.log(`backup-under-load: filled a store with ${fmt(RECORDS)} records in ${((Date.now() - t) / 1000).toFixed(1)}s`);
    t = Date.now();
    await ok(['serve', '--port', String(h.port), '--insecure-localhost'], 300_000);
    o.log(`  instance up in ${((Date.now() - t) / 1000).toFixed(1)}s (quick_check, startup backup, fold rebuild)`);

    const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
    const done = []; // completion timestamps of 2xx responses
    let running = true;
    let n = 0;
    let failures = 0;
    const worker = async (w) => {
      while (running) {
        const i = n++;
        const status = await post(agent, h.port, `{"thread":"th_${(w + 1).toString(16).padStart(64, 'f')}","actor":"did:sync:user:bench","act":"DO","body":{"n":${i}}}`);
        if (status >= 200 && status < 300) done.push(performance.now());
        else failures++;
      }
    };
    const ingestStart = performance.now();
    const workers = Array.from({ length: o.connections }, (_, w) => worker(w));
    await sleep(10_000); // warm-up (a fresh instance on a big store starts with a cold page cache)
    const backupStart = performance.now();
    const backup = await ok(['backup', 'create', '--dest', join(h.dir, 'offhost'), '-o', 'json'], 600_000);
    const backupEnd = performance.now();
    const span = backupEnd - backupStart;
    await sleep(Math.min(span, 15_000));
    running = false;
    await Promise.all(workers);
    agent.destroy();

    const count = (from, to) => done.filter((x) => x >= from && x < to).length;
    // Baseline right before the backup: as long as the backup took, but never reaching back into the first
    // two seconds of ingest (connections opening, code not yet optimised).
    const beforeFrom = Math.max(backupStart - span, ingestStart + 2000);
    const baseRate = count(beforeFrom, backupStart) / ((backupStart - beforeFrom) / 1000);
    const afterWin = Math.min(span, 15_000);
    const afterRate = count(backupEnd, backupEnd + afterWin) / (afterWin / 1000);
    const during = count(backupStart, backupEnd) / (span / 1000);
    // Conservative: the better of the two windows without a backup is the baseline.
    const baseline = Math.max(baseRate, afterRate);
    const set = JSON.parse(backup.stdout);
    if (set.store.records < RECORDS) problems.push(`the backup holds ${set.store.records} records, fewer than the ${RECORDS} filled`);
    if (failures > 0) problems.push(`${failures} ingest requests failed`);
    o.log(`  backup of ${fmt(set.store.records)} records (${(set.store.bytes / 1048576).toFixed(0)} MiB) took ${(span / 1000).toFixed(1)}s`);
    o.log(`  ingest: ${fmt(baseRate)} req/s before, ${fmt(during)} req/s during, ${fmt(afterRate)} req/s after the backup`);
    const ratio = during / baseline;
    o.log(`  during ÷ without (the better of before and after) = ${ratio.toFixed(3)} (target ≥ ${TARGET})`);
    await ok(['stop'], 120_000);
    return { name: 'backup-under-load', measure: 'ingest during backup ÷ without', a: during, b: baseline, unit: 'req/s', ratio, target: TARGET, problems, extra: { backup_seconds: span / 1000 } };
  } finally {
    await runSpl(['stop'], h.env).catch(() => undefined);
    h.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await backupUnderLoad();
  process.exitCode = r.ratio >= r.target && r.problems.length === 0 ? 0 : 1;
}
