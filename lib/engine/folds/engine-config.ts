// Engine configuration: LEARN records on th_engine_config, keyed by body.topic. Rules are keyed by
// (topic, name) and the latest record per key wins; other topics are toggles whose latest record wins.

import type { StoredRecord } from '../../kernel/record.js';
import type { Fold } from '../fold.js';

export const ENGINE_CONFIG_THREAD = 'th_engine_config';
export const RULE_TOPICS = ['routing_rule', 'permission_rule', 'health_rule', 'fold_rule', 'aitl_rule', 'event_trigger'] as const;
export type RuleTopic = (typeof RULE_TOPICS)[number];

export interface Rule {
  topic: RuleTopic;
  name: string;
  enabled: boolean;
  priority: number;
  expression: string | undefined;
  body: Record<string, unknown>;
  /** The record that set this rule's current version. */
  record: string;
  sequence: number;
  actor: string;
}

interface Toggle {
  topic: string;
  body: Record<string, unknown>;
  record: string;
  sequence: number;
  actor: string;
}

export interface EngineConfigState {
  rules: Map<string, Rule>;
  toggles: Map<string, Toggle>;
  /** Records on th_engine_config, including ones that set nothing (no topic). */
  records: number;
}

export function isRuleTopic(topic: string): topic is RuleTopic {
  return (RULE_TOPICS as readonly string[]).includes(topic);
}

export const engineConfigFold: Fold<EngineConfigState> = {
  name: 'engine_config',
  init: () => ({ rules: new Map(), toggles: new Map(), records: 0 }),
  apply(state, r: StoredRecord) {
    if (r.thread !== ENGINE_CONFIG_THREAD) return state;
    state.records++;
    if (r.act !== 'LEARN') return state;
    const topic = r.body.topic;
    // Adapters (topic adapter, keyed by DID) are the dispatch module's own fold, not a toggle.
    if (typeof topic !== 'string' || topic === '' || topic === 'adapter') return state;
    if (isRuleTopic(topic)) {
      const name = r.body.name;
      if (typeof name !== 'string' || name === '') return state;
      const priority = typeof r.body.priority === 'number' && Number.isFinite(r.body.priority) ? r.body.priority : 0;
      state.rules.set(`${topic}\0${name}`, {
        topic, name, enabled: r.body.enabled !== false, priority,
        expression: typeof r.body.expression === 'string' ? r.body.expression : undefined,
        body: r.body, record: r.id, sequence: r.sequence, actor: r.actor,
      });
    } else {
      state.toggles.set(topic, { topic, body: r.body, record: r.id, sequence: r.sequence, actor: r.actor });
    }
    return state;
  },
};

/** Every rule of a topic (enabled or not), in evaluation order: highest priority first, then by name. */
export function rulesOf(state: EngineConfigState, topic: RuleTopic, opts: { includeDisabled?: boolean } = {}): Rule[] {
  const out: Rule[] = [];
  for (const rule of state.rules.values()) if (rule.topic === topic && (opts.includeDisabled || rule.enabled)) out.push(rule);
  return out.sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A toggle's `enabled` flag from its latest record; `fallback` when it was never set. */
export function toggleEnabled(state: EngineConfigState, topic: string, fallback = false): boolean {
  const t = state.toggles.get(topic);
  return t === undefined ? fallback : t.body.enabled === true;
}
