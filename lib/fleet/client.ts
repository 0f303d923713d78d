// How one fleet member reaches another (SPEC §12): a JSON request over node:http or node:https, the server's
// certificate verified against `[fleet] ca_file` when one is given (the system's CAs otherwise). Not fetch: its
// TLS trust cannot be given a CA per request. One connection per request (no keep-alive agent): a heartbeat an
// interval later would otherwise race the server closing the idle connection.

import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SplError } from '../kernel/errors.js';
import { isLoopback } from '../instance/config-file.js';

export interface FleetRequestOptions {
  method: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as `Authorization: Bearer …`. */
  token?: string;
  /** PEM file of the CA(s) an https:// server's certificate must chain to, instead of the system's. */
  caFile?: string;
  /** The whole exchange, connection to last byte (default 5 s). */
  timeoutMs?: number;
}

export interface FleetResponse {
  status: number;
  statusText: string;
  /** The parsed JSON body; the text when it is not JSON; undefined when empty. */
  body: unknown;
}

/** No answer: `reason` is the code (`ECONNREFUSED`, `SELF_SIGNED_CERT_IN_CHAIN`, `timeout`), `short` a phrase for one-line reports. */
export type FleetRequestError = SplError & { reason: string; short: string };

/** Answers larger than this are cut off: every fleet answer is a small JSON document. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** OpenSSL's verification codes: the server's certificate is not one this member trusts. */
const CERTIFICATE_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'INVALID_CA', 'CERT_CHAIN_TOO_LONG',
]);

/**
 * One request to another member. Resolves with any HTTP answer (the caller judges the status); rejects with an
 * SplError UNAVAILABLE naming the URL and the reason when there is none: refused, timed out, or a certificate
 * this member does not trust (then the fix names `[fleet] ca_file`): a FleetRequestError.
 */
export function fleetRequest(url: string | URL, o: FleetRequestOptions): Promise<FleetResponse> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return Promise.reject(new SplError('INVALID_CONFIG', `${u.href} is not an http:// or https:// URL`, { fix: 'give the member\'s endpoint as http://HOST:PORT or https://HOST:PORT' }));
  }
  let ca: Buffer | undefined;
  try {
    ca = u.protocol === 'https:' && o.caFile ? readCa(o.caFile) : undefined;
  } catch (err) {
    return Promise.reject(err);
  }
  const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
  const headers: Record<string, string> = { accept: 'application/json', connection: 'close' };
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) });
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const timeoutMs = o.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const options = { method: o.method, headers, agent: false as const, ...(ca ? { ca } : {}) };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, options, (res) => readResponse(res, resolve, reject));
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000}s`), { code: 'timeout' })), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (err: NodeJS.ErrnoException) => reject(unreachable(u, err, o.caFile)));
    req.end(payload);
  });
}

function readResponse(res: IncomingMessage, resolve: (r: FleetResponse) => void, reject: (e: Error) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_RESPONSE_BYTES) res.destroy(new Error(`the answer is larger than ${MAX_RESPONSE_BYTES} bytes`));
    else chunks.push(c);
  });
  res.on('error', reject);
  res.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text === '' ? undefined : text;
    try {
      if (text !== '') body = JSON.parse(text);
    } catch {
      // not JSON: the text
    }
    resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body });
  });
}

export function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SplError('INVALID_CONFIG', `cannot read [fleet] ca_file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      fix: `put the PEM file of the fleet's CA there, or fix ca_file under [fleet] in config.toml`,
      field: 'fleet.ca_file',
    });
  }
}

/** An https request that got no answer, as an SplError with the reason and the fix (the CLI's client uses it too). */
export function unreachable(u: URL, err: NodeJS.ErrnoException, caFile: string | undefined): FleetRequestError {
  const reason = err.code ?? err.message;
  const where = u.origin;
  let e: SplError;
  let short = reason;
  if (CERTIFICATE_ERRORS.has(reason)) {
    e = new SplError('UNAVAILABLE', `the certificate of ${where} is not trusted: ${err.message} (${reason})`, {
      fix: caFile
        ? `${caFile} ([fleet] ca_file) does not hold the CA that signed it, or the certificate does not name ${u.hostname}: openssl s_client -connect ${u.host} -CAfile ${caFile} shows why`
        : `set ca_file under [fleet] in config.toml to the PEM file of the CA that signed ${where}'s certificate`,
      cause: err,
    });
    short = `certificate not trusted (${err.message}, ${reason})`;
  } else if (u.protocol === 'https:' && (reason === 'EPROTO' || /wrong version number|packet length too long/i.test(err.message))) {
    e = new SplError('UNAVAILABLE', `${where} does not speak TLS (${err.message})`, { fix: `use http:// for it, or give it [server] tls_cert and tls_key`, cause: err });
    short = `not TLS (${reason})`;
  } else {
    e = new SplError('UNAVAILABLE', `${where} is unreachable: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`, { cause: err });
  }
  return Object.assign(e, { reason, short });
}

/**
 * The start-up WARN for a fleet token that would cross the network in clear text: a coordinator_url that is
 * http:// to an address beyond loopback, with a token set. Undefined when there is nothing to warn about.
 */
export function cleartextTokenWarning(coordinatorUrl: string | undefined, token: string | undefined): string | undefined {
  if (!coordinatorUrl || !token) return undefined;
  let u: URL;
  try {
    u = new URL(coordinatorUrl);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' || isLoopback(u.hostname.replace(/^\[|\]$/g, ''))) return undefined;
  return `[fleet] coordinator_url ${u.origin} is plain HTTP beyond loopback: the fleet token travels in clear text with every heartbeat; serve the coordinator over HTTPS ([server] tls_cert and tls_key there) and use https:// here, with [fleet] ca_file`;
}
