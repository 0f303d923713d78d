// The spl command line as ES modules: loads the group a command belongs to (every group for --help alone or an
// unknown command, so the help and the error can list everything) and runs it. bin/spl runs the bundled group
// from dist/cjs/ instead when the build made one (tools/bundle-cli.mjs); both run the same modules.

import { commandWord, GROUPS } from './groups.js';
import { run, type CommandModule } from './run.js';

async function load(modules: readonly string[]): Promise<CommandModule[]> {
  return Promise.all(modules.map((m) => import(`./commands/${m}.js`) as Promise<CommandModule>));
}

export async function main(argv: string[]): Promise<void> {
  const word = commandWord(argv);
  const group = GROUPS.find((g) => word !== undefined && g.words.includes(word));
  const modules = await load((group ? [group] : GROUPS).flatMap((g) => g.modules));
  await run(argv, modules);
}
