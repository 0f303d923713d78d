// Credentials on disk: secrets/ (provider API keys, token hashes) 0700 with files 0600, and the CLI's
// token file 0600. World access is a failure; group access a warning.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fail, ok, skip, warn, type Check } from './check.js';
import { plural } from './format.js';
import { chmodFix, describeProblems, looserThan, worldAccessible, type ModeProblem } from './modes.js';

export const secretsCheck: Check = {
  id: 'secrets',
  run(ctx) {
    const p = ctx.paths;
    let dirExists = true;
    try {
      statSync(p.secretsDir);
    } catch {
      dirExists = false;
    }
    let tokenExists = true;
    try {
      statSync(p.tokenFile);
    } catch {
      tokenExists = false;
    }
    if (!dirExists && !tokenExists) return skip(`no ${p.secretsDir} and no ${p.tokenFile}: no credentials stored`);

    const problems: ModeProblem[] = [];
    const files = dirExists ? filesUnder(p.secretsDir) : [];
    if (dirExists) {
      const d = looserThan(p.secretsDir, 0o700);
      if (d) problems.push(d);
    }
    for (const f of tokenExists ? [...files, p.tokenFile] : files) {
      const m = looserThan(f, 0o600);
      if (m) problems.push(m);
    }
    const what = [dirExists ? `${p.secretsDir} (${plural(files.length, 'file')})` : '', tokenExists ? p.tokenFile : ''].filter(Boolean).join(' and ');
    if (problems.some(worldAccessible)) return fail(`credentials open to every local user: ${describeProblems(problems)}`, chmodFix(problems));
    if (problems.length > 0) return warn(`credentials open to the group: ${describeProblems(problems)}`, chmodFix(problems));
    return ok(`${what}: owner-only (directories 0700, files 0600)`);
  },
};

/** Every file below `dir` (secrets/ is small; nested directories are walked too). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}
