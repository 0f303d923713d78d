// Token management: create (secret shown once), list (never secrets), revoke.

import { isDid } from '../../kernel/did.js';
import { SplError } from '../../kernel/errors.js';
import type { CreatedToken, ListBody, TokenInfo } from '../../kernel/wire.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiState } from '../context.js';
import { type Routes } from '../route.js';
import { assertClaim } from '../claims.js';

export function tokenRoutes(api: Routes, deps: ApiDeps): void {
  api.post('/v1/tokens', 'config_write', async (ctx) => {
    const body = (await readJson(ctx, deps.bodyLimit)) as { name?: unknown; actor?: unknown; allow_actors?: unknown };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SplError('INVALID_REQUEST', 'send {"name": "...", "actor": "did:…", "allow_actors": ["did:…"]}');
    if (typeof body.name !== 'string') throw new SplError('INVALID_REQUEST', 'name: required, a string', { field: 'name' });
    const actor = body.actor ?? ctx.state.actor;
    if (typeof actor !== 'string' || !isDid(actor)) throw new SplError('INVALID_REQUEST', 'actor: must be a DID', { field: 'actor' });
    const allow = body.allow_actors ?? [];
    if (!Array.isArray(allow) || allow.some((d) => typeof d !== 'string' || !isDid(d))) {
      throw new SplError('INVALID_REQUEST', 'allow_actors: must be a list of DIDs', { field: 'allow_actors' });
    }
    // A token speaks for its actors: over TCP a caller cannot mint one for a DID it may not claim itself.
    for (const did of [actor, ...(allow as string[])]) assertClaim(ctx, did, 'mint a token for');
    const { secret, info } = deps.tokens.create(body.name, actor, allow as string[]);
    deps.logger.child({ target: 'syncropel_http::auth' }).info(
      { requester: ctx.state.actor, via: requesterVia(ctx.state), token: info.name, actor: info.actor, ...(info.allowed_actors.length > 0 ? { allowed_actors: info.allowed_actors } : {}) },
      `token created: ${info.name} for ${info.actor} by ${ctx.state.actor}`,
    );
    ctx.status = 201;
    ctx.body = { object: 'token', ...info, token: secret } satisfies CreatedToken;
  });

  api.get('/v1/tokens', 'config_write', (ctx) => {
    ctx.body = { object: 'list', data: deps.tokens.list() } satisfies ListBody<TokenInfo>;
  });

  api.delete('/v1/tokens/:name', 'config_write', (ctx) => {
    const info = deps.tokens.revoke(ctx.params.name!);
    deps.logger.child({ target: 'syncropel_http::auth' }).info(
      { requester: ctx.state.actor, via: requesterVia(ctx.state), token: info.name, actor: info.actor },
      `token revoked: ${info.name} (for ${info.actor}) by ${ctx.state.actor}`,
    );
    ctx.body = { object: 'token', ...info } satisfies TokenInfo & { object: 'token' };
  });
}

/** How the requester reached the instance: `token <name>`, the unix socket, or unauthenticated loopback TCP. */
function requesterVia(state: ApiState): string {
  if (state.transport === 'socket') return 'socket';
  return state.token !== undefined ? `token ${state.token}` : 'tcp (--insecure-localhost)';
}
