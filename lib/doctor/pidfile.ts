// The PID file: absent, naming the running spl serve, or stale (no such process, or not spl) — the
// runbook's "run/spl.pid exists but no process" and "stop says not running but the instance clearly is".

import { existsSync } from 'node:fs';
import { commandLine } from '../instance/pidfile.js';
import { ok, warn, type Check } from './check.js';
import { shellQuote } from './modes.js';

export const pidFileCheck: Check = {
  id: 'pidfile',
  async run(ctx) {
    const file = ctx.paths.pidFile;
    const rm = `rm -f ${shellQuote(file)}`;
    const pid = ctx.pid;
    if (pid.state === 'running') return ok(`${file} names pid ${pid.pid}, a running spl serve (${commandLine(pid.pid) ?? 'command line not visible'})`);
    if (pid.state === 'stale') return warn(`stale PID file ${file}: ${pid.reason}; spl serve replaces it, spl stop ignores it`, rm);
    const answering = await ctx.health();
    if (answering) {
      return warn(`no live PID file, but an instance answers on ${answering.target}: the PID file was lost (reboot, clobbered) and spl stop must find the instance another way`, 'spl stop && spl serve');
    }
    if (existsSync(file)) return warn(`${file} exists but holds no process id`, rm);
    return ok('no PID file: the instance is not running');
  },
};
