// Request bodies: JSON only, size-capped before parsing, with errors that say what was wrong.

import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import { SplError } from '../kernel/errors.js';

export async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const type = ctx.request.type;
  if (type !== 'application/json') {
    throw new SplError('UNSUPPORTED_MEDIA_TYPE', `request body must be application/json (got ${type || 'no Content-Type'})`, {
      fix: "send the header 'Content-Type: application/json'",
    });
  }
  const declared = Number(ctx.get('content-length'));
  const cutoff = limit + DISCARD_LIMIT;
  if (declared > cutoff) {
    ctx.set('Connection', 'close');
    throw tooLarge(declared, limit, true);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > cutoff) {
        ctx.req.unpipe();
        ctx.set('Connection', 'close');
        throw tooLarge(size, limit, false);
      }
      // Over the limit, the rest is read and thrown away so the client can finish writing and read the 413.
      if (size <= limit) chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof SplError) throw err;
    // The client went away mid-body (ECONNRESET "aborted"): its choice, not a server fault, and nobody is left
    // to read the answer.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error).message === 'aborted') {
      throw new SplError('INVALID_REQUEST', `the client closed the connection after ${size} bytes of the body`, { cause: err });
    }
    throw err;
  }
  if (size > limit) throw tooLarge(size, limit, true);
  const raw = Buffer.concat(chunks);
  // A record's id is the hash of what the client sent: bytes that are not UTF-8 would be stored as U+FFFD, a
  // different record than the one the client hashed. They are refused, naming where.
  if (!isUtf8(raw)) {
    const at = firstInvalidUtf8(raw);
    throw new SplError('INVALID_ENCODING', `request body is not valid UTF-8: byte 0x${raw[at]!.toString(16).padStart(2, '0')} at offset ${at} does not start or continue a UTF-8 character`, {
      fix: 'send the body encoded as UTF-8 (JSON strings carry any other bytes as \\u escapes or base64)',
    });
  }
  const text = raw.toString('utf8');
  if (text.trim() === '') throw new SplError('INVALID_JSON', 'request body is empty; send a JSON document');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SplError('INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Offset of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
/** A JSON object body (arrays and scalars refused with 400). */
export async function readJsonObject(ctx: Context, limit: number): Promise<Record<string, unknown>> {
  const b = await readJson(ctx, limit);
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new SplError('INVALID_REQUEST', 'the body must be a JSON object');
  return b as Record<string, unknown>;
}

export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let max = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b === 0xe0) [need, min] = [2, 0xa0];
    else if (b === 0xed) [need, min, max] = [2, 0x80, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) [need, min] = [2, 0x80];
    else if (b === 0xf0) [need, min] = [3, 0x90];
    else if (b === 0xf4) [need, min, max] = [3, 0x80, 0x8f];
    else if (b >= 0xf1 && b <= 0xf3) [need, min] = [3, 0x80];
    else return i;
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      const lo = k === 1 ? min : 0x80;
      const hi = k === 1 ? max : 0xbf;
      if (c === undefined) return i; // a character cut off by the end of the body
      if (c < lo || c > hi) return i + k;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * A body over the limit by less than this is read to its end and thrown away before the 413 goes out. Closing on a
 * client that is still writing resets the connection, and the client sees EPIPE instead of the answer (web
 * servers' "lingering close"). Larger bodies, declared or streamed, are cut off with Connection: close; the
 * read is bounded in time by [server] request_timeout_secs either way.
 */
const DISCARD_LIMIT = 8 * 1024 * 1024;

function tooLarge(size: number, limit: number, whole: boolean): SplError {
  return new SplError('BODY_TOO_LARGE', `request body of ${size}${whole ? '' : '+'} bytes exceeds the ${limit}-byte limit; split it into smaller batches`);
}
