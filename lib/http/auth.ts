// Authentication: the unix socket is trusted by its file mode (0600 in a 0700 directory); TCP requests need
// `Authorization: Bearer spl_…` except GET /health, unless the instance runs with --insecure-localhost.

import type { Context, Next } from 'koa';
import { isDid } from '../kernel/did.js';
import { SplError } from '../kernel/errors.js';
import type { ApiDeps } from './context.js';

export const ACTOR_HEADER = 'x-spl-actor';

export function authenticate(deps: ApiDeps) {
  return async function auth(ctx: Context, next: Next): Promise<void> {
    if (ctx.state.transport === 'socket') {
      const claimed = ctx.get(ACTOR_HEADER);
      if (claimed !== '' && !isDid(claimed)) throw new SplError('INVALID_REQUEST', `${ACTOR_HEADER}: ${claimed} is not a DID`, { field: ACTOR_HEADER });
      ctx.state.actor = claimed || deps.auth.adminActor;
      return next();
    }
    if (ctx.path === '/health') return next();
    const header = ctx.get('authorization');
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (m) {
      const token = deps.tokens.verify(m[1]!);
      if (!token) {
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
    throw new SplError('AUTH_REQUIRED', `TCP requests need 'Authorization: Bearer <token>'${header ? ' (the header is not a bearer token)' : ''}`, {
      fix: 'mint one on the instance host with: spl token create --name <name> (then set SPL_TOKEN), or use the unix socket',
    });
  };
}
