// Off-host backups in config.toml's [backup] dest: the runbook's real safety net. The newest
// hub.db.<stamp>.bak there must exist and be recent, with the task data beside it.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expandTilde } from '../instance/home.js';
import { ANY_DATA_ARCHIVE, ANY_STORE_COPY } from '../store/backup-names.js';
import { fail, ok, skip, warn, type Check } from './check.js';
import { formatAge, formatBytes, plural } from './format.js';
import { shellQuote } from './modes.js';

const OFFSITE_BACKUP_MAX_AGE_DAYS = 2;

export const offsiteBackupCheck: Check = {
  id: 'offsite-backup',
  run(ctx) {
    if (!ctx.config) return skip('config.toml does not load (see the config row)');
    if (ctx.config.backup.dest === undefined) return skip(`no [backup] dest in ${ctx.paths.config}, so off-host backups are not checked`);
    const dest = resolve(expandTilde(ctx.config.backup.dest, ctx.env));
    const create = `spl backup create --dest ${shellQuote(dest)}`;
    let names: string[];
    try {
      names = readdirSync(dest);
    } catch {
      return fail(`[backup] dest ${dest} does not exist or cannot be read: no off-host backup to restore from`, create);
    }
    const copies = names
      .filter((n) => ANY_STORE_COPY.test(n))
      .map((n) => ({ name: n, st: statSync(join(dest, n)) }))
      .sort((a, b) => b.st.mtimeMs - a.st.mtimeMs);
    const newest = copies[0];
    if (!newest) return fail(`no hub.db.*.bak in ${dest}: no off-host backup to restore from`, create);
    const ageMs = ctx.now() - newest.st.mtimeMs;
    const facts = `newest ${join(dest, newest.name)}: ${formatAge(ageMs)} old, ${formatBytes(newest.st.size)} (${plural(copies.length, 'copy', 'copies')})`;
    if (ageMs > OFFSITE_BACKUP_MAX_AGE_DAYS * 86_400_000) return warn(`${facts}; older than ${OFFSITE_BACKUP_MAX_AGE_DAYS} days`, create);
    if (existsSync(ctx.paths.dataDir) && !names.some((n) => ANY_DATA_ARCHIVE.test(n))) {
      return warn(`${facts}; but no syncro-data.*.tar.gz beside it: task content is not backed up`, create);
    }
    return ok(facts);
  },
};
