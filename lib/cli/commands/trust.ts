// spl trust [--actor A] [--domain D]: trust scores derived from KNOW verdicts (SPEC §4).

import type { Sade } from 'sade';
import type { TrustRow } from '../../engine/folds/trust.js';
import { commandContext, type GlobalFlags } from '../context.js';
import { printJson, printTable } from '../output.js';

export function register(prog: Sade): void {
  prog
    .command('trust')
    .describe('Show trust per actor and domain: Wilson lower bound over age-weighted verdicts')
    .option('--actor', 'Only this actor')
    .option('--domain', 'Only this domain')
    .example('trust --domain code')
    .action(async (flags: GlobalFlags & { domain?: string }) => {
      const ctx = commandContext(flags);
      const q = new URLSearchParams();
      if (typeof flags.actor === 'string') q.set('actor', flags.actor);
      if (typeof flags.domain === 'string') q.set('domain', flags.domain);
      const res = (await ctx.client().call<{ data: TrustRow[] }>('GET', `/v1/trust${q.size ? '?' + q.toString() : ''}`)).body;
      if (ctx.json) return printJson(res.data);
      if (res.data.length === 0) {
        process.stdout.write('no trust evidence yet (KNOW records with verdict, domain and judged_by from another actor)\n');
        return;
      }
      printTable(['ACTOR', 'DOMAIN', 'SUCCESS', 'TOTAL', 'TRUST'], res.data.map((r) => [r.actor, r.domain, r.success, r.total, r.trust.toFixed(3)]));
    });
}
