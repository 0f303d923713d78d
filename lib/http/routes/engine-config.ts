// Engine configuration as folded from th_engine_config: rules per topic, permission rules, toggles.

import { SplError } from '../../kernel/errors.js';
import { validateRecord } from '../../kernel/record.js';
import { ENGINE_CONFIG_THREAD, RULE_TOPICS, engineConfigFold, isRuleTopic, rulesOf, toggleEnabled, type Rule } from '../../engine/folds/engine-config.js';
import { adminRuleCommand } from '../../engine/permissions.js';
import type { EngineConfigView, ListBody, RuleView } from '../../kernel/wire.js';
import type { ApiDeps } from '../context.js';
import { type Routes } from '../route.js';

function view(r: Rule): RuleView {
  return { topic: r.topic, name: r.name, enabled: r.enabled, priority: r.priority, expression: r.expression ?? null, body: r.body, record: r.record, sequence: r.sequence, actor: r.actor };
}

export function engineConfigRoutes(api: Routes, deps: ApiDeps): void {
  permissionToggleRoutes(api, deps);
  api.get('/v1/config/rules', 'config_read', (ctx) => {
    const topic = ctx.query.topic;
    if (topic !== undefined && (typeof topic !== 'string' || !isRuleTopic(topic))) {
      throw new SplError('INVALID_REQUEST', `topic must be one of ${RULE_TOPICS.join(', ')}`, { field: 'topic' });
    }
    const all = ctx.query.all === 'true';
    const topics = topic ? [topic] : RULE_TOPICS;
    ctx.body = { object: 'list', data: topics.flatMap((t) => rulesOf(deps.engine.state(engineConfigFold), t, { includeDisabled: all }).map(view)) } satisfies ListBody<RuleView>;
  });

  api.get('/v1/config/permission-rules', 'config_read', (ctx) => {
    ctx.body = { object: 'list', data: rulesOf(deps.engine.state(engineConfigFold), 'permission_rule', { includeDisabled: ctx.query.all === 'true' }).map(view) } satisfies ListBody<RuleView>;
  });

  api.get('/v1/config', 'config_read', (ctx) => {
    const c = deps.engine.state(engineConfigFold);
    ctx.body = {
      object: 'engine_config',
      records: c.records,
      permissions_enabled: toggleEnabled(c, 'permissions_enabled'),
      rules: Object.fromEntries(RULE_TOPICS.map((t) => [t, { enabled: rulesOf(c, t).length, total: rulesOf(c, t, { includeDisabled: true }).length }])),
      toggles: Object.fromEntries([...c.toggles].map(([k, v]) => [k, { ...v.body, record: v.record, actor: v.actor }])),
    } satisfies EngineConfigView;
  });
}

/** The permissions toggle: enable only after the pre-flight proves the admin keeps access. */
function permissionToggleRoutes(api: Routes, deps: ApiDeps): void {
  async function setEnabled(actor: string, enabled: boolean): Promise<string> {
    const [o] = await deps.log.append([validateRecord({ thread: ENGINE_CONFIG_THREAD, actor, act: 'LEARN', body: { topic: 'permissions_enabled', enabled } })]);
    return o!.record.id;
  }

  api.post('/v1/config/permissions/enable', 'config_write', async (ctx) => {
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

  api.post('/v1/config/permissions/disable', 'config_write', async (ctx) => {
    const record = await setEnabled(ctx.state.actor, false);
    deps.logger.child({ target: 'syncropel_http::permissions' }).warn({ actor: ctx.state.actor, record }, 'permission enforcement disabled');
    ctx.body = { object: 'permissions', enabled: false, record };
  });
}
