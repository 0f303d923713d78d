// API tokens for TCP clients: spl token create --name N [--actor DID] [--allow-actor DID]… | list | revoke <name>.

import type { Sade } from 'sade';
import type { CreatedToken, ListBody, TokenInfo } from '../../kernel/wire.js';
import { commandContext, type GlobalFlags } from '../context.js';
import { printJson, printTable } from '../output.js';

export function register(prog: Sade): void {
  prog
    .command('token create')
    .describe('Mint a bearer token for TCP clients; the secret is printed once and stored only as a hash')
    .option('--name', 'A name to list and revoke it by')
    .option('--actor', 'The DID requests with this token act as (default: your actor)')
    .option('--allow-actor', 'A further DID this token may write records as (repeatable), e.g. a fleet worker\'s instance DID')
    .example('token create --name ci --actor did:sync:agent:ci')
    .action(async (flags: GlobalFlags & { name?: string; 'allow-actor'?: string | string[] }) => {
      const ctx = commandContext(flags);
      const allow = flags['allow-actor'] === undefined ? [] : ([] as unknown[]).concat(flags['allow-actor']).map(String);
      const res = (await ctx.client().call<CreatedToken>('POST', '/v1/tokens', {
        name: flags.name === undefined ? undefined : String(flags.name), actor: ctx.actor(), ...(allow.length > 0 ? { allow_actors: allow } : {}),
      })).body;
      if (ctx.json) return printJson(res);
      process.stdout.write(`${res.token}\n`);
      const also = res.allowed_actors.length > 0 ? ` (and may write records as ${res.allowed_actors.join(', ')})` : '';
      process.stderr.write(`token ${res.name} acts as ${res.actor}${also}. This is the only time it is shown: store it now (e.g. in ${ctx.paths.tokenFile} with mode 0600, or SPL_TOKEN).\n`);
    });

  prog
    .command('token list')
    .describe('List tokens (names, actors, dates; never the secrets)')
    .action(async (flags: GlobalFlags) => {
      const ctx = commandContext(flags);
      const data = (await ctx.client().call<ListBody<TokenInfo>>('GET', '/v1/tokens')).body.data;
      if (ctx.json) return printJson(data);
      printTable(
        ['NAME', 'ACTOR', 'CREATED', 'STATUS', 'ALSO WRITES AS'],
        data.map((t) => [t.name, t.actor, t.created_at, t.revoked_at ? `revoked ${t.revoked_at}` : 'active', (t.allowed_actors ?? []).join(',') || '-']),
      );
    });

  prog
    .command('token revoke <name>')
    .describe('Revoke a token; requests carrying it get 401 from now on')
    .action(async (name: string, flags: GlobalFlags) => {
      const ctx = commandContext(flags);
      const res = (await ctx.client().call<TokenInfo>('DELETE', `/v1/tokens/${encodeURIComponent(name)}`)).body;
      if (ctx.json) return printJson(res);
      process.stdout.write(`revoked token ${res.name}\n`);
    });
}
