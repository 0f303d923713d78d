// What spl serve checks before it creates anything; light enough for the CLI to load without the instance.

import { SplError } from '../kernel/errors.js';
import { isLoopback, type InstanceConfig } from './config-file.js';
import type { HomePaths } from './home.js';
import { loadCaFile, loadTls } from './tls-files.js';

export const MAX_SOCKET_PATH = 107;

/**
 * What spl serve refuses before it creates anything in the home: a bind beyond loopback without TCP auth, a
 * socket path too long, a TLS certificate, key or fleet CA file that cannot be read or is not what it should be.
 * A non-loopback host (e.g. 0.0.0.0 in a container) is served only while every TCP
 * request but /health needs a bearer token.
 */
export function checkServeConfig(paths: HomePaths, config: InstanceConfig, opts: { insecureLocalhost?: boolean } = {}): void {
  if (!isLoopback(config.host) && opts.insecureLocalhost) {
    throw new SplError('INVALID_CONFIG', `--insecure-localhost turns TCP authentication off, which is allowed on loopback only; server.host is ${config.host}, which other hosts can reach`, {
      fix: `drop --insecure-localhost (clients then send a bearer token: spl token create --name <name>), or set host = "127.0.0.1" under [server] in ${paths.config}`,
    });
  }
  if (Buffer.byteLength(paths.socket) > MAX_SOCKET_PATH) {
    throw new SplError('START_FAILED', `the socket path ${paths.socket} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket allows`, {
      fix: 'set SYNCROPEL_HOME to a shorter path',
    });
  }
  if (config.tls) loadTls(config.tls, paths.config);
  if (config.fleet.caFile) loadCaFile(config.fleet.caFile, paths.config);
}

