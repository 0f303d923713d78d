// A synchronous, size-rotated log file: spl.log → spl.log.1 … spl.log.N. Writes are synchronous so a line
// logged just before a crash is on disk, and the current file always keeps its name for `tail -f`.
// A log write never fails a request or the instance: when the file cannot be written (a full or read-only
// disk), the line is dropped and counted, and once writing works again the first line written says how many
// were dropped, when, and why; `/health` and `spl doctor` report the count.

import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

const LOG_MAX_BYTES = 10 * 1024 * 1024;
const LOG_KEEP = 7;

interface DroppedLines {
  /** Lines dropped since the instance started. */
  total: number;
  /** Lines dropped since the last one that was written (0 while writing works). */
  pending: number;
  first_at: string | null;
  last_at: string | null;
  last_error: string | null;
}

export class RotatingFile {
  private fd: number | undefined;
  private size = 0;
  private readonly dropped: DroppedLines = { total: 0, pending: 0, first_at: null, last_at: null, last_error: null };
  private lastOpenError: unknown;

  constructor(
    readonly path: string,
    private readonly maxBytes = LOG_MAX_BYTES,
    private readonly keep = LOG_KEEP,
    private readonly now: () => number = Date.now,
  ) {
    this.reopen();
  }

  /** Lines lost to write failures (a copy). */
  droppedLines(): DroppedLines {
    return { ...this.dropped };
  }

  write(chunk: string): boolean {
    try {
      if (this.fd === undefined && !this.reopen()) throw this.lastOpenError;
      const bytes = Buffer.byteLength(chunk);
      if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
      if (this.dropped.pending > 0) this.writeAll(this.droppedNotice());
      this.writeAll(chunk);
      this.dropped.pending = 0;
    } catch (err) {
      this.drop(err);
    }
    return true;
  }

  private reopen(): boolean {
    try {
      this.fd = openSync(this.path, 'a', 0o600);
      this.size = fstatSync(this.fd).size;
      return true;
    } catch (err) {
      this.fd = undefined;
      this.lastOpenError = err;
      return false;
    }
  }

  /** A partial write (ENOSPC midway) is completed or fails; the file never keeps half a line unaccounted. */
  private writeAll(text: string): void {
    const buf = Buffer.from(text);
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd!, buf, off, buf.length - off);
    } catch (err) {
      if (off > 0) {
        try {
          ftruncateSync(this.fd!, this.size); // no half line left behind
        } catch {
          // the next line starts after the fragment; readers skip lines that are not JSON
        }
      }
      throw err;
    }
    this.size += buf.length;
  }

  private droppedNotice(): string {
    const d = this.dropped;
    const msg = `${d.pending} log lines were dropped between ${d.first_at} and ${d.last_at}: ${this.path} could not be written (${d.last_error})`;
    return JSON.stringify({ time: new Date(this.now()).toISOString(), level: 'WARN', target: 'syncropel_instance::log', msg, dropped_lines: d.pending, dropped_total: d.total }) + '\n';
  }

  private drop(err: unknown): void {
    const at = new Date(this.now()).toISOString();
    if (this.dropped.pending === 0) this.dropped.first_at = at;
    this.dropped.pending += 1;
    this.dropped.total += 1;
    this.dropped.last_at = at;
    this.dropped.last_error = (err as NodeJS.ErrnoException)?.code ?? String((err as Error)?.message ?? err);
  }

  private rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      const from = `${this.path}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
    if (!this.reopen()) throw this.lastOpenError;
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // nothing left to lose
      }
    }
    this.fd = undefined;
  }
}
