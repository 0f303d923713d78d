// Listeners: TCP on the configured address (HTTPS with [server] tls_cert/tls_key) and the unix socket (plain
// HTTP, 0600 inside the 0700 run/ dir). Both kinds share the limits and the answers to malformed requests.

import { createServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { SplError, type ErrorCode } from '../kernel/errors.js';
import type { ApiState, Transport } from './context.js';
import { transportOf } from './app.js';
import { peerAddress } from './auth-guard.js';

const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

interface ListenerOptions {
  /** A client must have sent its request headers within this long, and its whole request within requestTimeoutMs. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Malformed requests and timeouts are logged at DEBUG (target syncropel_http). */
  logger?: Logger;
  /** Serve HTTPS with this PEM certificate (chain) and key; the TLS handshake gets the headers limit too. */
  tls?: { cert: Buffer; key: Buffer };
}

/**
 * How the limits are enforced: Node looks for connections past headersTimeout/requestTimeout only every
 * connectionsCheckingInterval (30 s by default, which let a client trickling headers hold a connection for
 * ~29 s against a 10 s limit); checking every twentieth of the headers limit (at most every half second) cuts it
 * within half a second of the limit. Idle keep-alive connections close after keepAliveTimeout, which Node needs below the
 * headers limit (or it answers an idle connection's next request with a 408).
 */
function listenerTimeouts(o: ListenerOptions = {}): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number; keepAliveTimeout: number } {
  const headersTimeout = o.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(headersTimeout, o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  return {
    headersTimeout,
    requestTimeout,
    connectionsCheckingInterval: Math.min(500, Math.max(50, Math.floor(headersTimeout / 20))),
    keepAliveTimeout: Math.min(KEEP_ALIVE_TIMEOUT_MS, Math.floor(headersTimeout / 2)),
  };
}

export function createListener(app: Koa<ApiState>, transport: Transport, o: ListenerOptions = {}): Server {
  const handler = app.callback();
  const limits = listenerTimeouts(o);
  // The last request on each connection: whether its body is still arriving, and whether its response has begun.
  const lastExchange = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  const options = {
    headersTimeout: limits.headersTimeout, requestTimeout: limits.requestTimeout, connectionsCheckingInterval: limits.connectionsCheckingInterval,
    // Node would answer a missing Host with a bare 400 of its own; the app refuses it with the envelope (paths.ts).
    requireHostHeader: false,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    transportOf.set(req, transport);
    lastExchange.set(req.socket, { req, res });
    void handler(req, res);
  };
  const log = o.logger?.child({ target: 'syncropel_http' });
  // A TLS handshake is held to the headers limit (Node's default is 120 s); one that fails is the client's
  // business (a plain-HTTP client on the HTTPS port, a certificate it does not trust): logged, nothing answered.
  const server: Server = o.tls
    ? createHttpsServer({ ...options, cert: o.tls.cert, key: o.tls.key, handshakeTimeout: limits.headersTimeout }, onRequest)
      .on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
        log?.debug({ code: err.code, peer: peerAddress(socket.remoteAddress), transport }, `TLS handshake failed: ${err.code ?? err.message}`);
      })
    : createServer(options, onRequest);
  server.keepAliveTimeout = limits.keepAliveTimeout;
  answerClientErrors(server, transport, limits, lastExchange, log);
  return server;
}

/** Malformed requests, oversized headers and timeouts: a JSON envelope when the connection can still take one. */
function answerClientErrors(
  server: Server, transport: Transport, limits: { headersTimeout: number; requestTimeout: number },
  lastExchange: WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>, log: Logger | undefined,
): void {
  const answered = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Later errors on a connection already answered (more bytes after a parse error, the timeout check firing
    // again) change nothing: it is closing.
    if (answered.has(socket)) return;
    answered.add(socket);
    const last = lastExchange.get(socket);
    // A body still arriving is the request timeout; otherwise the next request's headers did not come in time.
    const answer = parserError(err, last !== undefined && !last.req.complete, limits);
    log?.debug({ code: err.code, peer: peerAddress(socket.remoteAddress), transport, status: answer?.status ?? null }, `connection closed: ${answer?.message ?? err.code ?? err.message}`);
    // Mid-response nothing more can be written without corrupting what the client reads: the connection just goes.
    const midResponse = last !== undefined && last.res.headersSent && !last.res.writableFinished;
    if (!answer || socket.destroyed || !socket.writable || midResponse) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(answer.toEnvelope());
    if (last !== undefined && !last.req.complete) {
      // The handler still reading the body learns why it stops (a 4xx, not an "aborted" internal error), once
      // the answer is on its way.
      socket.once('finish', () => last.req.destroy(answer));
    }
    socket.end(
      `HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? 'Error'}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
    // A client that keeps sending (or never reads) does not keep the connection: it goes a moment after the answer.
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

/** The answer to a connection-level error, or undefined when there is nobody to answer (the peer went away). */
function parserError(err: NodeJS.ErrnoException, bodyPending: boolean, limits: { headersTimeout: number; requestTimeout: number }): SplError | undefined {
  const code = err.code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return undefined;
  const e = (c: ErrorCode, message: string, fix: string): SplError => new SplError(c, message, { fix });
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return bodyPending
        ? e('REQUEST_TIMEOUT', `the request was not complete within ${limits.requestTimeout / 1000}s; the connection is closed`, 'send the request body promptly ([server] request_timeout_secs in config.toml sets the limit)')
        : e('REQUEST_TIMEOUT', `the request headers did not arrive within ${limits.headersTimeout / 1000}s; the connection is closed`, 'send the request line and headers promptly ([server] headers_timeout_secs in config.toml sets the limit)');
    case 'HPE_HEADER_OVERFLOW':
      return e('HEADERS_TOO_LARGE', `the request line and headers are larger than the ${maxHeaderSize / 1024} KiB allowed; the connection is closed`, 'send fewer or shorter headers (a bearer token is under 100 bytes)');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return e('BODY_TOO_LARGE', 'the chunk extensions of the request body are too large; the connection is closed', 'send the body without chunk extensions');
    default:
      // The parser's reason (e.g. "Invalid method encountered"), never the bytes that were sent: they may hold a token.
      return e('INVALID_REQUEST', `malformed HTTP request (${code || 'parse error'}${(err as { reason?: string }).reason ? `: ${(err as { reason?: string }).reason}` : ''}); the connection is closed`, 'send a well-formed HTTP/1.1 request');
  }
}

export function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Binds the socket path; a leftover socket file is removed first (the caller holds the home lock). */
export function listenSocket(server: Server, path: string): Promise<void> {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch {
    // no leftover socket
  }
  return new Promise((resolve, reject) => {
    const previous = process.umask(0o177);
    server.once('error', (err) => {
      process.umask(previous);
      reject(err);
    });
    server.listen(path, () => {
      process.umask(previous);
      chmodSync(path, 0o600);
      resolve();
    });
  });
}

/** Stops accepting, lets in-flight requests finish, closes idle keep-alive connections. */
export function closeServer(server: Server, graceMs = 10000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
