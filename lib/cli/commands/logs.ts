// spl logs [-f] [-n N] [--level L] [--target T]: read logs/spl.log (and follow it across rotations).

import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import { LOG_LEVELS } from '../../instance/config-file.js';
import { prettyLine } from '../../instance/logger.js';
import { commandContext, type GlobalFlags } from '../context.js';

interface LogFlags extends GlobalFlags {
  follow?: boolean;
  f?: boolean;
  lines?: number;
  n?: number;
  level?: string;
  target?: string;
}

const RANK: Record<string, number> = { ERROR: 0, WARN: 1, INFO: 2, DEBUG: 3, TRACE: 4 };

export function register(prog: Sade): void {
  prog
    .command('logs')
    .describe('Show the instance log (logs/spl.log)')
    .option('-f, --follow', 'Keep printing new lines as they are written')
    .option('-n, --lines', 'How many of the last matching lines to show', 50)
    .option('--level', 'Only lines at this level or more severe (error, warn, info, debug, trace)')
    .option('--target', 'Only lines whose target starts with this (e.g. syncropel_http)')
    .example('logs --level warn -n 100')
    .example('logs -f --target syncropel_engine::dispatch')
    .action(async (flags: LogFlags) => {
      const ctx = commandContext(flags);
      const file = ctx.paths.logFile;
      const level = flags.level === undefined ? undefined : String(flags.level).toUpperCase();
      if (level !== undefined && !(level in RANK)) throw new SplError('USAGE', `--level must be one of ${LOG_LEVELS.join(', ')}`);
      const n = Number(flags.lines ?? flags.n ?? 50);
      if (!Number.isInteger(n) || n < 0) throw new SplError('USAGE', '-n must be a whole number');
      const keep = (line: string): boolean => matches(line, level, flags.target === undefined ? undefined : String(flags.target));
      const emit = (line: string): void => {
        process.stdout.write(ctx.json ? line + '\n' : prettyLine(line));
      };
      if (!existsSync(file) && !(flags.follow || flags.f)) {
        throw new SplError('NOT_FOUND', `no log at ${file} yet`, { fix: 'spl serve writes it' });
      }
      const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && keep(l)) : [];
      for (const l of lines.slice(Math.max(0, lines.length - n))) emit(l);
      if (flags.follow || flags.f) await follow(file, keep, emit);
    });
}

function matches(line: string, level: string | undefined, target: string | undefined): boolean {
  if (level === undefined && target === undefined) return true;
  let o: { level?: string; target?: string };
  try {
    o = JSON.parse(line) as { level?: string; target?: string };
  } catch {
    return false;
  }
  if (level !== undefined && (RANK[String(o.level)] ?? 99) > RANK[level]!) return false;
  if (target !== undefined && !String(o.target ?? '').startsWith(target)) return false;
  return true;
}

/** Polls the file; when it shrinks or is replaced (rotation) it starts again from the new file's beginning. */
async function follow(file: string, keep: (l: string) => boolean, emit: (l: string) => void): Promise<never> {
  let offset = existsSync(file) ? statSync(file).size : 0;
  let ino = existsSync(file) ? statSync(file).ino : 0;
  let partial = '';
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    if (!existsSync(file)) continue;
    const st = statSync(file);
    if (st.ino !== ino || st.size < offset) {
      ino = st.ino;
      offset = 0;
      partial = '';
    }
    if (st.size === offset) continue;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(st.size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    offset = st.size;
    const text = partial + buf.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) if (l !== '' && keep(l)) emit(l);
  }
}
