// The koa application: one app, served on TCP and on the unix socket alike.

import Router from '@koa/router';
import Koa from 'koa';
import type { ApiDeps, ApiState, Transport } from './context.js';
import { errorEnvelope } from './errors.js';
import { refuseAmbiguousPaths } from './paths.js';
import { Routes, type RouteSpec } from './route.js';
import { engineConfigRoutes } from './routes/engine-config.js';
import { dispatchRoutes } from './routes/dispatch.js';
import { engineRoutes } from './routes/engine.js';
import { fleetRoutes } from './routes/fleet.js';
import { healthRoutes } from './routes/health.js';
import { instanceRoutes } from './routes/instance.js';
import { recordRoutes } from './routes/records.js';
import { taskRoutes } from './routes/tasks.js';
import { threadRoutes } from './routes/threads.js';
import { tokenRoutes } from './routes/tokens.js';
import { trustRoutes } from './routes/trust.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Marks which listener a request arrived on: the socket is trusted, TCP needs a bearer token. */
export const transportOf = new WeakMap<object, Transport>();

/** The routes each app serves, with their gates (for tests that walk every route). */
export const routeTables = new WeakMap<object, readonly RouteSpec[]>();

export function createApp(deps: ApiDeps): Koa<ApiState> {
  const app = new Koa<ApiState>();
  app.silent = true;
  const http = deps.logger.child({ target: 'syncropel_http' });
  app.use(errorEnvelope(http));
  app.use(async (ctx, next) => {
    ctx.state.transport = transportOf.get(ctx.req) ?? 'tcp';
    await next();
  });
  app.use(refuseAmbiguousPaths());
  // Paths compare exactly (case-sensitive); a trailing slash is the same route. Each route authenticates and
  // checks the permission resource it declares (route.ts), so the check is always the matched route's.
  const router = new Router<ApiState>({ sensitive: true });
  const api = new Routes(router, deps);
  healthRoutes(api, deps);
  instanceRoutes(api, deps);
  recordRoutes(api, deps);
  threadRoutes(api, deps);
  taskRoutes(api, deps);
  dispatchRoutes(api, deps);
  fleetRoutes(api, deps);
  engineConfigRoutes(api, deps);
  trustRoutes(api, deps);
  engineRoutes(api, deps);
  tokenRoutes(api, deps);
  routeTables.set(app, api.specs);
  app.use(api.optionsGate());
  app.use(router.routes());
  // Not `throw: true`: the router only sets the Allow header (which a 405 must carry) when it does not throw;
  // errorEnvelope turns the bare 405/501 it leaves into the error envelope.
  app.use(router.allowedMethods());
  return app;
}
