// config.toml parses and validates exactly as spl serve would read it (the same loadConfig), and binds
// where spl will agree to serve.

import { existsSync } from 'node:fs';
import { isSplError } from '../kernel/errors.js';
import { isLoopback } from '../instance/config.js';
import { fail, ok, type Check } from './check.js';

export const configCheck: Check = {
  id: 'config',
  run(ctx) {
    const file = ctx.paths.config;
    if (ctx.configError) {
      const e = ctx.configError;
      return fail(e.message, isSplError(e) && e.fix ? e.fix : `edit ${file}`);
    }
    const c = ctx.config!;
    if (!isLoopback(c.host)) {
      return fail(`server.host ${c.host} is not a loopback address; spl serve refuses to start on it (plain HTTP must not leave the host)`, `set host = "127.0.0.1" under [server] in ${file}`);
    }
    const source = existsSync(file) ? file : `defaults (no ${file} yet; spl serve writes one)`;
    return ok(`${source}: bind ${c.host}:${c.port}, store ${c.storePath}, log level ${c.logLevel}${c.backup.dest ? `, backups to ${c.backup.dest}` : ''}`);
  },
};
