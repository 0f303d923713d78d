// Error envelope middleware: every failure leaves as {"object":"error","type","code","message"} with its
// status. Known errors carry their own code; koa/router HTTP errors are mapped; anything else is a logged 500.

import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { SplError, isSplError } from '../kernel/errors.js';

export function errorEnvelope(logger: Logger) {
  return async function errors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new SplError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}; see GET /health and the /v1 API`);
      }
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined) {
        // Left by router.allowedMethods(), which has already set the Allow header.
        throw new SplError('METHOD_NOT_ALLOWED', ctx.status === 405 ? `${ctx.method} is not allowed on ${ctx.path}` : `${ctx.method} is not supported`);
      }
    } catch (err) {
      const e = toSplError(err, ctx);
      if (e.status >= 500) logger.error({ err, method: ctx.method, path: ctx.path, code: e.code }, 'request failed');
      ctx.status = e.status;
      ctx.body = e.toEnvelope();
      if (e.code === 'METHOD_NOT_ALLOWED' && typeof (err as { headers?: Record<string, string> }).headers?.allow === 'string') {
        ctx.set('Allow', (err as { headers: Record<string, string> }).headers.allow);
      }
    }
  };
}

function toSplError(err: unknown, ctx: Context): SplError {
  if (isSplError(err)) return err;
  const status = (err as { status?: number }).status;
  if (status === 405) return new SplError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}`, { cause: err });
  if (status === 501) return new SplError('METHOD_NOT_ALLOWED', `${ctx.method} is not supported`, { cause: err });
  return new SplError('INTERNAL', 'internal error; the instance log (logs/spl.log) has the details', { cause: err });
}
