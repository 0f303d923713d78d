// config.toml parses and validates exactly as spl serve would read it (the same loadInstanceConfig), and binds
// where spl will agree to serve: beyond loopback, HTTPS with a certificate and key that load, or a WARN that the
// traffic is plain HTTP.

import { existsSync } from 'node:fs';
import { isSplError } from '../kernel/errors.js';
import { isLoopback, type InstanceConfig } from '../instance/config-file.js';
import { loadTls } from '../instance/tls-files.js';
import { fail, ok, warn, type Check } from './check.js';

const DAY_MS = 86_400_000;

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
    const tls = c.tls ? tlsState(c.tls, file, Date.now()) : undefined;
    if (tls?.problem) return tls.problem;
    if (!isLoopback(c.host) && !tls) {
      return warn(
        `${source}: bind ${c.host}:${c.port} is reachable beyond this host: every TCP request but /health needs a bearer token, and the traffic is plain HTTP`,
        `set tls_cert and tls_key under [server] in ${file} to serve HTTPS, or keep it inside a private network or behind a TLS proxy; set host = "127.0.0.1" under [server] for loopback only`,
      );
    }
    return ok(`${source}: bind ${c.host}:${c.port}${tls ? ` (${tls.summary})` : ''}, store ${c.storePath}, log level ${c.logLevel}${c.backup.dest ? `, backups to ${c.backup.dest}` : ''}`);
  },
};

/** The certificate's state: `HTTPS, certificate … valid until …`, or the row that says what is wrong with it. */
function tlsState(files: NonNullable<InstanceConfig['tls']>, file: string, now: number): { summary: string; problem?: ReturnType<typeof warn> } {
  let x509;
  try {
    x509 = loadTls(files, file).x509;
  } catch (err) {
    return { summary: '', problem: fail((err as Error).message, isSplError(err) && err.fix ? err.fix : `edit ${file}`) };
  }
  const until = Date.parse(x509.validTo);
  const summary = `HTTPS, certificate ${files.cert} for ${x509.subjectAltName ?? x509.subject} valid until ${new Date(until).toISOString().slice(0, 10)}`;
  const renew = `renew ${files.cert} (and its key), then restart the instance`;
  if (until < now) return { summary, problem: fail(`${summary}: it has EXPIRED; clients refuse it`, renew) };
  if (until - now < 14 * DAY_MS) return { summary, problem: warn(`${summary}: it expires in ${Math.ceil((until - now) / DAY_MS)} day(s)`, renew) };
  return { summary };
}
