// Records are written by who is calling. Over TCP a request may only name, as a record's actor (or as the actor
// of a token it mints), the DID its bearer token acts as or one the token was minted to speak for
// (`spl token create --actor DID --allow-actor DID…`). The unix socket is trusted by its file mode, and so is
// TCP under --insecure-localhost: both may name any actor (the runbook's `SPL_ACTOR=… spl task done`).

import type { Context } from 'koa';
import { SplError } from '../kernel/errors.js';
import type { ApiState } from './context.js';

export function assertClaim(ctx: Context, did: string, what = 'write a record as'): void {
  const state = ctx.state as ApiState;
  const claims = state.claims;
  if (claims === undefined || claims.includes(did)) return;
  const token = state.token ?? '(unnamed)';
  const may = claims.length === 1 ? claims[0]! : `${claims[0]} (or ${claims.slice(1).join(', ')})`;
  throw new SplError('DID_CLAIM_DENIED', `token ${token} acts as ${may}; it may not ${what} ${did}`, {
    field: 'actor',
    fix: `send records as ${claims[0]}, or mint a token that may claim ${did} on the instance host: spl token create --name <name> --actor ${did} (or --allow-actor ${did})`,
  });
}
