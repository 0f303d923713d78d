// Engine configuration as the instance will fold it from th_engine_config: how many records and rules,
// whether enforcement is on, any enabled rule the engine will skip because its CEL does not compile, and
// (asked of the running instance) any rule it skipped because an evaluation ran out of budget.

import { Client } from '../client/client.js';
import { celEngine } from '../engine/cel.js';
import type { RuleBudgetEntry } from '../engine/cel-rule-budget.js';
import { ruleContext } from '../engine/rule-match.js';
import { ENGINE_CONFIG_THREAD, RULE_TOPICS, rulesOf, toggleEnabled } from '../engine/folds/engine-config.js';
import { ok, skip, warn, type Check } from './check.js';
import type { DoctorContext } from './context.js';
import { plural } from './format.js';
import { PROBE_TIMEOUT_MS } from './probe.js';

/** The running instance's rules_over_budget (GET /v1/engine/health); undefined when it cannot be asked. */
async function overBudget(ctx: DoctorContext): Promise<RuleBudgetEntry[] | undefined> {
  const answer = await ctx.health();
  if (!answer?.answered) return undefined;
  const client = new Client(answer.via === 'socket' ? { socket: ctx.paths.socket } : { url: answer.target }, PROBE_TIMEOUT_MS);
  try {
    const res = await client.raw('GET', '/v1/engine/health');
    const list = (res.body as { rules_over_budget?: unknown } | undefined)?.rules_over_budget;
    return res.status === 200 && Array.isArray(list) ? (list as RuleBudgetEntry[]) : undefined;
  } catch {
    return undefined;
  }
}

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
    const problems: string[] = [];
    let fix: string | undefined;
    if (broken.length > 0) {
      const first = broken[0]!;
      problems.push(`skipped because their CEL does not compile: ${broken.map((r) => `${r.topic} ${r.name}`).join(', ')}`);
      fix = `spl config disable-rule ${first.name} --topic ${first.topic} (or add-rule it again with a valid --expression)`;
    }
    const costly = (await overBudget(ctx)) ?? [];
    if (costly.length > 0) {
      const first = costly[0]!;
      const list = costly.map((r) => `${r.topic} ${r.name} (${plural(r.exceeded, 'time')}, last ${r.last_at}: ${r.last_error})`).join('; ');
      problems.push(`the running instance skipped rules that exceeded their evaluation budget: ${list}`);
      fix ??= `simplify ${first.name}'s expression (fewer nested macros, shorter lists), or spl config disable-rule ${first.name} --topic ${first.topic}`;
    }
    return problems.length > 0 ? warn(`${summary}; ${problems.join('; ')}`, fix) : ok(summary);
  },
};
