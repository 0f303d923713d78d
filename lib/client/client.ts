// How the CLI reaches an instance: the unix socket first (trusted by its file mode), TCP otherwise
// (SPL_SERVE_URL, with SPL_TOKEN or the home's token file).

import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:http';
import { ERRORS, SplError, type ErrorCode } from '../kernel/errors.js';

export interface ClientTarget {
  socket?: string;
  url?: string;
  token?: string;
  /** For an https:// url: the CA the instance's certificate must chain to ([fleet] ca_file), the system's otherwise. */
  caFile?: string;
  /** false: any certificate (doctor, which checks the instance's DID in the answer instead). */
  verifyTls?: boolean;
  /** Sent as X-Spl-Actor over the socket, where the caller is trusted to say who acts. */
  actor?: string;
}

interface Response<T> {
  status: number;
  body: T;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTSOCK']);

export class Client {
  constructor(readonly target: ClientTarget, private readonly timeoutMs = 30000) {}

  describe(): string {
    return this.target.socket ?? this.target.url ?? '?';
  }

  /** Sends a request; non-2xx answers become SplErrors carrying the server's code, message and fix. */
  async call<T>(method: string, path: string, body?: unknown): Promise<Response<T>> {
    const res = await this.raw(method, path, body);
    if (res.status >= 200 && res.status < 300) return res as Response<T>;
    const env = res.body as { code?: string; message?: string; fix?: string; field?: string } | undefined;
    const code = env?.code && env.code in ERRORS ? (env.code as ErrorCode) : 'INTERNAL';
    throw new SplError(code, env?.message ?? `the instance answered HTTP ${res.status}`, {
      ...(env?.fix ? { fix: env.fix } : {}),
      ...(env?.field ? { field: env.field } : {}),
    });
  }

  async raw(method: string, path: string, body?: unknown): Promise<Response<unknown>> {
    // node:http is loaded by the first request, not by every command that builds a client and may not use it;
    // as a builtin, not through import(), which would start node's ES module loader in the bundled CLI (dist/cjs).
    const tls = !this.target.socket && this.target.url?.startsWith('https:') === true;
    const { request: httpRequest } = tls ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http');
    const { connect: netConnect } = process.getBuiltinModule('node:net');
    // The fleet client's CA file reading and certificate diagnosis, loaded only for an https:// instance.
    const fleet = tls ? await import('../fleet/client.js') : undefined;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    let options: RequestOptions;
    if (this.target.socket) {
      if (this.target.actor) headers['x-spl-actor'] = this.target.actor;
      // One request per process: the connection is made directly rather than through an Agent, whose first use
      // compiles node's IPv6 address pattern to name a server that a unix socket does not have (~10 ms a call).
      const socket = this.target.socket;
      options = { createConnection: () => netConnect(socket), setHost: false, path, method, headers: { ...headers, host: 'localhost' } };
    } else {
      const u = new URL(path, this.target.url);
      if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
      options = { hostname: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path: u.pathname + u.search, method, headers, ...(fleet ? this.tlsOptions(fleet.readCa) : {}) };
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest({ ...options, timeout: this.timeoutMs, ...(options.createConnection ? {} : { agent: false }) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new SplError('UNAVAILABLE', `${this.describe()} did not answer within ${this.timeoutMs / 1000}s`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code && UNREACHABLE.has(err.code)) {
          reject(new SplError('NOT_RUNNING', `no spl instance is answering at ${this.describe()}`, { fix: 'spl serve (spl status shows what is running)', cause: err }));
        } else if (fleet) {
          reject(fleet.unreachable(new URL(this.target.url!), err, this.target.caFile));
        } else reject(err);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  private tlsOptions(readCa: (file: string) => Buffer): { ca?: Buffer; rejectUnauthorized: boolean } {
    return { ...(this.target.caFile ? { ca: readCa(this.target.caFile) } : {}), rejectUnauthorized: this.target.verifyTls !== false };
  }
}

interface ConnectOptions {
  socket: string;
  /** [fleet] ca_file, for an https:// SPL_SERVE_URL. */
  caFile?: string | undefined;
  actor?: string;
  tokenFile: string;
  env: Record<string, string | undefined>;
}

/**
 * SPL_SERVE_URL (with SPL_TOKEN or the token file) when it is set; otherwise this home's unix socket. There is
 * no silent fallback to TCP: whatever answers on a port may be another home's instance.
 */
export function connect(o: ConnectOptions): Client {
  const url = o.env.SPL_SERVE_URL;
  if (url) return new Client({ url, ...tokenFor(o), ...(o.caFile ? { caFile: o.caFile } : {}) });
  return new Client({ socket: o.socket, ...(o.actor ? { actor: o.actor } : {}) });
}

function tokenFor(o: ConnectOptions): { token?: string } {
  if (o.env.SPL_TOKEN) return { token: o.env.SPL_TOKEN };
  try {
    const t = readFileSync(o.tokenFile, 'utf8').trim();
    return t ? { token: t } : {};
  } catch {
    return {};
  }
}
