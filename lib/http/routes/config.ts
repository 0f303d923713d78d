// Engine configuration as folded from th_engine_config: rules per topic, permission rules, toggles.

import type Router from '@koa/router';
import { SplError } from '../../kernel/errors.js';
import { RULE_TOPICS, isRuleTopic, rulesOf, type Rule } from '../../engine/folds/engine-config.js';
import type { ApiDeps } from '../context.js';

function view(r: Rule) {
  return { topic: r.topic, name: r.name, enabled: r.enabled, priority: r.priority, expression: r.expression ?? null, body: r.body, record: r.record, sequence: r.sequence, actor: r.actor };
}

export function configRoutes(router: Router, deps: ApiDeps): void {
  router.get('/v1/config/rules', (ctx) => {
    const topic = ctx.query.topic;
    if (topic !== undefined && (typeof topic !== 'string' || !isRuleTopic(topic))) {
      throw new SplError('INVALID_REQUEST', `topic must be one of ${RULE_TOPICS.join(', ')}`, { field: 'topic' });
    }
    const all = ctx.query.all === 'true';
    const topics = topic ? [topic] : RULE_TOPICS;
    ctx.body = { object: 'list', data: topics.flatMap((t) => rulesOf(deps.engine.config, t, { includeDisabled: all }).map(view)) };
  });

  router.get('/v1/config/permission-rules', (ctx) => {
    ctx.body = { object: 'list', data: rulesOf(deps.engine.config, 'permission_rule', { includeDisabled: ctx.query.all === 'true' }).map(view) };
  });

  router.get('/v1/config', (ctx) => {
    const c = deps.engine.config;
    ctx.body = {
      object: 'engine_config',
      records: c.records,
      rules: Object.fromEntries(RULE_TOPICS.map((t) => [t, { enabled: rulesOf(c, t).length, total: rulesOf(c, t, { includeDisabled: true }).length }])),
      toggles: Object.fromEntries([...c.toggles].map(([k, v]) => [k, { ...v.body, record: v.record, actor: v.actor }])),
    };
  });
}
