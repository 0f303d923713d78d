// One worker subprocess, from spawn to completion (SPEC §11). It runs in its own process group, so a kill reaches
// whatever it started. Its stdout is read line by line (never buffered whole); each line resets the silence timer,
// a wall-clock deadline bounds the whole run, and a `result` line ends the run even if the process lingers (the
// group is then killed after a grace period). The subprocess exit is reported on the child's `exit` event — not
// at stdout EOF, which a grandchild holding the pipe can delay indefinitely — and then the group is killed.
// Kills are SIGTERM to the group, a grace period, SIGKILL.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Family } from './adapters.js';
import { parseEvent, type ResultEvent, type StreamEvent } from './stream.js';

export const CODEPATHS = ['result_event', 'line_timeout', 'budget_deadline', 'stream_eof_fallback', 'dispatcher_restarted', 'not_spawned'] as const;
export type Codepath = (typeof CODEPATHS)[number];
export const FAILURE_REASONS = [
  'result_missing', 'subprocess_exited_nonzero', 'line_timeout', 'budget_exceeded', 'read_error', 'result_reported_error',
  'spawn_failed', 'interrupted', 'dispatcher_restarted',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** Why the dispatcher ended a run itself. */
type StopCause = 'line_timeout' | 'deadline' | 'budget' | 'interrupt' | 'shutdown';

export interface WorkerSpec {
  family: Family;
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (an agent must never wait on a stdin nobody writes). */
  stdin: string;
  lineTimeoutMs: number;
  deadlineMs: number;
  /** USD: a result (or accumulated cost) above it fails the run with budget_exceeded. */
  budgetUsd: number | null;
  /** SIGTERM → SIGKILL, and how long a process may linger after its result line. */
  graceMs: number;
  logger: Logger;
  now: () => number;
}

export interface SubprocessExit {
  pid: number | null;
  exit_code: number | null;
  /** The signal number (9 for SIGKILL), or null. */
  signal: number | null;
  signal_name: string | null;
  duration_ms: number;
  last_stream_event_type: string | null;
  stream_events: number;
  /** When it was spawned, and its first and last stream events in ms after that (null: none seen). */
  started_at: string;
  first_stream_event_ms: number | null;
  last_stream_event_ms: number | null;
  spawn_error?: string;
}

export interface WorkerHooks {
  spawned(pid: number): void;
  session(e: StreamEvent): void;
  exited(exit: SubprocessExit): void;
}

export interface WorkerOutcome {
  completion_codepath: Codepath;
  failure_reason: FailureReason | null;
  success: boolean;
  cost_usd: number | null;
  cost_source: 'result_event' | 'unknown';
  tokens_in: number | null;
  tokens_out: number | null;
  num_turns: number | null;
  result: ResultEvent | null;
  stop: { cause: StopCause; detail: string } | null;
  exit: SubprocessExit;
  latency_ms: number;
  /** A process outside the group still held stdout open after the grace period; the pipe was closed on it. */
  stdout_held: boolean;
  stderr_tail: string[];
}

const STDERR_LINES = 20;
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

/**
 * Under memory pressure the kernel kills the process with the highest badness: make that a worker (and whatever it
 * starts, which inherits the setting) rather than the instance that records what happened. Raising one's own
 * child's oom_score_adj needs no privilege; where /proc is not there to write, nothing changes.
 */
function preferOomVictim(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, '500');
  } catch {
    // not Linux, or the process is already gone
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // the group is gone
  }
}

/** A running worker: `done` settles with its outcome; `stop` ends it early (interrupt, shutdown). */
export class Worker {
  readonly done: Promise<WorkerOutcome>;
  private child: ChildProcess | undefined;
  private stopCause: { cause: StopCause; detail: string } | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private lineTimer: NodeJS.Timeout | undefined;
  private events = 0;
  private lastType: string | null = null;
  private firstAt: number | null = null;
  private lastAt: number | null = null;
  private sessionSeen = false;
  private result: ResultEvent | null = null;
  private tokens = { input: 0, output: 0, seen: false };
  private exit: SubprocessExit | undefined;
  private readonly stderr: string[] = [];
  private readonly startedAt: number;
  private killing: Promise<void> | undefined;
  private finish!: (o: WorkerOutcome) => void;

  constructor(private readonly spec: WorkerSpec, private readonly hooks: WorkerHooks) {
    this.startedAt = spec.now();
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.start();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get eventCount(): number {
    return this.events;
  }

  get lastEventType(): string | null {
    return this.lastType;
  }

  /** Ends the run: SIGTERM to the group, SIGKILL after the grace period. */
  stop(cause: 'interrupt' | 'shutdown', detail: string): void {
    this.end(cause, detail);
  }

  private start(): void {
    const { spec } = this;
    let child: ChildProcess;
    try {
      child = spawn(spec.argv[0]!, spec.argv.slice(1), { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      this.spawnFailed((err as Error).message);
      return;
    }
    this.child = child;
    child.once('error', (err) => {
      if (child.pid === undefined) this.spawnFailed(err.message);
    });
    if (child.pid === undefined) return; // 'error' follows
    preferOomVictim(child.pid);
    this.hooks.spawned(child.pid);
    child.stdin!.on('error', () => undefined); // an agent that exits without reading its brief
    child.stdin!.end(spec.stdin);
    this.readStderr(child);
    const stdoutClosed = this.readStdout(child);
    child.once('exit', (code, signal) => this.exited(child.pid!, code, signal, stdoutClosed));
    this.armLineTimer();
    this.after(spec.deadlineMs, () => this.end('deadline', `wall-clock deadline of ${Math.round(spec.deadlineMs / 1000)}s passed`));
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private armLineTimer(): void {
    if (this.lineTimer) {
      this.timers.delete(this.lineTimer);
      clearTimeout(this.lineTimer);
    }
    if (this.exit || this.stopCause || this.result) return;
    const secs = Math.round(this.spec.lineTimeoutMs / 1000);
    this.lineTimer = this.after(this.spec.lineTimeoutMs, () => this.end('line_timeout', `no output line for ${secs}s`));
  }

  private readStderr(child: ChildProcess): void {
    const rl = createInterface({ input: child.stderr!, crlfDelay: Infinity });
    rl.on('line', (line) => {
      this.stderr.push(line.length > 500 ? line.slice(0, 499) + '…' : line);
      if (this.stderr.length > STDERR_LINES) this.stderr.shift();
    });
  }

  /** Reads stdout line by line; settles when it is closed (EOF, or closed by us after the grace period). */
  private readStdout(child: ChildProcess): Promise<void> {
    const rl = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    rl.on('line', (line) => this.line(line));
    return new Promise((resolve) => {
      child.stdout!.once('close', () => resolve());
      child.stdout!.once('error', () => resolve());
    });
  }

  private line(line: string): void {
    this.armLineTimer();
    const e = parseEvent(line);
    if (e === null) {
      if (this.spec.family === 'exec' && line.trim() !== '') this.spec.logger.info({ pid: this.child?.pid }, `worker: ${line.length > 300 ? line.slice(0, 299) + '…' : line}`);
      return;
    }
    this.events++;
    this.lastType = e.type;
    this.lastAt = this.spec.now() - this.startedAt;
    this.firstAt ??= this.lastAt;
    if (!this.sessionSeen && e.session_id !== null) {
      this.sessionSeen = true;
      this.hooks.session(e);
    }
    if (e.usage) {
      this.tokens.input += e.usage.input;
      this.tokens.output += e.usage.output;
      this.tokens.seen = true;
    }
    if (e.result && this.result === null) {
      this.result = e.result;
      this.armLineTimer(); // cleared: the run has its answer
      // The result ends the run; a process that lingers after it is ended after the grace period.
      if (!this.exit) this.after(this.spec.graceMs, () => void this.killGroup());
    }
  }

  /** The dispatcher ends the run (timeout, deadline, interrupt, shutdown). The first cause stands. */
  private end(cause: StopCause, detail: string): void {
    if (this.stopCause || this.exit || this.result) {
      // Already ending or ended; a shutdown still makes sure the group is gone.
      if (cause === 'shutdown' || cause === 'interrupt') void this.killGroup();
      return;
    }
    this.stopCause = { cause, detail };
    this.spec.logger.warn({ pid: this.child?.pid, cause }, `worker ${this.child?.pid ?? '?'} stopped: ${detail}`);
    void this.killGroup();
  }

  /** SIGTERM to the group, then SIGKILL once the grace period is over (if any of it is left). */
  private killGroup(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) return Promise.resolve();
    this.killing ??= new Promise<void>((resolve) => {
      if (!killGroup(pid, 'SIGTERM')) return resolve();
      this.after(this.spec.graceMs, () => {
        killGroup(pid, 'SIGKILL');
        resolve();
      });
    });
    return this.killing;
  }

  private exited(pid: number, code: number | null, signal: NodeJS.Signals | null, stdoutClosed: Promise<void>): void {
    this.exit = {
      pid, exit_code: code, signal: signal === null ? null : (SIGNALS[signal] ?? null), signal_name: signal,
      duration_ms: this.spec.now() - this.startedAt, last_stream_event_type: this.lastType, stream_events: this.events,
      started_at: new Date(this.startedAt).toISOString(), first_stream_event_ms: this.firstAt, last_stream_event_ms: this.lastAt,
    };
    this.armLineTimer();
    this.hooks.exited(this.exit);
    // Whatever it started goes with it; stdout closes when the last holder of the pipe is gone.
    if (killGroup(pid, 'SIGTERM')) this.after(this.spec.graceMs, () => killGroup(pid, 'SIGKILL'));
    let held = false;
    const closeAfter = new Promise<void>((resolve) => this.after(this.spec.graceMs * 2, () => {
      held = true;
      resolve();
    }));
    void Promise.race([stdoutClosed, closeAfter]).then(() => {
      if (held) {
        this.spec.logger.warn({ pid }, `worker ${pid} exited but a process outside its group kept its stdout open; closed it`);
        this.child?.stdout?.destroy();
      }
      this.settle(held);
    });
  }

  private spawnFailed(message: string): void {
    if (this.exit) return;
    this.exit = {
      pid: null, exit_code: null, signal: null, signal_name: null, duration_ms: this.spec.now() - this.startedAt, last_stream_event_type: null, stream_events: 0,
      started_at: new Date(this.startedAt).toISOString(), first_stream_event_ms: null, last_stream_event_ms: null, spawn_error: message,
    };
    this.spec.logger.error({ argv0: this.spec.argv[0] }, `worker did not start: ${message}`);
    this.hooks.exited(this.exit);
    this.settle(false);
  }

  private settle(stdoutHeld: boolean): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const exit = this.exit!;
    const r = this.result;
    const verdict = judge(this.spec, exit, r, this.stopCause);
    const tokens = r?.usage ?? (this.tokens.seen ? { input: this.tokens.input, output: this.tokens.output } : null);
    this.finish({
      ...verdict,
      cost_usd: r?.cost_usd ?? null,
      cost_source: r?.cost_usd !== null && r?.cost_usd !== undefined ? 'result_event' : 'unknown',
      tokens_in: tokens?.input ?? null,
      tokens_out: tokens?.output ?? null,
      num_turns: r?.num_turns ?? null,
      result: r,
      stop: this.stopCause,
      exit,
      latency_ms: this.spec.now() - this.startedAt,
      stdout_held: stdoutHeld,
      stderr_tail: [...this.stderr],
    });
  }
}

/** The completion codepath, failure reason and success of a finished run. */
function judge(spec: WorkerSpec, exit: SubprocessExit, r: ResultEvent | null, stop: { cause: StopCause } | null): Pick<WorkerOutcome, 'completion_codepath' | 'failure_reason' | 'success'> {
  if (exit.spawn_error !== undefined) return { completion_codepath: 'stream_eof_fallback', failure_reason: 'spawn_failed', success: false };
  if (r !== null) {
    if (r.is_error) return { completion_codepath: 'result_event', failure_reason: 'result_reported_error', success: false };
    // The exec family's exit status decides, when the process ended on its own.
    if (spec.family === 'exec' && exit.exit_code !== null && exit.exit_code !== 0) return { completion_codepath: 'result_event', failure_reason: 'subprocess_exited_nonzero', success: false };
    if (spec.budgetUsd !== null && r.cost_usd !== null && r.cost_usd > spec.budgetUsd) return { completion_codepath: 'result_event', failure_reason: 'budget_exceeded', success: false };
    return { completion_codepath: 'result_event', failure_reason: null, success: true };
  }
  if (stop?.cause === 'line_timeout') return { completion_codepath: 'line_timeout', failure_reason: 'line_timeout', success: false };
  if (stop?.cause === 'deadline' || stop?.cause === 'budget') return { completion_codepath: 'budget_deadline', failure_reason: 'budget_exceeded', success: false };
  if (stop?.cause === 'interrupt' || stop?.cause === 'shutdown') return { completion_codepath: 'stream_eof_fallback', failure_reason: 'interrupted', success: false };
  // No result: the exec family's exit status decides; for an agent CLI a missing result is a failure.
  if (spec.family === 'exec' && exit.exit_code === 0) return { completion_codepath: 'stream_eof_fallback', failure_reason: null, success: true };
  if (exit.exit_code !== null && exit.exit_code !== 0) return { completion_codepath: 'stream_eof_fallback', failure_reason: 'subprocess_exited_nonzero', success: false };
  return { completion_codepath: 'stream_eof_fallback', failure_reason: 'result_missing', success: false };
}
