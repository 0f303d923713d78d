// Error envelope middleware: every failure leaves as {"object":"error","type","code","message"} with its
// status. Known errors carry their own code; koa/router HTTP errors are mapped; anything else is a logged 500.

import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { dirname } from 'node:path';
import { SplError, isSplError } from '../kernel/errors.js';

export function errorEnvelope(logger: Logger, now: () => number = Date.now) {
  const fullDisk = new Throttle(now, 10_000);
  return async function errors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw noRoute(ctx);
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined) {
        // Left by router.allowedMethods(), which has already set the Allow header; an empty Allow means no route
        // matched the path at all (an unknown method on an unknown path), which is a 404.
        const allow = ctx.response.get('Allow');
        if (!allow) throw noRoute(ctx);
        throw new SplError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path} (allowed: ${allow})`);
      }
    } catch (err) {
      const e = toSplError(err);
      if (e.status >= 500 && !(e.code === 'STORAGE_FULL' && fullDisk.quiet())) logger.error({ err, method: ctx.method, path: ctx.path, code: e.code, ...fullDisk.take() }, 'request failed');
      ctx.status = e.status;
      ctx.body = e.toEnvelope();
    }
  };
}

function noRoute(ctx: Context): SplError {
  return new SplError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}; see GET /health and the /v1 API`);
}

/**
 * On a full disk every write fails alike: one ERROR line per interval, the next one counting those left out
 * (`suppressed`), instead of a line per request filling what little space is left.
 */
class Throttle {
  private lastAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;
  constructor(private readonly now: () => number, private readonly intervalMs: number) {}

  /** true when this occurrence should not be logged (one was, less than an interval ago). */
  quiet(): boolean {
    if (this.now() - this.lastAt < this.intervalMs) {
      this.suppressed += 1;
      return true;
    }
    this.lastAt = this.now();
    return false;
  }

  take(): { suppressed?: number } {
    const n = this.suppressed;
    this.suppressed = 0;
    return n > 0 ? { suppressed: n } : {};
  }
}

function toSplError(err: unknown): SplError {
  if (isSplError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const path = (err as NodeJS.ErrnoException).path;
    return new SplError('STORAGE_FULL', `the disk${path ? ` holding ${path}` : ''} is full; the request was not completed`, { cause: err, fix: `free disk space (df -h${path ? ` ${dirname(path)}` : ''}), then retry` });
  }
  // koa's own client errors (http-errors with expose) keep their message; everything else is internal.
  const e = err as { status?: number; expose?: boolean; message?: string };
  if (e.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new SplError('INVALID_REQUEST', e.message ?? 'bad request', { cause: err });
  }
  return new SplError('INTERNAL', 'internal error; the instance log (logs/spl.log) has the details', { cause: err });
}
