// config.toml parses and validates exactly as spl serve would read it (the same loadInstanceConfig), and binds
// where spl will agree to serve.

import { existsSync } from 'node:fs';
import { isSplError } from '../kernel/errors.js';
import { isLoopback } from '../instance/config-file.js';
import { fail, ok, warn, type Check } from './check.js';

export const configCheck: Check = {
  id: 'config',
  run(ctx) {
    const file = ctx.paths.config;
    if (ctx.configError) {
      const e = ctx.configError;
      return fail(e.message, isSplError(e) && e.fix ? e.fix : `edit ${file}`);
    }
    const c = ctx.config!;
    const source = existsSync(file) ? file : `defaults (no ${file} yet; spl serve writes one)`;
    if (!isLoopback(c.host)) {
      return warn(
        `${source}: bind ${c.host}:${c.port} is reachable beyond this host: every TCP request but /health needs a bearer token, and the traffic is plain HTTP`,
        `keep it inside a private network or behind a TLS proxy; set host = "127.0.0.1" under [server] in ${file} for loopback only`,
      );
    }
    return ok(`${source}: bind ${c.host}:${c.port}, store ${c.storePath}, log level ${c.logLevel}${c.backup.dest ? `, backups to ${c.backup.dest}` : ''}`);
  },
};
