// `spl serve` without --foreground: fork a detached instance and return once it reports ready (or why not).
// The child speaks over an IPC channel that it closes once ready; its stdout/stderr go to logs/serve.out so
// nothing it prints later can hit a closed pipe.
//
// The launching process has nothing to do while the instance starts, so it begins the store's quick_check
// (early-check.ts) before it forks: the check then runs while the child starts node and loads its modules,
// instead of after. The child asks for the verdict over the channel and uses it under the same rule as its own
// early check (only if the store's files are exactly as they were while it ran); without an answer (the
// launcher gone) it checks for itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SplError, type ErrorCode } from '../kernel/errors.js';
import { startEarlyCheck, type EarlyCheck, type EarlyResult } from '../store/early-check.js';

type DaemonMessage =
  | { type: 'ready'; pid: number; bind: string; socket: string; records: number }
  | { type: 'error'; code: ErrorCode; message: string; fix?: string }
  | { type: 'early-check?' };

/** The launcher's answer to `early-check?`. */
type LauncherMessage = { type: 'early-check'; result: EarlyResult | null };

/** In the child's environment when the launcher checks the store for it: the store's path. */
export const LAUNCHER_CHECK_ENV = 'SPL_STORE_CHECKED_BY_LAUNCHER';

interface DaemonOptions {
  entry: string;
  args: string[];
  outputFile: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** The store to quick_check while the instance starts (its verdict is handed to the child when it asks). */
  checkStore?: string;
}

export function spawnDaemon(o: DaemonOptions): Promise<Extract<DaemonMessage, { type: 'ready' }>> {
  // serve.out may not be writable (a full or read-only log disk): the instance still starts, and its start-up
  // result still reaches this terminal over the IPC channel; only stray output after that is lost.
  let out: number | 'ignore' = 'ignore';
  let outputProblem: string | undefined;
  try {
    out = openSync(o.outputFile, 'a', 0o600);
  } catch (err) {
    outputProblem = `${o.outputFile} could not be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}), so the instance's own output was not kept`;
  }
  const early = o.checkStore !== undefined ? startEarlyCheck(o.checkStore) : undefined;
  const child = spawn(process.execPath, [o.entry, ...o.args], {
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    env: early ? { ...o.env, [LAUNCHER_CHECK_ENV]: early.path } : o.env,
  });
  if (out !== 'ignore') closeSync(out);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      early?.abort?.(); // nobody will ask any more (after ready, it is long finished)
      fn();
    };
    const timer = setTimeout(() => {
      finish(() => reject(new SplError('START_FAILED', `the instance (pid ${child.pid}) did not report ready within ${(o.timeoutMs ?? 60000) / 1000}s; see ${o.outputFile} and logs/spl.log`)));
      child.disconnect?.();
      child.unref();
    }, o.timeoutMs ?? 60000);
    child.on('message', (m: DaemonMessage) => {
      if (m.type === 'early-check?') {
        void answerCheck(child, early);
        return;
      }
      if (m.type === 'ready') {
        finish(() => resolve(m));
        child.disconnect();
        child.unref();
      } else {
        finish(() => reject(new SplError(m.code, m.message, m.fix ? { fix: m.fix } : {})));
      }
    });
    child.on('exit', (code, signal) => {
      finish(() => {
        let tail = '';
        try {
          tail = readFileSync(o.outputFile, 'utf8').split('\n').filter(Boolean).slice(-5).join('\n');
        } catch {
          // no output captured
        }
        const detail = tail ? `:\n${tail}` : outputProblem ? ` (${outputProblem})` : ' and printed nothing';
        reject(new SplError('START_FAILED', `the instance exited (${signal ?? `code ${code}`}) before it was ready${detail}`, { fix: `see ${o.outputFile} and logs/spl.log; df -h ${dirname(o.outputFile)}` }));
      });
    });
  });
}

async function answerCheck(child: ChildProcess, early: EarlyCheck | undefined): Promise<void> {
  const result = (await early?.result) ?? null;
  const answer: LauncherMessage = { type: 'early-check', result };
  if (child.connected) child.send(answer, () => undefined);
}

/**
 * In the child: the launcher's quick_check of `path`, when it began one for this store (undefined: check here).
 * Its result is undefined when the launcher goes away before it answers.
 */
export function earlyCheckFromLauncher(path: string): EarlyCheck | undefined {
  const checked = process.env[LAUNCHER_CHECK_ENV];
  delete process.env[LAUNCHER_CHECK_ENV]; // not passed on to the programs the instance runs
  const send = process.send?.bind(process);
  if (send === undefined || checked !== path) return undefined;
  const result = new Promise<EarlyResult | undefined>((resolve) => {
    const done = (r: EarlyResult | undefined): void => {
      process.off('message', onMessage);
      process.off('disconnect', onGone);
      resolve(r);
    };
    const onMessage = (m: LauncherMessage): void => {
      if (m?.type === 'early-check') done(m.result ?? undefined);
    };
    const onGone = (): void => done(undefined);
    process.on('message', onMessage);
    process.on('disconnect', onGone);
    const ask: DaemonMessage = { type: 'early-check?' };
    send(ask, (err: Error | null) => {
      if (err) done(undefined);
    });
  });
  return { path, began: 'begun by spl serve as the instance started', result };
}

/** In the child: tell the launching `spl serve` how start-up went, then drop the channel. */
export function reportToParent(m: DaemonMessage): void {
  // A launcher that went away (killed while it waited) has closed the channel: there is nobody to tell, and a send
  // or disconnect on a closed channel would end this process with an unhandled 'error'.
  if (typeof process.send !== 'function' || !process.connected) return;
  process.send(m, () => {
    if (m.type === 'ready' && process.connected) process.disconnect();
  });
}
