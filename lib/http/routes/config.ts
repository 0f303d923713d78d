// Engine configuration as folded from th_engine_config: rules per topic, permission rules, toggles.

import type Router from '@koa/router';
import { SplError } from '../../kernel/errors.js';
import { validateRecord } from '../../kernel/record.js';
import { ENGINE_CONFIG_THREAD, RULE_TOPICS, isRuleTopic, rulesOf, toggleEnabled, type Rule } from '../../engine/folds/engine-config.js';
import { adminRuleCommand } from '../../engine/permissions.js';
import type { ApiDeps, ApiState } from '../context.js';

function view(r: Rule) {
  return { topic: r.topic, name: r.name, enabled: r.enabled, priority: r.priority, expression: r.expression ?? null, body: r.body, record: r.record, sequence: r.sequence, actor: r.actor };
}

export function configRoutes(router: Router<ApiState>, deps: ApiDeps): void {
  permissionToggleRoutes(router, deps);
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
      permissions_enabled: toggleEnabled(c, 'permissions_enabled'),
      rules: Object.fromEntries(RULE_TOPICS.map((t) => [t, { enabled: rulesOf(c, t).length, total: rulesOf(c, t, { includeDisabled: true }).length }])),
      toggles: Object.fromEntries([...c.toggles].map(([k, v]) => [k, { ...v.body, record: v.record, actor: v.actor }])),
    };
  });
}

/** The permissions toggle: enable only after the pre-flight proves the admin keeps access. */
export function permissionToggleRoutes(router: Router<ApiState>, deps: ApiDeps): void {
  async function setEnabled(actor: string, enabled: boolean): Promise<string> {
    const [o] = await deps.log.append([validateRecord({ thread: ENGINE_CONFIG_THREAD, actor, act: 'LEARN', body: { topic: 'permissions_enabled', enabled } })]);
    return o!.record.id;
  }

  router.post('/v1/config/permissions/enable', async (ctx) => {
    const admin = deps.auth.adminActor;
    const missing = deps.engine.permissions.preflight(admin);
    if (missing.length > 0) {
      throw new SplError('PREFLIGHT_FAILED', `refusing to enable permission enforcement: no enabled allow rule lets the admin ${admin} do ${missing.join(', ')}, so enabling now would lock you out`, {
        fix: adminRuleCommand(admin),
      });
    }
    const record = await setEnabled(ctx.state.actor, true);
    deps.logger.child({ target: 'syncropel_http::permissions' }).info({ actor: ctx.state.actor, record }, 'permission enforcement enabled');
    ctx.body = { object: 'permissions', enabled: true, record };
  });

  router.post('/v1/config/permissions/disable', async (ctx) => {
    const record = await setEnabled(ctx.state.actor, false);
    deps.logger.child({ target: 'syncropel_http::permissions' }).warn({ actor: ctx.state.actor, record }, 'permission enforcement disabled');
    ctx.body = { object: 'permissions', enabled: false, record };
  });
}
