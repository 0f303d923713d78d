// The route table: every route declares its gate, none defaults; ambiguous paths are named and refused.

import t from 'tap';
import pino from 'pino';
import Router from '@koa/router';
import { createApp, routeTables } from '../../lib/http/app.js';
import type { ApiDeps, ApiState } from '../../lib/http/context.js';
import { ambiguity } from '../../lib/http/paths.js';
import { Routes, isGate } from '../../lib/http/route.js';

const deps = { logger: pino({ level: 'silent' }), bodyLimit: 1024 } as unknown as ApiDeps;

t.test('every registered route declares a gate, and /health is the only open one', async (t) => {
  const specs = routeTables.get(createApp(deps))!;
  t.ok(specs.length > 0);
  for (const s of specs) t.ok(isGate(s.gate), `${s.method} ${s.path}: ${s.gate}`);
  t.same(specs.filter((s) => s.gate === 'open').map((s) => s.path), ['/health']);
  t.same(specs.filter((s) => s.gate === 'per_record').map((s) => `${s.method} ${s.path}`), ['POST /v1/records']);
  const keys = specs.map((s) => `${s.method} ${s.path}`);
  t.equal(new Set(keys).size, keys.length, 'no route is registered twice');
});

t.test('a route without a declared resource is refused at registration', async (t) => {
  const api = new Routes(new Router<ApiState>(), deps);
  const untyped = api as unknown as { get(path: string, gate: unknown, h: () => void): void };
  t.throws(() => untyped.get('/v1/new', undefined, () => undefined), /GET \/v1\/new declares no permission resource/);
  t.throws(() => untyped.get('/v1/new', 'record_reed', () => undefined), /declares no permission resource \(got record_reed\)/);
  t.doesNotThrow(() => api.get('/v1/new', 'record_read', () => undefined));
  t.same(api.specs, [{ method: 'GET', path: '/v1/new', gate: 'record_read' }]);
});

t.test('ambiguous paths are named; plain ones pass', async (t) => {
  for (const p of ['/health', '/v1/tokens', '/v1/tokens/', '/v1/tokens/ci-1', '/v1/records/' + 'a'.repeat(64), '/v1/fleet/did:sync:instance:x', '/v1/x/did%3Async%3Ax']) {
    t.equal(ambiguity(p), undefined, p);
  }
  const cases: Array<[string, RegExp]> = [
    ['//v1/tokens', /empty segment/],
    ['/v1//tokens', /empty segment/],
    ['/v1/./tokens', /dot segment \(\.\)/],
    ['/v1/../v1/tokens', /dot segment \(\.\.\)/],
    ['/v1/tokens.', /"tokens\." ends with a dot/],
    ['/v1/tokens%2Fci', /%2F encodes a path separator/],
    ['/v1/tokens%5cci', /%5c encodes a path separator/],
    ['/v1/%74okens', /%74 encodes "t", which must be sent as itself/],
    ['/v1/tokens%2e', /%2e encodes "\."/],
    ['/v1/tokens%00', /control character/],
    ['/v1/tokens%zz', /%zz at offset 10 is not a percent-escape/],
    ['/v1/tokens%', /not a percent-escape/],
    ['/v1\\tokens', /backslash/],
    ['v1/tokens', /does not start with \//],
  ];
  for (const [p, why] of cases) t.match(ambiguity(p), why, p);
  t.match(ambiguity(null), /the request target has no path/, 'an absolute-form target without a path');
});
