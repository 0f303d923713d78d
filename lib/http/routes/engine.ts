// Engine introspection: the CEL compile cache, expression check/eval, and health rules.

import { SplError } from '../../kernel/errors.js';
import { celEngine, isCelContext, CEL_CONTEXTS, type CelBindings, type CelContext, type CelRecordInput } from '../../engine/cel.js';
import { rulesOf } from '../../engine/folds/engine-config.js';
import { trustScore } from '../../engine/folds/trust.js';
import { readJson } from '../body.js';
import type { ApiDeps } from '../context.js';
import { type Routes } from '../route.js';

export function engineRoutes(api: Routes, deps: ApiDeps): void {
  const now = deps.now ?? Date.now;

  function bindings(context: CelContext, actor: string, record: CelRecordInput | null, extra: Record<string, unknown> = {}): CelBindings {
    const at = now();
    const trust = deps.engine.trust;
    const base = { actor, trust: (a: string, d: string) => trustScore(trust, a, d, at), now: () => at };
    if (context === 'permission') return { ...base, record, resource: (extra.resource as never) ?? 'record_read', method: String(extra.method ?? 'GET'), path: String(extra.path ?? '/') } as CelBindings;
    if (context === 'routing') return { ...base, record: record ?? {} } as CelBindings;
    return { ...base, record, records: deps.log.recordCount, threads: deps.engine.threadCount } as CelBindings;
  }

  api.get('/v1/engine/expression_cache/stats', 'config_read', (ctx) => {
    ctx.body = { object: 'expression_cache_stats', ...celEngine.stats() };
  });

  api.post('/v1/engine/expr', 'config_read', async (ctx) => {
    const body = (await readJson(ctx, deps.bodyLimit)) as Record<string, unknown>;
    const expression = body?.expression;
    const context = body?.context ?? 'permission';
    if (typeof expression !== 'string') throw new SplError('INVALID_REQUEST', 'expression: required, a CEL string', { field: 'expression' });
    if (!isCelContext(context)) throw new SplError('INVALID_REQUEST', `context must be one of ${CEL_CONTEXTS.join(', ')}`, { field: 'context' });
    const record = body.record === undefined || body.record === null ? null : (body.record as CelRecordInput);
    if (record !== null && (typeof record !== 'object' || Array.isArray(record))) throw new SplError('INVALID_REQUEST', 'record must be a JSON object', { field: 'record' });
    const checked = celEngine.check(context, expression);
    if (!checked.ok || body.evaluate === false) {
      ctx.body = { object: 'expression', context, expression, ...checked };
      return;
    }
    const result = celEngine.evaluate(context, expression, bindings(context, ctx.state.actor, record, body));
    ctx.body = { object: 'expression', context, expression, ...result };
  });

  api.get('/v1/engine/health', 'config_read', (ctx) => {
    const checks = rulesOf(deps.engine.config, 'health_rule').map((rule) => {
      if (rule.expression === undefined) return { name: rule.name, ok: false, error: 'the rule has no expression' };
      const r = celEngine.evaluateBool('health_check', rule.expression, bindings('health_check', ctx.state.actor, null) as CelBindings<'health_check'>);
      return r.ok ? { name: rule.name, ok: r.value } : { name: rule.name, ok: false, error: r.error };
    });
    const status = checks.length === 0 ? 'no_rules' : checks.every((c) => c.ok) ? 'ok' : 'failing';
    ctx.body = { object: 'engine_health', status, records: deps.log.recordCount, threads: deps.engine.threadCount, checks };
  });
}
