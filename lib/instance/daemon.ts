// `spl serve` without --foreground: fork a detached instance and return once it reports ready (or why not).
// The child speaks over an IPC channel that it closes once ready; its stdout/stderr go to logs/serve.out so
// nothing it prints later can hit a closed pipe.

import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SplError, type ErrorCode } from '../kernel/errors.js';

type DaemonMessage =
  | { type: 'ready'; pid: number; bind: string; socket: string; records: number }
  | { type: 'error'; code: ErrorCode; message: string; fix?: string };

interface DaemonOptions {
  entry: string;
  args: string[];
  outputFile: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
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
  const child = spawn(process.execPath, [o.entry, ...o.args], {
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    env: o.env,
  });
  if (out !== 'ignore') closeSync(out);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      finish(() => reject(new SplError('START_FAILED', `the instance (pid ${child.pid}) did not report ready within ${(o.timeoutMs ?? 60000) / 1000}s; see ${o.outputFile} and logs/spl.log`)));
      child.disconnect?.();
      child.unref();
    }, o.timeoutMs ?? 60000);
    child.on('message', (m: DaemonMessage) => {
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

/** In the child: tell the launching `spl serve` how start-up went, then drop the channel. */
export function reportToParent(m: DaemonMessage): void {
  if (typeof process.send !== 'function') return;
  process.send(m, () => {
    if (m.type === 'ready') process.disconnect();
  });
}
