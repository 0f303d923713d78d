// The startup backup outside the home (SPEC §9): present, sound, recent, and holding at least as many
// records as the store — the runbook's trap is a backup silently worse than what it protects.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listGenerations } from '../instance/startup-backup.js';
import { STARTUP_BACKUP } from '../store/backup-names.js';
import { inspectStoreFile } from '../store/inspect.js';
import { ok, skip, warn, type Check } from './check.js';
import { formatAge, formatBytes, plural } from './format.js';
import { chmodFix, describeProblems, looserThan, shellQuote, type ModeProblem } from './modes.js';

const STARTUP_BACKUP_MAX_AGE_DAYS = 7;

export const backupsCheck: Check = {
  id: 'backups',
  async run(ctx) {
    if (!existsSync(ctx.paths.home)) return skip(`no instance home at ${ctx.paths.home}: nothing to back up yet`);
    const dir = ctx.backupDir();
    const file = join(dir, STARTUP_BACKUP);
    // Every start takes a verified startup backup.
    const retake = (await ctx.running()) ? 'spl restart' : 'spl serve';
    // A backup holds every record: any file here that others can read is a leak, whatever else is found.
    const loose = looseBackupFiles([dir, ...(ctx.config?.backup.dest ? [ctx.config.backup.dest] : [])]);
    const leak = loose.length > 0
      ? { text: `backup files are readable by others: ${describeProblems(loose.slice(0, 5))}${loose.length > 5 ? ` and ${loose.length - 5} more` : ''}`, fix: chmodFix(loose) }
      : undefined;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(file).mtimeMs;
    } catch {
      return warn(`no startup backup at ${file} (every spl serve takes one)${leak ? `; ${leak.text}` : ''}`, retake);
    }
    const backup = await inspectStoreFile(file);
    if (!backup.ok) return warn(`${file} fails quick_check (${backup.problems.slice(0, 2).join('; ')}): it cannot restore anything${leak ? `; ${leak.text}` : ''}`, retake);

    const ageMs = ctx.now() - mtimeMs;
    const generations = listGenerations(dir).length;
    const facts = `${file}: ${plural(backup.records, 'record')}, ${formatBytes(backup.bytes)}, ${formatAge(ageMs)} old${generations > 0 ? `, ${plural(generations, 'older generation')} kept` : ''}`;
    const problems: Array<{ text: string; fix: string }> = [];
    const store = await ctx.store();
    if (store?.state === 'sound' && store.records < backup.records) {
      problems.push({
        text: `the store holds fewer records than its backup (${store.records} < ${backup.records}): records were lost from ${store.path}`,
        fix: `spl stop; spl backup restore ${shellQuote(file)}; spl serve`,
      });
    }
    if (ageMs > STARTUP_BACKUP_MAX_AGE_DAYS * 86_400_000) problems.push({ text: `older than ${STARTUP_BACKUP_MAX_AGE_DAYS} days`, fix: retake });
    if (leak) problems.push(leak);
    if (problems.length > 0) return warn(`${facts}; ${problems.map((p) => p.text).join('; ')}`, problems[0]!.fix);
    // Records written since the last start are not in the startup backup by design: that is what
    // off-host backups (spl backup create) are for, so it is reported, not warned about.
    if (store?.state === 'sound' && backup.records < store.records) {
      return ok(`${facts}; ${store.records - backup.records} records written since it was taken (the next start or spl backup create captures them)`);
    }
    return ok(store?.state === 'sound' ? `${facts}, as many as the store` : facts);
  },
};

/** Files in the backup directories with any group or other bit: every backup file must be 0600. */
function looseBackupFiles(dirs: string[]): ModeProblem[] {
  const out: ModeProblem[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const p = looserThan(join(dir, n), 0o600);
      if (p && statSync(p.path).isFile()) out.push(p);
    }
  }
  return out;
}
