// spl expr check|eval '<cel>' --context C [--record JSON]; spl health check.

import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import { commandContext, type GlobalFlags } from '../context.js';
import { printJson, printTable } from '../output.js';

interface ExprFlags extends GlobalFlags {
  context?: string;
  record?: string;
  resource?: string;
}

interface ExprResult {
  ok: boolean;
  value?: unknown;
  type?: string;
  error?: string;
  stage?: string;
}

export function register(prog: Sade): void {
  for (const op of ['check', 'eval'] as const) {
    prog
      .command(`expr ${op} <expression>`)
      .describe(op === 'check' ? 'Check that a CEL expression compiles in a context' : 'Evaluate a CEL expression against the running instance (trust(), now())')
      .option('--context', 'permission | routing | health_check', 'permission')
      .option('--record', 'JSON object bound to `record`')
      .option('--resource', 'Resource bound in the permission context', 'record_read')
      .example(`expr ${op} 'record.act == "INTEND"' --context routing --record '{"act":"INTEND","body":{}}'`)
      .action(async (expression: string, flags: ExprFlags) => {
        const ctx = commandContext(flags);
        let record: unknown = null;
        if (flags.record !== undefined) {
          try {
            record = JSON.parse(String(flags.record));
          } catch (err) {
            throw new SplError('USAGE', `--record is not valid JSON: ${(err as Error).message}`);
          }
        }
        const res = (await ctx.client().call<ExprResult>('POST', '/v1/engine/expr', { expression: String(expression), context: flags.context ?? 'permission', record, resource: flags.resource, evaluate: op === 'eval' })).body;
        if (ctx.json) printJson(res);
        else if (!res.ok) process.stderr.write(`spl: ${res.error}\n`);
        else if (op === 'check') process.stdout.write('ok\n');
        else process.stdout.write(`${JSON.stringify(res.value)} (${res.type})\n`);
        if (!res.ok) process.exitCode = 2;
      });
  }

  prog
    .command('health check')
    .describe('Evaluate the health rules now (exit 1 when any fails)')
    .action(async (flags: GlobalFlags) => {
      const ctx = commandContext(flags);
      const res = (await ctx.client().call<{ status: string; checks: Array<{ name: string; ok: boolean; error?: string }> }>('GET', '/v1/engine/health')).body;
      if (ctx.json) printJson(res);
      else if (res.checks.length === 0) process.stdout.write('no health rules; add one with spl config add-health <name> --expression \'records >= 0\'\n');
      else {
        printTable(['CHECK', 'RESULT', 'DETAIL'], res.checks.map((c) => [c.name, c.ok ? 'ok' : 'FAIL', c.error ?? '']));
        process.stdout.write(`health: ${res.status}\n`);
      }
      if (res.status === 'failing') process.exitCode = 1;
    });
}
