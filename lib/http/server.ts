// Listeners: TCP on the configured loopback address and the unix socket (0600 inside the 0700 run/ dir).

import { createServer, type Server } from 'node:http';
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import type Koa from 'koa';
import type { ApiState, Transport } from './context.js';
import { transportOf } from './app.js';

export function createListener(app: Koa<ApiState>, transport: Transport): Server {
  const handler = app.callback();
  const server = createServer((req, res) => {
    transportOf.set(req, transport);
    void handler(req, res);
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 60000;
  return server;
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
