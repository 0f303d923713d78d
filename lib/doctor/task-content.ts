// Task content (SPEC §1, §11): every task's file under <home>-data/tasks/ must be what its records say — present,
// with the sha256 its latest content record holds. A missing file is lost task content (fail); one changed outside
// spl is a warning. Both point at the off-host tarball the runbook's backup script takes.

import { dirname } from 'node:path';
import { TaskFiles } from '../instance/task-files.js';
import type { TaskContentState } from '../kernel/wire.js';
import { fail, ok, skip, warn, type Check } from './check.js';
import { shellQuote } from '../kernel/text.js';
import { plural } from './format.js';

/** How many problem files the row names before it counts the rest. */
const NAMED = 5;

export const taskContentCheck: Check = {
  id: 'task-content',
  async run(ctx) {
    const store = await ctx.store();
    if (store === undefined || store.state !== 'sound') return skip('the store cannot be read (see the store row), so task content cannot be checked against it');
    const tasks = [...store.tasks.byThread.values()];
    if (tasks.length === 0) return ok('no tasks yet');
    const files = new TaskFiles(ctx.paths);
    const problems: Array<{ alias: string; state: TaskContentState }> = [];
    for (const t of tasks) {
      const state = files.check(t.content);
      if (state.state !== 'ok' && state.state !== 'none') problems.push({ alias: t.alias, state });
    }
    if (problems.length === 0) {
      // The backup tar carries aliases.toml: a mirror the instance could not write leaves the tarball without it.
      if (!files.aliasesMirrored(store.tasks)) {
        return warn(`${plural(tasks.length, 'task content file')} match their records, but ${ctx.paths.aliasesFile} does not hold the alias map the records give (the instance could not write it; see its log)`, (await ctx.running()) ? 'spl restart (the instance rewrites it at start and whenever a task is added)' : 'spl serve (the instance rewrites it at start)');
      }
      return ok(`${plural(tasks.length, 'task content file')} in ${ctx.paths.tasksDir} match their records, and aliases.toml mirrors the alias map`);
    }
    const named = problems.slice(0, NAMED).map((p) => `${p.alias} ${p.state.state === 'changed' ? 'changed outside spl' : p.state.state}`).join(', ');
    const more = problems.length > NAMED ? ` and ${problems.length - NAMED} more` : '';
    const summary = `${problems.length} of ${plural(tasks.length, 'task content file')} do not match their records: ${named}${more}`;
    const dest = ctx.config?.backup.dest;
    const fix = `restore ${ctx.paths.dataDir} from your off-host backup: tar -xzf ${dest ? shellQuote(dest) : '$DEST'}/syncro-data.<date>.tar.gz -C ${shellQuote(dirname(ctx.paths.dataDir))} (spl backup list${dest ? '' : ' --dest $DEST'} shows the sets); or record an edited brief with spl task edit <alias> --body-file <file>`;
    return problems.some((p) => p.state.state === 'missing' || p.state.state === 'unreadable') ? fail(summary, fix) : warn(summary, fix);
  },
};
