// Logging (SPEC §7): pino, one JSON object per line in logs/spl.log with an RFC 3339 `time`, an uppercase
// `level`, a `target` naming the module, `msg`, and actor/thread/record where they apply.
// In the foreground the same events also go to stdout (SPEC §8): readable lines on a terminal; the journal's
// native protocol when stdout is the journal (JOURNAL_STREAM, under systemd); `<N>`-prefixed lines otherwise.

import pino, { type Logger, type StreamEntry } from 'pino';
import { JournalStream, messageOf, parseLogLine, prefixedLine } from '../systemd/journal.js';
import type { LogLevel } from './config-file.js';
import { RotatingFile } from './rotating-file.js';

export type { Logger };

const LEVEL_LABEL: Record<string, string> = { fatal: 'ERROR', error: 'ERROR', warn: 'WARN', info: 'INFO', debug: 'DEBUG', trace: 'TRACE' };

interface LoggerOptions {
  file?: string;
  level: LogLevel;
  /**
   * Also log to stdout (foreground runs): `pretty` for a terminal, `journal` to send each line to journald
   * (stdout is the journal's stream), `prefixed` for `<N>`-prefixed lines.
   */
  stdout?: StdoutMode;
  /** Extra destination (tests). */
  extra?: { write(line: string): unknown };
}

export type StdoutMode = 'pretty' | 'journal' | 'prefixed';

export interface InstanceLogger {
  root: Logger;
  file: RotatingFile | undefined;
  close(): void;
}

export function createLogger(opts: LoggerOptions): InstanceLogger {
  const streams: StreamEntry[] = [];
  const file = opts.file ? new RotatingFile(opts.file) : undefined;
  if (file) streams.push({ level: 'trace', stream: file });
  const journal = opts.stdout === 'journal' ? new JournalStream() : undefined;
  if (journal) streams.push({ level: 'trace', stream: journal });
  else if (opts.stdout === 'pretty') streams.push({ level: 'trace', stream: { write: (l: string) => process.stdout.write(prettyLine(l)) } });
  else if (opts.stdout === 'prefixed') streams.push({ level: 'trace', stream: { write: (l: string) => process.stdout.write(prefixedLine(l)) } });
  if (opts.extra) streams.push({ level: 'trace', stream: opts.extra });
  const root = pino(
    {
      level: opts.level,
      base: undefined,
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: LEVEL_LABEL[label] ?? label.toUpperCase() }) },
    },
    pino.multistream(streams),
  );
  return {
    root,
    file,
    close: () => {
      file?.close();
      journal?.close();
    },
  };
}

/** `2026-11-27T10:00:00.000Z INFO  syncropel_http: listening bind=127.0.0.1:9100` (the journal's MESSAGE, timed). */
export function prettyLine(line: string): string {
  const o = parseLogLine(line);
  if (!o) return line;
  return `${String(o.time)} ${String(o.level).padEnd(5)} ${messageOf(o)}\n`;
}
