// Engine introspection: the CEL compile cache, expression check/eval, and health rules.

import { SplError } from '../../kernel/errors.js';
import { CelCostError, MAX_VALUE_DEPTH, celEngine, isCelContext, CEL_CONTEXTS, type CelBindings, type CelContext, type CelRecordInput } from '../../engine/cel.js';
import { ruleBudgetTally } from '../../engine/cel-rule-budget.js';
import { celSandbox } from '../../engine/cel-sandbox.js';
import { engineConfigFold, rulesOf } from '../../engine/folds/engine-config.js';
import { trustFold, trustScore } from '../../engine/folds/trust.js';
import { tasksFold } from '../../engine/folds/tasks.js';
import { taskLookupAt } from '../../engine/tasks.js';
import { readJson } from '../body.js';
import type { ApiDeps } from '../context.js';
import { type Routes } from '../route.js';

/** The evaluation thread gets the tasks and the fleet as data, and only when the expression can read them. */
function sandboxData(deps: ApiDeps, expression: string, at: number): Record<string, unknown> {
  return {
    ...(/\btasks?\b/.test(expression) ? { tasks: taskLookupAt(deps.engine.state(tasksFold), at).all() } : {}),
    ...(/\bfleet_/.test(expression) ? { fleet: deps.engine.fleetCel() } : {}),
  };
}

export function engineRoutes(api: Routes, deps: ApiDeps): void {
  const now = deps.now ?? Date.now;
  const budgetLog = deps.logger.child({ target: 'syncropel_engine::rules' });

  /** The context's variables and the actor, as plain data (what the evaluation thread is sent). */
  function variables(context: CelContext, actor: string, record: CelRecordInput | null, extra: Record<string, unknown> = {}): Record<string, unknown> & { actor: string } {
    if (context === 'permission') return { actor, record, resource: extra.resource ?? 'record_read', method: String(extra.method ?? 'GET'), path: String(extra.path ?? '/') };
    if (context === 'routing') return { actor, record: record ?? {} };
    return { actor, record, records: deps.log.recordCount, threads: deps.log.threadCount };
  }

  function trustAt(at: number): (a: string, d: string) => number {
    const trust = deps.engine.state(trustFold);
    return (a, d) => trustScore(trust, a, d, at);
  }

  function bindings(context: CelContext, actor: string, record: CelRecordInput | null, extra: Record<string, unknown> = {}): CelBindings {
    const at = now();
    return { ...variables(context, actor, record, extra), trust: trustAt(at), now: () => at, tasks: taskLookupAt(deps.engine.state(tasksFold), at), fleet: () => deps.engine.fleetCel() } as unknown as CelBindings;
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
    // CEL reads at most MAX_VALUE_DEPTH levels; deeper input is refused here, before it is copied to the evaluation thread.
    if (record !== null && nestingDepth(record, MAX_VALUE_DEPTH + 1) > MAX_VALUE_DEPTH) {
      throw new SplError('INVALID_REQUEST', `record nests deeper than ${MAX_VALUE_DEPTH} levels`, { field: 'record' });
    }
    // Compiled here too (through the cache) so a mistake answers 200 { ok: false } as it always has; a cost
    // limit is the 422, at compile time or when the evaluation thread stops it.
    const checked = celEngine.check(context, expression);
    if (!checked.ok && checked.limit !== undefined) throw new CelCostError(checked.limit, checked.error);
    if (!checked.ok || body.evaluate === false) {
      ctx.body = { object: 'expression', context, expression, ...checked };
      return;
    }
    const at = now();
    const result = await celSandbox.evaluate({ context, source: expression, vars: { ...variables(context, ctx.state.actor, record, body), ...sandboxData(deps, expression, at) }, nowMs: at, trust: trustAt(at) });
    if (!result.ok && result.limit !== undefined) throw new CelCostError(result.limit, result.error);
    ctx.body = { object: 'expression', context, expression, ...result };
  });

  api.get('/v1/engine/health', 'config_read', (ctx) => {
    const checks = rulesOf(deps.engine.state(engineConfigFold), 'health_rule').map((rule) => {
      if (rule.expression === undefined) return { name: rule.name, ok: false, error: 'the rule has no expression' };
      // The same budget as permission rules (RULE_BUDGET, the default): a rule over it fails its check.
      const r = celEngine.evaluateBool('health_check', rule.expression, bindings('health_check', ctx.state.actor, null) as CelBindings<'health_check'>);
      if (!r.ok && r.limit !== undefined) ruleBudgetTally.exceeded('health_rule', rule.name, r.error, r.limit, budgetLog);
      return r.ok ? { name: rule.name, ok: r.value } : { name: rule.name, ok: false, error: r.error };
    });
    const status = checks.length === 0 ? 'no_rules' : checks.every((c) => c.ok) ? 'ok' : 'failing';
    ctx.body = {
      object: 'engine_health', status, records: deps.log.recordCount, threads: deps.log.threadCount, checks,
      // Stored rules stopped by their evaluation budget since start-up (spl doctor reports these).
      rules_over_budget: ruleBudgetTally.report(),
    };
  });
}

/** How deep `v` nests (objects and arrays), counting no further than `stop`; iterative, so any depth is safe. */
function nestingDepth(v: unknown, stop: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (d > max) max = d;
    if (max >= stop) return max;
    for (const child of Object.values(x)) stack.push([child, d + 1]);
  }
  return max;
}
