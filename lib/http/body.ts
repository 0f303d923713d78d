// Request bodies: JSON only, size-capped before parsing, with errors that say what was wrong.

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
  if (declared > limit) throw tooLarge(declared, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.unpipe();
      ctx.set('Connection', 'close');
      throw tooLarge(size, limit);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new SplError('INVALID_JSON', 'request body is empty; send a JSON document');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SplError('INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

function tooLarge(size: number, limit: number): SplError {
  return new SplError('BODY_TOO_LARGE', `request body of ${size}+ bytes exceeds the ${limit}-byte limit; split it into smaller batches`);
}
