// Authentication: the unix socket is trusted by its file mode (0600 in a 0700 directory); TCP requests need
// `Authorization: Bearer spl_…` unless the instance runs with --insecure-localhost. Routes declared open (/health)
// never come here (route.ts).
// Failed credentials are counted per TCP peer (auth-guard.ts): a peer that keeps failing is locked out, and
// while it is, its requests whose credentials fail get 429 instead of 401. A valid token still passes: every
// local client shares 127.0.0.1, and one process with a stale token must not lock out the others (a guess at a
// 256-bit secret gains nothing from being answered).

import type { Context, Next } from 'koa';
import { isDid } from '../kernel/did.js';
import { SplError } from '../kernel/errors.js';
import { AuthGuard, peerAddress, type Verdict } from './auth-guard.js';
import type { ApiDeps } from './context.js';

const ACTOR_HEADER = 'x-spl-actor';

export function authenticate(deps: ApiDeps) {
  const guard = deps.authGuard ?? new AuthGuard({ logger: deps.logger, ...(deps.now ? { now: deps.now } : {}) });
  return async function auth(ctx: Context, next: Next): Promise<void> {
    if (ctx.state.transport === 'socket') {
      const claimed = ctx.get(ACTOR_HEADER);
      if (claimed !== '' && !isDid(claimed)) throw new SplError('INVALID_REQUEST', `${ACTOR_HEADER}: ${claimed} is not a DID`, { field: ACTOR_HEADER });
      ctx.state.actor = claimed || deps.auth.adminActor;
      return next();
    }
    const header = ctx.get('authorization');
    // The socket's address, never a forwarding header: those say whatever the client wants.
    const peer = peerAddress(ctx.req.socket.remoteAddress);
    const refuseIfLocked = (): void => {
      const verdict = guard.check(peer);
      if (verdict.locked) throw rateLimited(ctx, peer, verdict);
    };
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (m) {
      const token = deps.tokens.verify(m[1]!);
      if (!token) {
        refuseIfLocked();
        guard.fail(peer, 'unknown_token');
        throw new SplError('AUTH_REQUIRED', 'the bearer token is not valid (unknown or revoked)', { fix: 'spl token list shows the active tokens; spl token create --name <name> mints a new one' });
      }
      ctx.state.actor = token.actor;
      ctx.state.token = token.name;
      ctx.state.claims = [token.actor, ...token.allowed_actors.filter((d) => d !== token.actor)];
      return next();
    }
    if (!deps.auth.tcpRequiresToken) {
      ctx.state.actor = deps.auth.adminActor;
      return next();
    }
    // No Authorization header at all is not counted: it guesses nothing, and a client that merely lacks
    // SPL_TOKEN must not lock out every other local client sharing its address.
    if (header) {
      refuseIfLocked();
      guard.fail(peer, 'malformed_header');
    }
    throw new SplError('AUTH_REQUIRED', `TCP requests need 'Authorization: Bearer <token>'${header ? ' (the header is not a bearer token)' : ''}`, {
      fix: 'mint one on the instance host with: spl token create --name <name> (then set SPL_TOKEN), or use the unix socket',
    });
  };
}

function rateLimited(ctx: Context, peer: string, verdict: Extract<Verdict, { locked: true }>): SplError {
  const until = new Date(verdict.until).toISOString();
  ctx.set('Retry-After', String(verdict.retryAfterSecs));
  return new SplError('RATE_LIMITED', `too many failed credentials from ${peer}: locked out until ${until}; retry in ${verdict.retryAfterSecs}s`, {
    fix: `retry after ${until} with a valid token (spl token list; spl token create --name <name>); on the instance host the unix socket is not throttled`,
  });
}
