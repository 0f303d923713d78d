// spl doctor [--json]: the top-down audit (lib/doctor), printed one row per check. Works with the
// instance down and never needs config.toml to load, so it builds no CommandContext.

import { userInfo } from 'node:os';
import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import { runDoctor, type Report } from '../../doctor/runner.js';
import { overridesFrom, type GlobalFlags } from '../context.js';
import { printJson } from '../output.js';

export function register(prog: Sade): void {
  prog
    .command('doctor')
    .describe('Audit this instance top-down, running or not: home and modes, PID file, port, socket, /health, config, store, engine config, permissions, backups, secrets, disk, memory, systemd (exit 0 ok, 1 warn, 2 fail)')
    .option('--json', 'Print the report as JSON (same as -o json)')
    .option('--port', 'The TCP port the instance was started with (default: config.toml)')
    .option('--host', 'The address the instance was started with (default: config.toml)')
    .example('doctor')
    .example('doctor --json')
    .action(async (flags: GlobalFlags & { json?: boolean }) => {
      const output = flags.output ?? flags.o ?? 'text';
      if (output !== 'text' && output !== 'json') throw new SplError('USAGE', `-o/--output must be text or json (got ${String(output)})`);
      const report = await runDoctor({ env: process.env, overrides: overridesFrom(flags), osUser: osUser() });
      if (flags.json || output === 'json') printJson({ home: report.home, exit_code: report.exitCode, counts: report.counts, checks: report.checks });
      else printReport(report);
      process.exitCode = report.exitCode;
    });
}

function printReport(report: Report): void {
  const idWidth = Math.max(...report.checks.map((r) => r.id.length)) + 2;
  for (const r of report.checks) {
    process.stdout.write(`${r.status.padEnd(6)}${r.id.padEnd(idWidth)}${r.summary}\n`);
    if (r.fix !== undefined && (r.status === 'warn' || r.status === 'fail')) process.stdout.write(`${' '.repeat(6 + idWidth)}fix: ${r.fix}\n`);
  }
  const c = report.counts;
  const verdict = report.exitCode === 0 ? 'healthy' : report.exitCode === 1 ? 'needs attention' : 'broken';
  process.stdout.write(`\n${report.home}: ${verdict} — ${c.ok} ok, ${c.warn} warn, ${c.fail} fail, ${c.skip} skipped\n`);
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
