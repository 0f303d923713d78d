// The raw node-sqlite3 writer the store-side benchmarks measure against: the records table with the very same
// DDL and indexes (lib/store/schema.ts), WAL + synchronous=FULL, rows stored by one prepared multi-VALUES
// INSERT per group in autocommit. Shared by batch-ingest (its baseline) and http-ingest (the writer's ceiling
// at the group sizes that load can form).

import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import sqlite3 from 'sqlite3';
import { RECORDS_DDL } from '../../dist/store/schema.js';

export const INSERT_SQL = 'INSERT INTO records (sequence, id, thread, actor, act, clock, data_type, parents, body, judged_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)';

export function rawOpen(path) {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(path, sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE | sqlite3.OPEN_FULLMUTEX, (err) => {
      if (err) return reject(err);
      db.configure('busyTimeout', 5000);
      resolve(db);
    });
  });
}
export const rawExec = (db, sql) => new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
const rawGet = (db, sql) => new Promise((resolve, reject) => db.get(sql, (err, row) => (err ? reject(err) : resolve(row))));
export const rawAll = (db, sql) => new Promise((resolve, reject) => db.all(sql, (err, rows) => (err ? reject(err) : resolve(rows))));

/** A fresh raw store: WAL, synchronous=FULL, the records schema, then any `pragmas` (SQL run after). */
export async function rawSetup(path, pragmas = '') {
  const db = await rawOpen(path);
  await rawGet(db, 'PRAGMA journal_mode = WAL');
  await rawExec(db, 'PRAGMA synchronous = FULL');
  await rawExec(db, RECORDS_DDL);
  if (pragmas) await rawExec(db, pragmas);
  const stmt = await new Promise((resolve, reject) => {
    const s = db.prepare(INSERT_SQL, (err) => (err ? reject(err) : resolve(s)));
  });
  return { db, stmt };
}

/**
 * The best raw way: the whole group as one multi-VALUES INSERT (up to 2,978 rows × 11 columns fit SQLite's
 * 32,766 parameters), prepared once per group size and kept, run in autocommit (one statement = one transaction).
 */
export async function rawMultiBatch(side, rows) {
  side.multi ??= new Map();
  let stmt = side.multi.get(rows.length);
  if (!stmt) {
    const sql = INSERT_SQL.replace(/VALUES .*$/, 'VALUES ' + rows.map(() => '(?,?,?,?,?,?,?,?,?,?,?)').join(','));
    stmt = await new Promise((resolve, reject) => {
      const st = side.db.prepare(sql, (err) => (err ? reject(err) : resolve(st)));
    });
    side.multi.set(rows.length, stmt);
  }
  await new Promise((resolve, reject) => stmt.run(rows.flat(), (err) => (err ? reject(err) : resolve())));
}

export async function rawClose({ db, stmt, multi }) {
  await new Promise((resolve) => stmt.finalize(resolve));
  for (const m of multi?.values() ?? []) await new Promise((resolve) => m.finalize(resolve));
  await new Promise((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
}

/**
 * The raw writer's ceiling for `groupSize`-row commits: `seconds` of back-to-back multi-row INSERTs into a
 * fresh store at `path`, with nothing else in the process but what the instance also runs beside its writer
 * (its cache_size, SQLite's autocheckpoint off and PASSIVE checkpoints from a second connection, one at a time
 * and 100 ms apart). Rows are shaped like `rowFor(n)` (sequence, id and clock are filled in here) and the next group's
 * parameters are built while the current INSERT runs, so the figure is SQLite's pace. Returns rows/s.
 */
export async function writerCeiling(path, { groupSize, seconds, rowFor }) {
  const side = await rawSetup(path, 'PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0');
  const checkpointer = await rawOpen(path);
  const clocks = new Map();
  let n = 0;
  const group = () => {
    const rows = [];
    for (let i = 0; i < groupSize; i++) {
      const r = rowFor(n++);
      const key = `${r.thread}\u0000${r.actor}`;
      const clock = (clocks.get(key) ?? 0) + 1;
      clocks.set(key, clock);
      const body = JSON.stringify(r.body);
      const id = createHash('sha256').update(`${r.thread}\n${r.actor}\n${clock}\n${body}`).digest('hex');
      rows.push([n, id, r.thread, r.actor, r.act, clock, 'record', '[]', body, null, Date.now()]);
    }
    return rows;
  };
  let stop = false;
  // Resolves to the error that stopped the checkpoints, if one did: the figure is then not the instance's setup.
  const checkpoints = (async () => {
    while (!stop) {
      await rawExec(checkpointer, 'PRAGMA wal_checkpoint(PASSIVE)');
      await new Promise((r) => setTimeout(r, 100));
    }
  })().then(() => undefined, (err) => err);
  try {
    let stored = 0;
    let rows = group();
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const inFlight = rawMultiBatch(side, rows);
      rows = group();
      await inFlight;
      stored += groupSize;
    }
    return stored / ((performance.now() - t0) / 1000);
  } finally {
    stop = true;
    const failed = await checkpoints;
    await new Promise((resolve) => checkpointer.close(resolve));
    await rawClose(side);
    for (const f of ['', '-wal', '-shm']) rmSync(path + f, { force: true });
    if (failed) throw new Error(`the raw writer's background checkpoint failed: ${failed.message}`);
  }
}
