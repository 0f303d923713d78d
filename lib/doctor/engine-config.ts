// Engine configuration as the instance will fold it from th_engine_config: how many records and rules,
// whether enforcement is on, and any enabled rule the engine will skip because its CEL does not compile.

import { celEngine } from '../engine/cel.js';
import { ruleContext } from '../engine/engine.js';
import { ENGINE_CONFIG_THREAD, RULE_TOPICS, rulesOf, toggleEnabled } from '../engine/folds/engine-config.js';
import { ok, skip, warn, type Check } from './check.js';
import { plural } from './format.js';

export const engineConfigCheck: Check = {
  id: 'engine-config',
  async run(ctx) {
    const view = await ctx.store();
    if (view?.state !== 'sound') return skip('the store cannot be read (see the store row)');
    const cfg = view.engineConfig;
    if (cfg.records === 0) {
      return warn(`no records on ${ENGINE_CONFIG_THREAD}: no routing, permission or health rules are configured`, `spl config add-rule <name> --expression '<CEL>'`);
    }
    const counts = RULE_TOPICS.map((t) => [t, rulesOf(cfg, t).length] as const).filter(([, n]) => n > 0);
    const enabled = counts.reduce((sum, [, n]) => sum + n, 0);
    const perTopic = counts.length > 0 ? ` (${counts.map(([t, n]) => `${t} ${n}`).join(', ')})` : '';
    const summary = `${plural(cfg.records, 'record')} on ${ENGINE_CONFIG_THREAD}: ${plural(enabled, 'rule')} enabled${perTopic}, permission enforcement ${toggleEnabled(cfg, 'permissions_enabled') ? 'on' : 'off'}`;
    const broken = [...cfg.rules.values()].filter(
      (r) => r.enabled && (r.expression === undefined || !celEngine.check(ruleContext(r.topic), r.expression).ok),
    );
    if (broken.length > 0) {
      const first = broken[0]!;
      return warn(
        `${summary}; skipped because their CEL does not compile: ${broken.map((r) => `${r.topic} ${r.name}`).join(', ')}`,
        `spl config disable-rule ${first.name} --topic ${first.topic} (or add-rule it again with a valid --expression)`,
      );
    }
    return ok(summary);
  },
};
