// Asking an instance for /health over one transport, with a short timeout: doctor must never hang on a
// half-dead instance, and must tell "nothing there" apart from "something there that does not answer".

import { Client, type ClientTarget } from '../client/client.js';
import type { HealthBody } from '../kernel/wire.js';

export type HealthAnswer =
  | { answered: true; via: 'socket' | 'tcp'; target: string; httpStatus: number; body: HealthBody | undefined }
  | { answered: false; via: 'socket' | 'tcp'; target: string; error: string };

export const PROBE_TIMEOUT_MS = 3000;

export async function probeHealth(via: 'socket' | 'tcp', target: ClientTarget): Promise<HealthAnswer> {
  const client = new Client(target, PROBE_TIMEOUT_MS);
  const name = client.describe();
  try {
    const res = await client.raw('GET', '/health');
    const body = typeof res.body === 'object' && res.body !== null && typeof (res.body as HealthBody).status === 'string' ? (res.body as HealthBody) : undefined;
    return { answered: true, via, target: name, httpStatus: res.status, body };
  } catch (err) {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    return { answered: false, via, target: name, error: cause?.code ?? (err as Error).message };
  }
}

/** The address to connect to for a bind address: a wildcard bind is reached on loopback. */
export function connectHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/** The instance's TCP address as a URL: https when it serves TLS. */
export function tcpUrl(host: string, port: number, tls = false): string {
  const h = connectHost(host);
  return `${tls ? 'https' : 'http'}://${h.includes(':') ? `[${h}]` : h}:${port}`;
}
