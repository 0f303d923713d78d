// RecordLog: the one writer path into the store. Appends are group-committed: every append waiting while a
// transaction is in flight joins the next one, so concurrent writers share one COMMIT (and one fsync), and
// each promise resolves only after its COMMIT returned.

import { dirname } from 'node:path';
import { SplError } from '../kernel/errors.js';
import { sealRecord } from '../kernel/id.js';
import type { RecordDraft, SplRecord, StoredRecord } from '../kernel/record.js';
import { Database, isDiskFull } from './database.js';
import { openStore, type OpenStoreOptions } from './open.js';
import type { ThreadSummary } from '../kernel/wire.js';
import { highestSequence, RECORD_COLUMNS, rowToRecord, scanPaged, scanWhere, threadCount, type RecordRow, type ThreadCount } from './rows.js';
import { getMeta, setMeta } from './schema.js';
import { WalCheckpointer, type WalCheckpointOptions } from './wal-checkpoint.js';

interface AppendOutcome {
  record: StoredRecord;
  /** false for an idempotent repeat of a record already stored. */
  created: boolean;
}

interface Pending {
  drafts: Array<RecordDraft & { id?: string }>;
  resolve: (outcomes: AppendOutcome[]) => void;
  reject: (err: unknown) => void;
}

const COLUMNS = RECORD_COLUMNS;
const ROW_PLACEHOLDER = '(?,?,?,?,?,?,?,?,?,?,?)';
/** SQLite binds at most 32,766 parameters per statement; a row takes 11. */
const ROWS_PER_INSERT = Math.floor(32766 / 11);

/** The INSERT of `n` rows (one statement per group size, prepared once by the writer and kept). */
const insertSqls = new Map<number, string>();
function insertSql(n: number): string {
  let sql = insertSqls.get(n);
  if (sql === undefined) {
    sql = `INSERT INTO records (${COLUMNS}) VALUES ${Array.from({ length: n }, () => ROW_PLACEHOLDER).join(',')}`;
    if (insertSqls.size < 256) insertSqls.set(n, sql);
  }
  return sql;
}

interface RecordLogOptions extends OpenStoreOptions {
  now?: () => number;
  /** Threads counted beforehand (by default, beside an early quick_check): used if the last sequence still matches. */
  counted?: Promise<ThreadCount | undefined>;
  /** (thread, actor) heads kept in memory (default 50,000); the rest are read from the store when needed. */
  headsCached?: number;
  /** The background WAL checkpoint's thresholds, and where a failed run is reported. */
  walCheckpoint?: WalCheckpointOptions;
}

/**
 * Threads holding records, with the last sequence they were counted at (read on a read-only connection of its
 * own); undefined when they could not be read (no records table yet, or a store the open will
 * refuse), and the open counts them itself.
 */
async function countThreads(path: string): Promise<ThreadCount | undefined> {
  let db: Database | undefined;
  try {
    db = await Database.open(path, { readonly: true, mustExist: true });
    return await threadCount(db);
  } catch {
    return undefined;
  } finally {
    await db?.close().catch(() => undefined);
  }
}

export class RecordLog {
  /**
   * Highest clock per (thread, actor), keyed `thread\0actor`, for the pairs written lately (NO_HEAD: none yet):
   * a cache of the store, which holds every head. A group's missing pairs are read in one query before it is
   * sealed, so memory follows the working set, not the number of threads ever written.
   */
  private readonly heads = new Map<string, number>();
  /** Threads known to hold records, the ones written or read lately (a bounded cache of the store). */
  private readonly knownThreads = new Map<string, true>();
  private threadTotal = 0;
  private nextSequence = 1;
  private queue: Pending[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly listeners: Array<{ listener: (records: StoredRecord[]) => void; onError: (err: unknown, records: StoredRecord[]) => void }> = [];

  private constructor(
    readonly path: string,
    private readonly writer: Database,
    private readonly reader: Database,
    private readonly checkpointer: WalCheckpointer,
    private readonly now: () => number,
    private readonly headsCached: number = HEADS_CACHED,
  ) {}

  static async open(path: string, opts: RecordLogOptions = {}): Promise<RecordLog> {
    // While an early quick_check is still running, the thread count (a walk of the thread index: ~0.1 s at 1M
    // records) is read beside it on another connection rather than after it.
    const counted = opts.counted ?? (opts.checked ? countThreads(path) : undefined);
    let writer: Database;
    try {
      writer = await openStore(path, opts);
    } catch (err) {
      await counted;
      throw err;
    }
    let reader: Database | undefined;
    let copier: Database;
    try {
      // Commits never checkpoint: the checkpointer's own connection does (wal-checkpoint.ts).
      await writer.exec('PRAGMA wal_autocheckpoint = 0');
      reader = await Database.open(path, { mustExist: true });
      copier = await Database.open(path, { mustExist: true });
    } catch (err) {
      await counted;
      await reader?.close();
      await writer.close();
      throw err;
    }
    const checkpointer = new WalCheckpointer(copier, writer, opts.walCheckpoint);
    const log = new RecordLog(path, writer, reader, checkpointer, opts.now ?? Date.now, opts.headsCached);
    try {
      await log.loadHeads(await counted);
    } catch (err) {
      await log.close().catch(() => undefined);
      throw err;
    }
    return log;
  }

  /** The next sequence, and the thread count: `counted` stands when it was read with the same last sequence. */
  private async loadHeads(counted?: ThreadCount): Promise<void> {
    const last = await highestSequence(this.reader);
    this.nextSequence = last + 1;
    // Records are only ever added, each with the next sequence: the same last sequence means the same records.
    this.threadTotal = counted !== undefined && counted.last === last ? counted.threads : (await threadCount(this.reader)).threads;
  }

  /** Threads holding at least one record. */
  get threadCount(): number {
    return this.threadTotal;
  }

  /** Whether any record is on `thread`. */
  async threadExists(thread: string): Promise<boolean> {
    if (this.knownThreads.has(thread)) return true;
    const row = await this.reader.get<{ found: number }>('SELECT EXISTS (SELECT 1 FROM records WHERE thread = ?) AS found', [thread]);
    return row?.found === 1;
  }

  /** Every record on `thread`, in store order, a page at a time. */
  scanThread(thread: string, onRecord: (r: StoredRecord) => void): Promise<number> {
    return scanWhere(this.reader, { thread }, onRecord);
  }

  /**
   * Threads, most recently written first: the newest records are walked back until `offset + limit` distinct
   * threads are found, then each is summed up from the (thread, sequence) index.
   */
  async recentThreads(limit: number, offset = 0): Promise<ThreadSummary[]> {
    const order: string[] = [];
    const seen = new Set<string>();
    let before = this.nextSequence;
    while (order.length < offset + limit) {
      const rows = await this.reader.all<{ thread: string; sequence: number }>('SELECT thread, sequence FROM records WHERE sequence < ? ORDER BY sequence DESC LIMIT ?', [before, RECENT_PAGE]);
      for (const r of rows) {
        if (seen.has(r.thread)) continue;
        seen.add(r.thread);
        order.push(r.thread);
        if (order.length === offset + limit) break;
      }
      if (rows.length < RECENT_PAGE) break;
      before = rows[rows.length - 1]!.sequence;
    }
    return Promise.all(order.slice(offset).map((thread) => this.threadSummary(thread)));
  }

  private async threadSummary(thread: string): Promise<ThreadSummary> {
    const row = await this.reader.get<{ records: number; first: number; last: number }>('SELECT count(*) AS records, min(sequence) AS first, max(sequence) AS last FROM records WHERE thread = ?', [thread]);
    const at = await this.reader.get<{ created_at: number }>('SELECT created_at FROM records WHERE sequence = ?', [row!.last]);
    return { thread, records: row!.records, first_sequence: row!.first, last_sequence: row!.last, last_written_at: new Date(at!.created_at).toISOString() };
  }

  /** (thread, actor) heads held in memory now. */
  get cachedHeads(): number {
    return this.heads.size;
  }

  /** Records committed so far. Sequences are dense, so this is the last sequence. */
  get recordCount(): number {
    return this.nextSequence - 1;
  }

  /**
   * Called with each committed group, in commit order, after COMMIT and before the appends resolve. A listener
   * that throws is handed to `onError`: the records are committed, so the appends resolve regardless.
   */
  onCommit(listener: (records: StoredRecord[]) => void, onError: (err: unknown, records: StoredRecord[]) => void = reportListenerError): void {
    this.listeners.push({ listener, onError });
  }

  /**
   * Appends one request's records atomically: either all are stored (or were already stored) or the
   * promise rejects with the first record's error and nothing from this call is stored.
   */
  append(drafts: Array<RecordDraft & { id?: string }>): Promise<AppendOutcome[]> {
    if (this.closed) return Promise.reject(new SplError('UNAVAILABLE', 'the store is closing; retry once the instance is back'));
    return new Promise((resolve, reject) => {
      this.queue.push({ drafts, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Starts a drain unless one is scheduled or running. A drain that ends re-checks the queue after clearing
   * `flushing`, so an append that arrived between its last look at the queue and its end is never stranded.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing !== null) return;
    this.flushScheduled = true;
    // setImmediate lets every request parsed in this turn of the event loop join the same transaction.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.drain().finally(() => {
        this.flushing = null;
        if (this.queue.length > 0) this.scheduleFlush();
      });
    });
  }

  /**
   * Commits the queue a group at a time. A group's appends resolve once the next group's INSERT is on its way to
   * SQLite's thread (or the queue is empty): answering a group costs the main thread as much as sealing one, so
   * the two overlap instead of the writer waiting idle while the replies go out.
   */
  private async drain(): Promise<void> {
    let settle: (() => void) | undefined;
    const settlePrevious = (): void => {
      const s = settle;
      settle = undefined;
      s?.();
    };
    try {
      while (this.queue.length > 0) {
        if (this.checkpointer.due) {
          settlePrevious();
          await this.checkpointer.catchUp();
        }
        const group = this.queue;
        this.queue = [];
        const sealed = await this.sealGroup(group, settlePrevious);
        const written = sealed && this.writeGroup(sealed);
        settlePrevious();
        if (written) settle = await written;
      }
    } finally {
      settlePrevious();
    }
  }

  /**
   * The heads of every (thread, actor) pair in the group: from the cache, and the rest from the store, a few
   * hundred per query. Kept for the group itself, so the cache's evictions cannot lose one mid-group.
   */
  private async headsOf(group: Pending[], beforeRead: () => void): Promise<{ known: Map<string, number>; newThreads: Set<string> }> {
    const known = new Map<string, number>();
    const ask = new Map<string, [string, string]>();
    for (const p of group) {
      for (const d of p.drafts) {
        if (typeof d.thread !== 'string' || typeof d.actor !== 'string') continue;
        const key = headKey(d.thread, d.actor);
        const cached = this.heads.get(key);
        if (cached !== undefined) known.set(key, cached);
        // Not cached, or cached as none on a thread not known to exist: the store says both at once.
        if (cached === undefined || (cached === NO_HEAD && !this.knownThreads.has(d.thread))) ask.set(key, [d.thread, d.actor]);
        else if (cached !== NO_HEAD) this.rememberThread(d.thread);
      }
    }
    const newThreads = new Set<string>();
    const pairs = [...ask];
    if (pairs.length > 0) beforeRead();
    for (let i = 0; i < pairs.length; i += HEADS_PER_QUERY) {
      const chunk = pairs.slice(i, i + HEADS_PER_QUERY);
      // One statement per chunk: each pair's head and whether its thread holds any record, both index seeks.
      const sql = `WITH q(t, a) AS (VALUES ${chunk.map(() => '(?, ?)').join(', ')}) SELECT q.t AS thread, q.a AS actor, (SELECT max(clock) FROM records WHERE thread = q.t AND actor = q.a) AS clock, EXISTS (SELECT 1 FROM records WHERE thread = q.t) AS found FROM q`;
      const rows = await this.reader.all<{ thread: string; actor: string; clock: number | null; found: number }>(sql, chunk.flatMap(([, pair]) => pair));
      if (rows.length !== chunk.length) throw new Error(`the store answered ${rows.length} heads for ${chunk.length} (thread, actor) pairs`);
      for (const row of rows) {
        known.set(headKey(row.thread, row.actor), row.clock ?? NO_HEAD);
        if (row.found === 1) this.rememberThread(row.thread);
        else newThreads.add(row.thread);
      }
    }
    for (const t of newThreads) if (this.knownThreads.has(t)) newThreads.delete(t); // another pair showed it exists
    return { known, newThreads };
  }

  private rememberThread(thread: string): void {
    this.knownThreads.delete(thread);
    this.knownThreads.set(thread, true);
    if (this.knownThreads.size > this.headsCached) {
      for (const k of this.knownThreads.keys()) {
        this.knownThreads.delete(k);
        if (this.knownThreads.size <= this.headsCached * 0.9) break;
      }
    }
  }

  private cacheHead(key: string, clock: number): void {
    this.heads.delete(key); // re-inserted last: the Map's order is the order of last write
    this.heads.set(key, clock);
    if (this.heads.size > this.headsCached) {
      for (const k of this.heads.keys()) {
        this.heads.delete(k);
        if (this.heads.size <= this.headsCached * 0.9) break;
      }
    }
  }

  /**
   * Heads and seals for a group: each append that fails is rejected on its own, the rest are numbered. Calls
   * `beforeRead` before waiting on the store, so an earlier group's replies never wait on this one's reads.
   */
  private async sealGroup(group: Pending[], beforeRead: () => void): Promise<SealedGroup | undefined> {
    let heads: { known: Map<string, number>; newThreads: Set<string> };
    try {
      heads = await this.headsOf(group, beforeRead);
    } catch (err) {
      for (const p of group) p.reject(this.commitFailure(err));
      return undefined;
    }
    const tx: GroupDraft = { heads: new Map(), inFlight: new Map(), known: heads.known };
    const accepted: SealedGroup['accepted'] = [];
    for (const p of group) {
      try {
        accepted.push({ p, outcomes: await this.sealAll(p.drafts, tx, beforeRead) });
      } catch (err) {
        p.reject(err); // this append only: the others in the group go on
      }
    }
    const createdAt = this.now();
    return { ...numberRows(accepted, this.nextSequence, new Date(createdAt).toISOString()), accepted, tx, newThreads: heads.newThreads, createdAt };
  }

  /**
   * Starts the group's INSERT at once (the statement is handed to SQLite's thread before this returns) and
   * resolves, after COMMIT, to what answers the group: the listeners are told, then each append resolves. On a
   * failed commit every append of the group is rejected and it resolves to undefined.
   */
  private async writeGroup(g: SealedGroup): Promise<(() => void) | undefined> {
    if (g.rows.length > 0) {
      try {
        await this.insert(g.rows, g.createdAt);
      } catch (err) {
        const failure = this.commitFailure(err);
        for (const a of g.accepted) a.p.reject(failure);
        return undefined;
      }
      this.nextSequence = g.next;
      this.checkpointer.committed();
      for (const [k, v] of g.tx.known) if (!g.tx.heads.has(k)) this.cacheHead(k, v);
      for (const r of g.rows) {
        if (g.newThreads.delete(r.thread)) this.threadTotal++;
        this.rememberThread(r.thread);
      }
      for (const [k, v] of g.tx.heads) this.cacheHead(k, v);
    }
    return () => {
      if (g.rows.length > 0) this.notify(g.rows);
      for (const a of g.accepted) {
        a.p.resolve(a.outcomes.map((o) => ({ record: o.existing ?? g.byId.get(o.record.id) ?? (o.record as StoredRecord), created: o.created })));
      }
    };
  }

  /**
   * Seals one append's drafts against the heads so far. They join the transaction only when every one of them
   * passes, so a refused batch leaves no clock or id behind for the appends after it.
   */
  private async sealAll(drafts: Pending['drafts'], tx: GroupDraft, beforeRead: () => void): Promise<Outcome[]> {
    const own: GroupDraft = { heads: new Map(), inFlight: new Map(), known: tx.known };
    const outcomes: Outcome[] = [];
    for (let i = 0; i < drafts.length; i++) {
      const d = drafts[i]!;
      const where = drafts.length > 1 ? `records[${i}].` : '';
      const key = headKey(d.thread, d.actor);
      const stored = tx.known.get(key);
      const head = own.heads.get(key) ?? tx.heads.get(key) ?? (stored === NO_HEAD ? undefined : stored);
      if (d.clock === undefined || head === undefined || d.clock > head) outcomes.push(sealNext(d, head, where, own));
      else {
        beforeRead();
        outcomes.push(await this.sealRepeat(d, d.clock, head, where, own, tx));
      }
    }
    for (const [k, v] of own.heads) tx.heads.set(k, v);
    for (const [k, v] of own.inFlight) tx.inFlight.set(k, v);
    return outcomes;
  }

  /** A draft at or below its actor's head: the same record again (stored or in flight), or a refusal. */
  private async sealRepeat(d: RecordDraft, clock: number, head: number, where: string, own: GroupDraft, tx: GroupDraft): Promise<Outcome> {
    const rec = sealRecord(d, clock, where);
    const repeat = own.inFlight.get(rec.id) ?? tx.inFlight.get(rec.id);
    if (repeat) return { record: repeat, created: false };
    const existing = await this.get(rec.id);
    if (existing) return { record: existing, created: false, existing };
    const holder = await this.holderOfClock(d.thread, d.actor, clock, own.inFlight, tx.inFlight);
    const fix = `omit clock to take the next one (${head + 1})`;
    if (holder !== undefined) {
      throw new SplError('CLOCK_CONFLICT', `${where}clock: ${d.actor} already wrote record ${holder} at clock ${clock} on ${d.thread}; a different record cannot reuse that clock`, { field: where + 'clock', fix });
    }
    throw new SplError('CLOCK_REGRESSION', `${where}clock: ${clock} is lower than ${head}, the highest clock ${d.actor} has used on ${d.thread}`, { field: where + 'clock', fix });
  }

  private commitFailure(err: unknown): SplError {
    return isDiskFull(err, this.path)
      ? new SplError('STORAGE_FULL', `the disk holding ${this.path} is full; nothing from this request was stored`, { cause: err, field: 'store', fix: `free space on it (df -h ${dirname(this.path)}), then retry: ingest resumes by itself` })
      : new SplError('STORE_FAILED', `the store could not commit: ${(err as Error).message}; nothing from this request was stored`, { cause: err });
  }

  /** Tells the listeners (fold host, reactors) about committed rows; one that throws cannot strand the appends. */
  private notify(rows: StoredRecord[]): void {
    for (const l of this.listeners) {
      try {
        l.listener(rows);
      } catch (err) {
        try {
          l.onError(err, rows);
        } catch {
          // the report itself failed; the appends still resolve
        }
      }
    }
  }

  /**
   * Writes one group. A group that fits in one statement is one INSERT in autocommit mode: atomic and durable
   * on its own, and a single trip to SQLite's worker thread instead of three (BEGIN, INSERT, COMMIT).
   */
  private async insert(rows: StoredRecord[], createdAt: number): Promise<void> {
    if (rows.length <= ROWS_PER_INSERT) {
      await this.insertRows(rows, createdAt);
      return;
    }
    await this.writer.exec('BEGIN IMMEDIATE');
    try {
      for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
        await this.insertRows(rows.slice(start, start + ROWS_PER_INSERT), createdAt);
      }
      await this.writer.exec('COMMIT');
    } catch (err) {
      await this.writer.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async insertRows(chunk: StoredRecord[], createdAt: number): Promise<void> {
    const params: unknown[] = [];
    for (const r of chunk) {
      params.push(r.sequence, r.id, r.thread, r.actor, r.act, r.clock, r.data_type, JSON.stringify(r.parents), JSON.stringify(r.body), r.judged_by, createdAt);
    }
    await this.writer.runPrepared(insertSql(chunk.length), params);
  }

  private async holderOfClock(thread: string, actor: string, clock: number, ...pending: Array<Map<string, SplRecord>>): Promise<string | undefined> {
    for (const m of pending) {
      for (const r of m.values()) if (r.thread === thread && r.actor === actor && r.clock === clock) return r.id;
    }
    const row = await this.reader.get<{ id: string }>(`SELECT id FROM records WHERE thread = ? AND actor = ? AND clock = ?`, [thread, actor, clock]);
    return row?.id;
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const row = await this.reader.get<RecordRow>(`SELECT ${COLUMNS} FROM records WHERE id = ?`, [id]);
    return row ? rowToRecord(row) : undefined;
  }

  /** The id of the record at `sequence`, if the store holds one there. */
  async idAt(sequence: number): Promise<string | undefined> {
    const row = await this.reader.get<{ id: string }>(`SELECT id FROM records WHERE sequence = ?`, [sequence]);
    return row?.id;
  }

  /** Rows in sequence order after `afterSequence`, matching simple envelope filters. */
  async list(filter: ListFilter): Promise<StoredRecord[]> {
    const where: string[] = ['sequence > ?'];
    const params: unknown[] = [filter.afterSequence ?? 0];
    for (const col of ['thread', 'actor', 'act'] as const) {
      const v = filter[col];
      if (v !== undefined) {
        where.push(`${col} = ?`);
        params.push(v);
      }
    }
    params.push(filter.limit);
    const rows = await this.reader.all<RecordRow>(`SELECT ${COLUMNS} FROM records WHERE ${where.join(' AND ')} ORDER BY sequence LIMIT ?`, params);
    return rows.map(rowToRecord);
  }

  /** A structured query compiled by query.ts into SQL with bound parameters only. */
  async select(sql: { where: string; params: unknown[]; order: 'ASC' | 'DESC'; limit: number }): Promise<StoredRecord[]> {
    const rows = await this.reader.all<RecordRow>(
      `SELECT ${COLUMNS} FROM records WHERE ${sql.where} ORDER BY sequence ${sql.order} LIMIT ?`,
      [...sql.params, sql.limit],
    );
    return rows.map(rowToRecord);
  }

  /** Every record after `afterSequence` in sequence order, a page at a time (fold rebuilds). */
  scan(afterSequence: number, onRecord: (r: StoredRecord) => void): Promise<number> {
    return scanPaged(this.reader, undefined, afterSequence, onRecord);
  }

  async getMeta(key: string): Promise<string | undefined> {
    return getMeta(this.reader, key);
  }

  async setMeta(key: string, value: string): Promise<void> {
    await setMeta(this.writer, key, value);
  }

  /** Waits for queued appends, checkpoints the WAL into the main file, and closes its three connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushScheduled || this.flushing) {
      if (this.flushing) await this.flushing;
      else await new Promise((r) => setImmediate(r));
    }
    await this.reader.close().catch(() => undefined);
    await this.checkpointer.close().catch(() => undefined);
    try {
      await this.writer.get('PRAGMA wal_checkpoint(TRUNCATE)');
    } finally {
      await this.writer.close();
    }
  }
}

interface ListFilter {
  thread?: string;
  actor?: string;
  act?: string;
  afterSequence?: number;
  limit: number;
}

type Outcome = { record: SplRecord; created: boolean; existing?: StoredRecord };

/** A group sealed and numbered, ready to be written. */
interface SealedGroup {
  accepted: Array<{ p: Pending; outcomes: Outcome[] }>;
  rows: StoredRecord[];
  byId: Map<string, StoredRecord>;
  next: number;
  tx: GroupDraft;
  newThreads: Set<string>;
  createdAt: number;
}

/** Heads and records a transaction (or one append within it) will add, before they are committed. */
interface GroupDraft {
  heads: Map<string, number>;
  /** The stored heads of the group's pairs (NO_HEAD: none), read before sealing. */
  known: Map<string, number>;
  inFlight: Map<string, SplRecord>;
}

/** A draft above its actor's head (or with no clock): a new record at the next clock. */
function sealNext(d: RecordDraft, head: number | undefined, where: string, own: GroupDraft): Outcome {
  const clock = d.clock ?? (head === undefined ? 0 : head + 1);
  const rec = sealRecord(d, clock, where);
  own.heads.set(headKey(d.thread, d.actor), clock);
  own.inFlight.set(rec.id, rec);
  return { record: rec, created: true };
}

/** Sequence numbers for the group's new records, in order; a record sent twice in one group is stored once. */
function numberRows(accepted: ReadonlyArray<{ outcomes: Outcome[] }>, first: number, createdIso: string): { rows: StoredRecord[]; byId: Map<string, StoredRecord>; next: number } {
  let sequence = first;
  const rows: StoredRecord[] = [];
  const byId = new Map<string, StoredRecord>();
  for (const a of accepted) {
    for (const o of a.outcomes) {
      if (!o.created || byId.has(o.record.id)) continue;
      const stored: StoredRecord = { ...o.record, sequence: sequence++, created_at: createdIso };
      rows.push(stored);
      byId.set(stored.id, stored);
    }
  }
  return { rows, byId, next: sequence };
}

/** A cached head meaning: the pair has written nothing yet. */
const NO_HEAD = -1;
/** (thread, actor) heads kept in memory; the rest are read from the store's (thread, actor, clock) index when needed. */
const HEADS_CACHED = 50_000;
const HEADS_PER_QUERY = 1000;
/** Records read per step when walking back for the most recently written threads. */
const RECENT_PAGE = 2000;


function headKey(thread: string, actor: string): string {
  return thread + '\0' + actor;
}

function reportListenerError(err: unknown): void {
  process.emitWarning(`a commit listener failed: ${err instanceof Error ? err.message : String(err)}`, 'CommitListenerWarning');
}
