// The WAL checkpoint, off the commit path. The writer commits with wal_autocheckpoint off, so no COMMIT stops
// to copy the WAL into the main file: with SQLite's default (a checkpoint inside the commit that crosses 1,000
// pages) the writer spent about a fifth of its time there (groups of 16 records: 1.87 vs 1.55 ms a commit).
// A connection of its own copies committed frames instead: PASSIVE runs, which never block the writer or a
// reader, one at a time and at least `spacingMs` apart while commits arrive.
//
// The WAL starts over only when every frame in it has been copied when a commit begins, a moment steady
// ingest may never leave. So once a run finds `catchUpFrames` or more in the WAL, the writer waits between two
// groups for one more run: it copies only what was committed while the last one ran, nothing is committed
// meanwhile, and the next commit can start the WAL over. The WAL stays near catchUpFrames pages.
//
// A reader holding an older snapshot (a backup's copy) keeps the frames after it from being copied: the WAL
// then grows until the reader lets go, as it does under SQLite's own checkpoints, and the writer waits again
// only after another catchUpFrames. The catch-up stays PASSIVE on purpose: waiting for such a reader would stall
// every write for as long as the backup runs.
//
// Runs that fail lose nothing (the frames stay in the WAL). After FALLBACK_AFTER failed runs in a row the
// catch-up runs on the writer's own connection instead, as SQLite's own checkpoint would, so the WAL stays
// bounded even when this connection cannot checkpoint. Failures are reported on the first of a streak and then
// once every REPORT_EVERY.

import type { Database } from './database.js';

interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export interface WalCheckpointOptions {
  /** Frames in the WAL at which the writer waits for a catch-up (default 8192: 32 MiB of 4 KiB pages). */
  catchUpFrames?: number;
  /** Least time between the starts of two background runs (default 100 ms). */
  spacingMs?: number;
  /** A failed run, and how many have failed in a row: the store is still whole, the frames are only not copied yet. */
  onError?: (err: unknown, failedInARow: number) => void;
}

/** Failed background runs in a row after which the writer's connection takes the catch-up. */
const FALLBACK_AFTER = 3;
/** A streak of failures is reported at its first run and then once every this many. */
const REPORT_EVERY = 100;

export class WalCheckpointer {
  private running: Promise<CheckpointResult | undefined> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending = false;
  private lastStart = -Infinity;
  /** Frames in the WAL when the last run began (0 after a catch-up that copied them all). */
  private log = 0;
  /** The WAL size at which the writer next waits: catchUpFrames, or more while a reader holds frames back. */
  private catchUpAt: number;
  private failedInARow = 0;
  private failedSinceCatchUp = 0;
  private closed = false;
  private readonly catchUpFrames: number;
  private readonly spacingMs: number;
  private readonly onError: (err: unknown, failedInARow: number) => void;

  /** `db`: the connection the runs use. `fallback`: the writer's, for a catch-up when `db` keeps failing. */
  constructor(private readonly db: Database, private readonly fallback: Database, opts: WalCheckpointOptions = {}) {
    this.catchUpFrames = opts.catchUpFrames ?? 8192;
    this.spacingMs = opts.spacingMs ?? 100;
    this.onError = opts.onError ?? (() => undefined);
    this.catchUpAt = this.catchUpFrames;
  }

  /** Called after each commit: schedules a background run. */
  committed(): void {
    if (this.closed) return;
    this.pending = true;
    this.schedule();
  }

  /** Whether the writer should call catchUp() before its next group. */
  get due(): boolean {
    return !this.closed && this.running === null && (this.log >= this.catchUpAt || this.failedSinceCatchUp >= FALLBACK_AFTER);
  }

  /**
   * One run while the writer waits (it commits nothing until this resolves), after the one in progress: every
   * frame no reader holds back is copied, and the next commit can start the WAL over.
   */
  async catchUp(): Promise<void> {
    while (this.running) await this.running;
    if (this.closed) return;
    this.clearTimer();
    this.pending = false;
    const on = this.failedSinceCatchUp >= FALLBACK_AFTER ? this.fallback : this.db;
    this.failedSinceCatchUp = 0;
    const r = await this.run(on);
    if (r === undefined) {
      // Did not run: try again once the WAL has grown by catchUpFrames more, not before every group.
      this.catchUpAt = this.log + this.catchUpFrames;
    } else if (r.checkpointed >= r.log) {
      // Everything copied, and nothing committed meanwhile: the WAL can start over at the next commit.
      this.log = 0;
      this.catchUpAt = this.catchUpFrames;
    } else {
      // Held back by a reader: wait again only once the WAL has grown by catchUpFrames more.
      this.catchUpAt = r.log + this.catchUpFrames;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    while (this.running) await this.running;
    await this.db.close();
  }

  private schedule(): void {
    // At catchUpAt the next run is the writer's catch-up, not one that commits would race.
    if (this.running || this.timer || this.closed || !this.pending || this.due) return;
    const wait = this.lastStart + this.spacingMs - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, wait);
      this.timer.unref();
      return;
    }
    this.pending = false;
    void this.run(this.db).then(() => this.schedule());
  }

  /** One PASSIVE run on `on`; undefined when it failed or could not start. Never rejects. */
  private run(on: Database): Promise<CheckpointResult | undefined> {
    this.lastStart = performance.now();
    const running = on
      .get<CheckpointResult>('PRAGMA wal_checkpoint(PASSIVE)')
      .then(
        (r) => {
          if (on === this.db) this.failedInARow = 0; // the writer's run says nothing of this connection
          // log -1: the run could not start (another checkpoint held the lock); what was known stands.
          if (!r || r.log < 0) return undefined;
          // Fewer frames than last time: the WAL started over since, so the next wait is catchUpFrames away.
          if (r.log < this.log) this.catchUpAt = this.catchUpFrames;
          this.log = r.log;
          return r;
        },
        (err) => {
          if (on === this.db) {
            this.failedInARow++;
            this.failedSinceCatchUp++;
          }
          if (this.failedInARow === 1 || this.failedInARow % REPORT_EVERY === 0) {
            try {
              this.onError(err, this.failedInARow);
            } catch {
              // a report that fails cannot stop the checkpoint or the writer
            }
          }
          return undefined;
        },
      )
      .finally(() => {
        this.running = null;
      });
    this.running = running;
    return running;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
