// Logging to systemd's journal (SPEC §7, §8).
//
// When JOURNAL_STREAM names the file stdout is connected to (systemd sets it for StandardOutput=journal),
// each log line is sent as one datagram of the native journal protocol to /run/systemd/journal/socket, with
// PRIORITY, SYSLOG_IDENTIFIER=spl, MESSAGE and the structured fields SPL_TARGET, SPL_ACTOR, SPL_THREAD and
// SPL_RECORD, so `journalctl -u spl -p warning` and `journalctl SPL_TARGET=syncropel_http` work. When stdout is
// some other pipe or file, lines carry a `<N>` syslog priority prefix (sd-daemon(3)), which journald and other
// supervisors understand. The JSON file log in logs/spl.log is written either way.

import { fstatSync } from 'node:fs';
import { datagramSender, type DatagramSender } from './dgram.js';

const JOURNAL_SOCKET = '/run/systemd/journal/socket';
export const SYSLOG_IDENTIFIER = 'spl';

/** syslog priorities for spl's levels: ERROR 3 (err), WARN 4 (warning), INFO 6, DEBUG and TRACE 7. */
export const PRIORITY: Record<string, number> = { FATAL: 2, ERROR: 3, WARN: 4, INFO: 6, DEBUG: 7, TRACE: 7 };

/** JSON keys that become journal fields of their own (besides MESSAGE/PRIORITY). */
const FIELD_KEYS: Record<string, string> = { target: 'SPL_TARGET', actor: 'SPL_ACTOR', thread: 'SPL_THREAD', record: 'SPL_RECORD' };
const NOT_IN_MESSAGE = new Set(['time', 'level', 'msg', 'target']);
/** journald accepts datagrams up to its socket buffer; keep every entry well inside it. */
const MAX_FIELD_BYTES = 48 * 1024;

/** True when JOURNAL_STREAM ("<dev>:<inode>") is the file behind `fd` (sd_journal_stream_fd's contract). */
export function stdoutIsJournal(env: Record<string, string | undefined>, fd = 1): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

type Entry = Record<string, unknown>;

/** One JSON log line as an object, or undefined when it is not one. */
export function parseLogLine(line: string): Entry | undefined {
  try {
    const o = JSON.parse(line) as unknown;
    return o && typeof o === 'object' && !Array.isArray(o) ? (o as Entry) : undefined;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * `syncropel_http: listening bind=127.0.0.1:9100` — the time and level are the journal's own. A field the
 * message already spells out (`PERMISSION DENIED actor=… rule=…`) is not repeated.
 */
export function messageOf(o: Entry): string {
  const msg = str(o.msg ?? '');
  const extra = Object.entries(o)
    .filter(([k]) => !NOT_IN_MESSAGE.has(k))
    .map(([k, v]) => `${k}=${str(v)}`)
    .filter((pair) => !msg.includes(pair))
    .join(' ');
  const target = o.target !== undefined ? `${str(o.target)}: ` : '';
  return `${target}${msg}${extra ? ' ' + extra : ''}`;
}

function priorityOf(o: Entry): number {
  return PRIORITY[String(o.level).toUpperCase()] ?? 6;
}

function truncate(value: string): string {
  const b = Buffer.from(value, 'utf8');
  return b.length <= MAX_FIELD_BYTES ? value : b.subarray(0, MAX_FIELD_BYTES).toString('utf8') + '…';
}

/**
 * One native-protocol datagram: `KEY=value\n` per field, or — for a value containing a newline —
 * `KEY\n` + 64-bit little-endian length + value + `\n` (systemd.journal-fields(7), "Native protocol").
 */
export function encodeEntry(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, raw] of fields) {
    const v = truncate(raw);
    if (!v.includes('\n')) {
      parts.push(Buffer.from(`${k}=${v}\n`, 'utf8'));
      continue;
    }
    const value = Buffer.from(v, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(value.length));
    parts.push(Buffer.from(`${k}\n`, 'utf8'), len, value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** The journal fields for one JSON log line. */
export function journalFields(o: Entry): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ['PRIORITY', String(priorityOf(o))],
    ['SYSLOG_IDENTIFIER', SYSLOG_IDENTIFIER],
    ['MESSAGE', messageOf(o)],
  ];
  for (const [key, field] of Object.entries(FIELD_KEYS)) if (o[key] !== undefined && o[key] !== null) fields.push([field, str(o[key])]);
  if (typeof o.level === 'string') fields.push(['SPL_LEVEL', o.level]);
  return fields;
}

/** `<4>syncropel_http: PERMISSION DENIED …` for a stdout that is not a terminal and not the journal. */
export function prefixedLine(line: string): string {
  const o = parseLogLine(line);
  if (!o) return line.endsWith('\n') ? line : line + '\n';
  return `<${priorityOf(o)}>${messageOf(o).replace(/\n/g, ' ')}\n`;
}

/**
 * A pino destination that sends each line to journald. A line the journal does not take (socket gone, buffer
 * full) is written to `fallback` (stdout, which is the journal's stream) with its `<N>` prefix instead, so it
 * is never lost.
 */
export class JournalStream {
  private sender: DatagramSender | undefined;

  constructor(
    socketPath = JOURNAL_SOCKET,
    private readonly fallback: (line: string) => void = (l) => void process.stdout.write(l),
  ) {
    this.sender = datagramSender(socketPath);
  }

  write(line: string): boolean {
    const o = parseLogLine(line);
    if (!o || !this.sender) {
      this.fallback(prefixedLine(line));
      return true;
    }
    if (this.sender.send(encodeEntry(journalFields(o)))) this.fallback(prefixedLine(line));
    return true;
  }

  close(): void {
    this.sender?.close();
    this.sender = undefined;
  }
}
