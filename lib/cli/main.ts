// The spl command line: parses with sade, runs the command, prints errors with their fix and exit code.

import sade from 'sade';
import { isSplError } from '../kernel/errors.js';
import { splVersion } from '../instance/version.js';
import { register as registerBackup } from './commands/backup.js';
import { register as registerConfig } from './commands/config.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerExpr } from './commands/expr.js';
import { register as registerLifecycle } from './commands/lifecycle.js';
import { register as registerLogs } from './commands/logs.js';
import { register as registerRecords } from './commands/records.js';
import { register as registerThread } from './commands/thread.js';
import { register as registerToken } from './commands/token.js';
import { register as registerTrust } from './commands/trust.js';

export async function main(argv: string[]): Promise<void> {
  // `spl thread records … | head` closes our stdout early; that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const prog = sade('spl').version(splVersion());
  prog.option('-o, --output', 'Output format for read commands: text or json', 'text');
  registerLifecycle(prog);
  registerRecords(prog);
  registerThread(prog);
  registerLogs(prog);
  registerConfig(prog);
  registerTrust(prog);
  registerToken(prog);
  registerExpr(prog);
  registerBackup(prog);
  registerDoctor(prog);

  const parsed = prog.parse(argv, { lazy: true });
  if (!parsed) return; // --help or --version was printed
  try {
    await parsed.handler(...parsed.args);
  } catch (err) {
    if (isSplError(err)) {
      process.stderr.write(`spl: ${err.message}\n`);
      if (err.fix) process.stderr.write(`fix: ${err.fix}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}
