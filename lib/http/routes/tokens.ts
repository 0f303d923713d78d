// Token management: create (secret shown once), list (never secrets), revoke.

import type Router from '@koa/router';
import { isDid } from '../../kernel/did.js';
import { SplError } from '../../kernel/errors.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiState } from '../context.js';

export function tokenRoutes(router: Router<ApiState>, deps: ApiDeps): void {
  router.post('/v1/tokens', async (ctx) => {
    const body = (await readJson(ctx, deps.bodyLimit)) as { name?: unknown; actor?: unknown };
    if (typeof body !== 'object' || body === null) throw new SplError('INVALID_REQUEST', 'send {"name": "...", "actor": "did:…"}');
    if (typeof body.name !== 'string') throw new SplError('INVALID_REQUEST', 'name: required, a string', { field: 'name' });
    const actor = body.actor ?? ctx.state.actor;
    if (typeof actor !== 'string' || !isDid(actor)) throw new SplError('INVALID_REQUEST', 'actor: must be a DID', { field: 'actor' });
    const { secret, info } = deps.tokens.create(body.name, actor);
    deps.logger.child({ target: 'syncropel_http::auth' }).info({ actor: info.actor, token: info.name }, 'token created');
    ctx.status = 201;
    ctx.body = { object: 'token', ...info, token: secret };
  });

  router.get('/v1/tokens', (ctx) => {
    ctx.body = { object: 'list', data: deps.tokens.list() };
  });

  router.delete('/v1/tokens/:name', (ctx) => {
    const info = deps.tokens.revoke(ctx.params.name!);
    deps.logger.child({ target: 'syncropel_http::auth' }).info({ actor: info.actor, token: info.name }, 'token revoked');
    ctx.body = { object: 'token', ...info };
  });
}
