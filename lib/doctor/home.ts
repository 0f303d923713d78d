// The home exists, is a directory, and its directories (0700) and private files (0600) are no looser than
// spl makes them; everything in it belongs to the home's owner.

import { existsSync, statSync } from 'node:fs';
import { fail, ok, warn, type Check } from './check.js';
import { chmodFix, describeProblems, looserThan, ownedByOthers, shellQuote, type ModeProblem } from './modes.js';

export const homeCheck: Check = {
  id: 'home',
  run(ctx) {
    const p = ctx.paths;
    let st;
    try {
      st = statSync(p.home);
    } catch {
      const how = ctx.env.SYNCROPEL_HOME ? 'SYNCROPEL_HOME points there' : 'SYNCROPEL_HOME is unset, so ~/.syncro is used';
      return fail(`no instance home at ${p.home} (${how}); nothing has been initialised here`, 'spl init');
    }
    if (!st.isDirectory()) return fail(`${p.home} is not a directory`, `mv ${shellQuote(p.home)} ${shellQuote(p.home)}.aside && spl init`);

    const problems: ModeProblem[] = [];
    for (const dir of [p.home, p.runDir, p.keysDir, p.logsDir]) {
      const m = looserThan(dir, 0o700);
      if (m) problems.push(m);
    }
    for (const file of [p.instanceKey, p.config]) {
      const m = looserThan(file, 0o600);
      if (m) problems.push(m);
    }
    const foreign = ownedByOthers([p.runDir, p.keysDir, p.logsDir, p.instanceKey, p.config, p.pidFile, p.logFile], st.uid);
    const id = ctx.identity();

    if (id.error) return fail(id.error, `mv ${shellQuote(p.instanceKey)} ${shellQuote(p.instanceKey)}.aside (the instance DID will change on the next spl serve)`);
    if (problems.length > 0) return warn(`modes looser than spl sets: ${describeProblems(problems)}`, chmodFix(problems));
    if (foreign.length > 0) {
      return warn(`not owned by the home's owner (uid ${st.uid}): ${foreign.join(', ')}; the instance may not be able to write them`, `chown ${st.uid} ${foreign.map(shellQuote).join(' ')}`);
    }
    if (!existsSync(p.dataDir)) {
      return warn(`task data directory ${p.dataDir} is missing (the runbook's backup script tars it)`, `mkdir -p -m 700 ${shellQuote(p.tasksDir)}`);
    }
    const who = id.did ?? 'no instance key yet (created on first spl serve)';
    return ok(`${p.home}: directories 0700, key and config 0600; ${who}`);
  },
};
