// An in-process API for tests: the real createApp over a real store, engine and token file in a temp
// directory, served on real listeners (TCP on an ephemeral loopback port and a unix socket) inside the test's
// own process. No lock, PID file, startup backup or signals: what the HTTP layer does, without spawning a
// daemon. The integration tests that spawn `spl serve` stay; this is for HTTP behaviour, with a clock the test
// controls.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fold } from '../../lib/engine/fold.js';
import { Engine } from '../../lib/engine/engine.js';
import { createApp, DEFAULT_BODY_LIMIT } from '../../lib/http/app.js';
import { AuthGuard } from '../../lib/http/auth-guard.js';
import type { ApiDeps, Phase } from '../../lib/http/context.js';
import { createListener, listenSocket, listenTcp } from '../../lib/http/server.js';
import { createLogger } from '../../lib/instance/logger.js';
import { TaskFiles } from '../../lib/instance/task-files.js';
import { TokenStore } from '../../lib/instance/tokens.js';
import { RecordLog } from '../../lib/store/record-log.js';
import { httpVia, type HttpResult } from './spl.js';

export interface AppHarnessOptions {
  /** The admin actor (socket requests that name none act as it). */
  adminActor?: string;
  /** false: TCP needs no bearer token (--insecure-localhost). Default true. */
  tcpRequiresToken?: boolean;
  /** Folds besides the core ones. */
  folds?: ReadonlyArray<Fold<unknown>>;
  /** The clock the app, the store and the auth guard read; default a settable one starting at 2026-01-01. */
  now?: () => number;
  bodyLimit?: number;
}

export interface AppHarness {
  deps: ApiDeps;
  /** Log lines as parsed JSON objects, in order. */
  lines: Array<Record<string, unknown>>;
  /** The harness's clock; `advance(ms)` moves it when the default clock is in use. */
  clock: { now: () => number; advance(ms: number): void };
  phase: { set(p: Phase): void };
  port: number;
  socketPath: string;
  /** A request over TCP (as a remote client) or over the unix socket (trusted by its mode). */
  request(method: string, path: string, o?: { body?: unknown; headers?: Record<string, string>; via?: 'tcp' | 'socket' }): Promise<HttpResult>;
  close(): Promise<void>;
}

export async function appHarness(o: AppHarnessOptions = {}): Promise<AppHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'spl-app-'));
  let t = Date.UTC(2026, 0, 1);
  const now = o.now ?? (() => t);
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', extra: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } }).root;
  mkdirSync(join(dir, 'data', 'tasks'), { recursive: true });
  const log = await RecordLog.open(join(dir, 'hub.db'), { create: true, now });
  const engine = await Engine.start(log, logger, now, o.folds ?? []);
  const authGuard = new AuthGuard({ logger, now });
  let phase: Phase = 'serving';
  const startedAt = now();
  const socketPath = join(dir, 'spl.sock');
  const deps: ApiDeps = {
    log, engine, logger, authGuard, now,
    tokens: new TokenStore(join(dir, 'api-tokens.json'), now),
    taskFiles: new TaskFiles({ dataDir: join(dir, 'data'), tasksDir: join(dir, 'data', 'tasks'), aliasesFile: join(dir, 'data', 'aliases.toml') }),
    auth: { tcpRequiresToken: o.tcpRequiresToken ?? true, adminActor: o.adminActor ?? 'did:sync:user:admin' },
    bodyLimit: o.bodyLimit ?? DEFAULT_BODY_LIMIT,
    instance: {
      did: 'did:sync:instance:harness', version: '0.0.0-test', pid: process.pid, home: dir, storePath: join(dir, 'hub.db'),
      bind: '127.0.0.1:0', socket: socketPath, startedAt, phase: () => phase,
    },
  };
  const app = createApp(deps);
  const tcp: Server = createListener(app, 'tcp', { logger });
  const unix: Server = createListener(app, 'socket', { logger });
  await listenTcp(tcp, '127.0.0.1', 0);
  await listenSocket(unix, socketPath);
  const port = (tcp.address() as AddressInfo).port;
  return {
    deps, lines, port, socketPath,
    clock: { now, advance: (ms) => void (t += ms) },
    phase: { set: (p) => void (phase = p) },
    request(method, path, r = {}) {
      const target = r.via === 'socket' ? { socketPath } : { host: '127.0.0.1', port };
      const body = r.body === undefined ? undefined : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      const headers = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...r.headers };
      return httpVia(target, method, path, body, headers);
    },
    async close() {
      await Promise.all([tcp, unix].map((s) => new Promise<void>((res) => { s.closeAllConnections(); s.close(() => res()); })));
      authGuard.close();
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
