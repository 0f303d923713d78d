// Runs a command line against the command groups given: parses with sade, runs the command, prints errors with
// their fix and exit code. Shared by dist/cli/main.js and the bundled groups in dist/cjs/.

import { createRequire } from 'node:module';
import type { Sade } from 'sade';
import { isSplError } from '../kernel/errors.js';
import { splVersion } from '../instance/version.js';
// Required as CommonJS: importing it as ESM makes node scan its source for export names on every call (~1 ms).
const sade = createRequire(import.meta.url)('sade') as typeof import('sade');

export interface CommandModule {
  register(prog: Sade): void;
}

export async function run(argv: string[], modules: readonly CommandModule[]): Promise<void> {
  // `spl thread records … | head` closes our stdout early; that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const prog = sade('spl').version(splVersion());
  prog.option('-o, --output', 'Output format for read commands: text or json', 'text');
  for (const m of modules) m.register(prog);

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
