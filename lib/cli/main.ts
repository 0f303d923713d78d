// The spl command line: parses with sade, runs the command, prints errors with their fix and exit code.

import { createRequire } from 'node:module';
import type { Sade } from 'sade';
import { isSplError } from '../kernel/errors.js';
import { splVersion } from '../instance/version.js';
// Required as CommonJS: importing it as ESM makes node scan its source for export names on every call (~1 ms).
const sade = createRequire(import.meta.url)('sade') as typeof import('sade');

type Register = (prog: Sade) => void;

/**
 * Command groups, by the first word of their commands. Only the group a command belongs to is loaded: a call pays
 * for its own modules (koa and CEL for serve, tar for backups), not for every command's. --help without a command,
 * or an unknown command, loads them all so the help and the error can list everything.
 */
const GROUPS: Array<{ words: readonly string[]; load: () => Promise<{ register: Register }> }> = [
  { words: ['init', 'serve', 'stop', 'reload', 'restart', 'status', 'version'], load: () => import('./commands/lifecycle.js') },
  { words: ['intend', 'do', 'know', 'learn'], load: () => import('./commands/records.js') },
  { words: ['thread'], load: () => import('./commands/thread.js') },
  { words: ['task'], load: async () => {
    const [task, dispatch] = await Promise.all([import('./commands/task.js'), import('./commands/task-dispatch.js')]);
    return { register: (prog: Sade) => { task.register(prog); dispatch.register(prog); } };
  } },
  { words: ['adapter'], load: () => import('./commands/adapter.js') },
  { words: ['run'], load: () => import('./commands/run.js') },
  { words: ['fleet'], load: () => import('./commands/fleet.js') },
  { words: ['kill', 'unkill'], load: () => import('./commands/kill.js') },
  { words: ['logs'], load: () => import('./commands/logs.js') },
  { words: ['config'], load: () => import('./commands/engine-config.js') },
  { words: ['trust'], load: () => import('./commands/trust.js') },
  { words: ['token'], load: () => import('./commands/token.js') },
  { words: ['expr', 'health'], load: () => import('./commands/expr.js') },
  { words: ['backup'], load: () => import('./commands/backup.js') },
  { words: ['doctor'], load: () => import('./commands/doctor.js') },
];

/** The first argument that is not an option: the command's first word. */
function commandWord(argv: readonly string[]): string | undefined {
  for (const a of argv.slice(2)) if (!a.startsWith('-')) return a;
  return undefined;
}

export async function main(argv: string[]): Promise<void> {
  // `spl thread records … | head` closes our stdout early; that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const prog = sade('spl').version(splVersion());
  prog.option('-o, --output', 'Output format for read commands: text or json', 'text');
  const word = commandWord(argv);
  const group = GROUPS.find((g) => word !== undefined && g.words.includes(word));
  for (const g of group ? [group] : GROUPS) (await g.load()).register(prog);

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
