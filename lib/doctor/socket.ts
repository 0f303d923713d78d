// The unix socket the local CLI talks to: present and answering while the instance runs, absent when it
// does not (a leftover file is stale), mode 0600, and short enough for the kernel to bind.

import { lstatSync } from 'node:fs';
import { MAX_SOCKET_PATH } from '../instance/instance.js';
import { fail, ok, warn, type Check } from './check.js';
import { formatMode } from './format.js';
import { shellQuote } from './modes.js';

export const socketCheck: Check = {
  id: 'socket',
  async run(ctx) {
    const path = ctx.paths.socket;
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      return fail(`the socket path ${path} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket allows; spl serve cannot bind it`, 'set SYNCROPEL_HOME to a shorter path');
    }
    let st;
    try {
      st = lstatSync(path);
    } catch {
      if (await ctx.running()) return warn(`the instance runs but ${path} is missing: local commands fall back to TCP, which needs a token`, 'spl restart');
      return ok(`no socket at ${path} (the instance is not running)`);
    }
    const rm = `rm -f ${shellQuote(path)}`;
    if (!st.isSocket()) return warn(`${path} exists but is not a socket; spl serve replaces only sockets`, rm);
    const mode = st.mode & 0o777;
    const modeNote = mode === 0o600 ? 'mode 0600' : `mode ${formatMode(mode)}, want 0600`;
    const answer = await ctx.socketHealth();
    if (answer?.answered) {
      if (mode !== 0o600) return warn(`${path} answers but is ${formatMode(mode)}: other local users may act through it`, `chmod 600 ${shellQuote(path)}`);
      return ok(`${path} answers (HTTP ${answer.httpStatus}), ${modeNote}`);
    }
    const error = answer?.answered === false ? answer.error : 'no answer';
    if (error === 'EACCES') return warn(`${path} refuses this user (EACCES): run spl doctor as the user the instance runs as`, `sudo -u '#${st.uid}' spl doctor`);
    if (await ctx.running()) return warn(`the instance runs but ${path} does not answer (${error})`, 'spl restart');
    return warn(`stale socket file ${path}: nothing listens on it (${error}); spl serve replaces it`, rm);
  },
};
