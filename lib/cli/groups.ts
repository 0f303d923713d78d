// The command groups, by the first word of their commands, and the modules under commands/ that register them.
// Only the group a command belongs to is loaded: a call pays for its own modules (koa and CEL for serve, tar for
// backups), not for every command's. The build bundles each group into dist/cjs/<name>.cjs (tools/bundle-cli.mjs)
// for bin/spl; dist/cli/main.js loads them as ES modules.

export interface CommandGroup {
  /** The bundle's name: dist/cjs/<name>.cjs. */
  readonly name: string;
  readonly words: readonly string[];
  /** Modules in lib/cli/commands/, each exporting register(prog). */
  readonly modules: readonly string[];
  /** Words that always run from dist/ as ES modules, never from the bundle (why: beside the group). */
  readonly fromDist?: readonly string[];
}

export const GROUPS: readonly CommandGroup[] = [
  // serve: the instance (serve --foreground, and the launcher that forks it) runs wholly from dist/, one copy of
  // each module, for ~18 ms once.
  { name: 'lifecycle', words: ['init', 'serve', 'stop', 'reload', 'restart', 'status', 'version'], modules: ['lifecycle'], fromDist: ['serve'] },
  { name: 'records', words: ['intend', 'do', 'know', 'learn'], modules: ['records'] },
  { name: 'thread', words: ['thread'], modules: ['thread'] },
  { name: 'task', words: ['task'], modules: ['task', 'task-dispatch'] },
  { name: 'adapter', words: ['adapter'], modules: ['adapter'] },
  { name: 'run', words: ['run'], modules: ['run'] },
  { name: 'fleet', words: ['fleet'], modules: ['fleet'] },
  { name: 'kill', words: ['kill', 'unkill'], modules: ['kill'] },
  { name: 'logs', words: ['logs'], modules: ['logs'] },
  { name: 'config', words: ['config'], modules: ['engine-config'] },
  { name: 'trust', words: ['trust'], modules: ['trust'] },
  { name: 'token', words: ['token'], modules: ['token'] },
  { name: 'expr', words: ['expr', 'health'], modules: ['expr'] },
  { name: 'backup', words: ['backup'], modules: ['backup'] },
  // The fold checkpoint row compares the folds' fingerprints, which hash their source as dist/ has it (a bundle
  // rewrites it), with the ones the instance wrote. No word left: no bundle is made.
  { name: 'doctor', words: ['doctor'], modules: ['doctor'], fromDist: ['doctor'] },
];

/** The words bin/spl runs from the group's bundle; a group without any is not bundled. */
export function bundledWords(g: CommandGroup): string[] {
  return g.words.filter((w) => !g.fromDist?.includes(w));
}

/** The first argument that is not an option: the command's first word (bin/spl applies the same rule). */
export function commandWord(argv: readonly string[]): string | undefined {
  for (const a of argv.slice(2)) if (!a.startsWith('-')) return a;
  return undefined;
}
