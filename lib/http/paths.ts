// Request paths the API refuses because two readers could take them to mean different things: a proxy, a log
// filter or a permission rule reading `path` would see one route while a decoding router might see another.
// Refused before authentication with 400 INVALID_REQUEST, whichever route the path resembles; so is an HTTP/1.1
// request without a Host header (which Node would otherwise refuse without the envelope).

import type { Context, Next } from 'koa';
import { SplError } from '../kernel/errors.js';

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Why `path` is ambiguous, or undefined when it is a plain path. */
export function ambiguity(path: string | null | undefined): string | undefined {
  // An absolute-form target without a path (`GET http:// HTTP/1.1`) leaves none at all.
  if (typeof path !== 'string' || path === '') return 'the request target has no path';
  if (!path.startsWith('/')) return 'it does not start with /';
  if (path.includes('//')) return 'it contains an empty segment (//)';
  if (path.includes('\\')) return 'it contains a backslash';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'it contains a control character';
  const segments = path.slice(1).split('/');
  for (const s of segments) {
    if (s === '.' || s === '..') return `it contains a dot segment (${s})`;
    if (s.endsWith('.')) return `the segment ${JSON.stringify(s)} ends with a dot`;
  }
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 1)) {
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return `%${hex} at offset ${i} is not a percent-escape`;
    const byte = parseInt(hex, 16);
    const ch = String.fromCharCode(byte);
    if (byte < 0x20 || byte === 0x7f) return `%${hex} encodes a control character`;
    if (ch === '/' || ch === '\\') return `%${hex} encodes a path separator (${ch})`;
    if (UNRESERVED.test(ch)) return `%${hex} encodes ${JSON.stringify(ch)}, which must be sent as itself`;
  }
  return undefined;
}

export function refuseAmbiguousPaths() {
  return async function paths(ctx: Context, next: Next): Promise<void> {
    if (ctx.req.httpVersionMajor === 1 && ctx.req.httpVersionMinor >= 1 && ctx.req.headers.host === undefined) {
      throw new SplError('INVALID_REQUEST', 'an HTTP/1.1 request needs a Host header', { fix: 'send Host: 127.0.0.1 (any HTTP client does this itself)' });
    }
    const why = ambiguity(ctx.path as string | null);
    if (why !== undefined) {
      throw new SplError('INVALID_REQUEST', `the path ${JSON.stringify(ctx.path ?? '')} is ambiguous: ${why}`, {
        fix: 'send the path as the API documents it: lowercase, single slashes, no dot segments and no percent-escapes of plain characters',
      });
    }
    await next();
  };
}
