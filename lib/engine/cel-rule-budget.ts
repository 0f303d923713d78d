// Stored rules that ran out of their evaluation budget: a tally per rule (what spl doctor and
// GET /v1/engine/health report) and a WARN naming the rule, throttled so a rule that trips on every
// request logs once and then at most once a minute with a count.

import type { Logger } from 'pino';
import type { CelLimit } from './cel-limits.js';

/** At most one WARN per rule in this many milliseconds after the first. */
export const BUDGET_WARN_INTERVAL_MS = 60_000;

export interface RuleBudgetEntry {
  topic: string;
  name: string;
  /** Evaluations stopped by the budget since the instance started. */
  exceeded: number;
  /** When the budget last stopped it (ISO 8601). */
  last_at: string;
  last_error: string;
  limit: CelLimit | undefined;
}

interface Tally {
  entry: RuleBudgetEntry;
  warnedAt: number;
  sinceWarn: number;
}

export class RuleBudgetTally {
  private readonly rules = new Map<string, Tally>();

  /** `now` is wall-clock milliseconds, for last_at and the WARN throttle. */
  constructor(private readonly now: () => number = Date.now, private readonly intervalMs = BUDGET_WARN_INTERVAL_MS) {}

  /** Counts one evaluation of `topic name` stopped by the budget, and warns unless it warned recently. */
  exceeded(topic: string, name: string, error: string, limit: CelLimit | undefined, logger: Logger): void {
    const at = this.now();
    const key = `${topic}\u0000${name}`;
    let t = this.rules.get(key);
    if (t === undefined) {
      t = { entry: { topic, name, exceeded: 0, last_at: '', last_error: '', limit }, warnedAt: -Infinity, sinceWarn: 0 };
      this.rules.set(key, t);
    }
    t.entry.exceeded++;
    t.entry.last_at = new Date(at).toISOString();
    t.entry.last_error = error;
    t.entry.limit = limit;
    t.sinceWarn++;
    if (at - t.warnedAt < this.intervalMs) return;
    const times = t.sinceWarn === 1 ? '' : ` (${t.sinceWarn} times since the last warning, ${t.entry.exceeded} in all)`;
    logger.warn(
      { rule: name, topic, limit, exceeded: t.entry.exceeded, error },
      `${topic} ${name} exceeded its evaluation budget and was skipped as no match${times}: ${error}; simplify it, or disable it with spl config disable-rule ${name} --topic ${topic}`,
    );
    t.warnedAt = at;
    t.sinceWarn = 0;
  }

  /** Every rule that has exceeded its budget, most recent first. */
  report(): RuleBudgetEntry[] {
    return [...this.rules.values()].map((t) => ({ ...t.entry })).sort((a, b) => (a.last_at < b.last_at ? 1 : a.last_at > b.last_at ? -1 : 0));
  }

  clear(): void {
    this.rules.clear();
  }
}

/** The instance-wide tally: permission rules (Permissions.decide) and health rules (GET /v1/engine/health). */
export const ruleBudgetTally = new RuleBudgetTally();
