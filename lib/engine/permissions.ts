// Permission decisions (SPEC §10): permission_rule records are CEL over current_actor(), resource, record,
// trust() and now(); highest priority first, the first rule whose expression is true decides by its effect,
// and no match denies. Enforcement is off until the permissions_enabled toggle is set.

import type { Logger } from 'pino';
import { RULE_BUDGET, celEngine, type CelFleet, type CelBudget, type CelEngine, type CelRecordInput, type PermissionResource } from './cel.js';
import { ruleBudgetTally, type RuleBudgetTally } from './cel-rule-budget.js';
import { rulesOf, toggleEnabled, type EngineConfigState } from './folds/engine-config.js';
import { trustScore, type TrustState } from './folds/trust.js';
import type { TasksState } from './folds/tasks.js';
import { taskLookupAt } from './tasks.js';

interface PermissionRequest {
  actor: string;
  resource: PermissionResource;
  method: string;
  path: string;
  record: CelRecordInput | null;
}

interface Decision {
  allowed: boolean;
  /** The deciding rule's name; null when no rule matched (deny by default). */
  rule: string | null;
}

/** What an admin must be able to do for enforcement to be safe to turn on. */
export const ADMIN_RESOURCES: ReadonlyArray<PermissionResource> = ['record_write', 'thread_read', 'config_read'];

interface PermissionsOptions {
  /** Where rules that exceed their budget are counted; the instance-wide tally by default. */
  tally?: RuleBudgetTally;
  /** What one rule's evaluation may spend; RULE_BUDGET by default. */
  budget?: CelBudget;
  /** Monotonic milliseconds for the time budget; performance.now by default. */
  clock?: () => number;
  /** The tasks fold's state, for task() and tasks in rules; no tasks when absent. */
  tasks?: () => TasksState;
  /** The fleet for the fleet_… functions; outside any fleet when absent. */
  fleet?: () => CelFleet;
}

export class Permissions {
  private readonly tally: RuleBudgetTally;
  private readonly budget: CelBudget;
  private readonly clock: (() => number) | undefined;
  private readonly tasks: (() => TasksState) | undefined;
  private readonly fleet: (() => CelFleet) | undefined;

  constructor(
    private readonly config: () => EngineConfigState,
    private readonly trust: () => TrustState,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly cel: CelEngine = celEngine,
    opts: PermissionsOptions = {},
  ) {
    this.tally = opts.tally ?? ruleBudgetTally;
    this.budget = opts.budget ?? RULE_BUDGET;
    this.clock = opts.clock;
    this.tasks = opts.tasks;
    this.fleet = opts.fleet;
  }

  get enabled(): boolean {
    return toggleEnabled(this.config(), 'permissions_enabled');
  }

  decide(req: PermissionRequest): Decision {
    const at = this.now();
    const trust = this.trust();
    const tasks = this.tasks ? taskLookupAt(this.tasks(), at) : undefined;
    for (const rule of rulesOf(this.config(), 'permission_rule')) {
      // A rule without an expression, or one that does not compile, is skipped; the engine warned when it arrived.
      if (rule.expression === undefined) continue;
      let compiled;
      try {
        compiled = this.cel.compile('permission', rule.expression);
      } catch {
        continue;
      }
      const result = compiled.evaluateBool({
        record: req.record, resource: req.resource, method: req.method, path: req.path,
        actor: req.actor, trust: (a, d) => trustScore(trust, a, d, at), now: () => at,
        budget: this.budget, ...(this.clock ? { clock: this.clock } : {}), ...(tasks ? { tasks } : {}), ...(this.fleet ? { fleet: this.fleet } : {}),
      });
      if (!result.ok && result.limit !== undefined) {
        // Over budget: skipped like a rule that does not compile, so a costly allow rule cannot stall
        // every request (and a costly deny rule fails open only to the rules below it).
        this.tally.exceeded('permission_rule', rule.name, result.error, result.limit, this.logger);
        continue;
      }
      if (!result.ok) {
        this.logger.debug({ rule: rule.name, actor: req.actor, error: result.error }, 'permission rule did not evaluate; treated as no match');
        continue;
      }
      if (result.value) return { allowed: rule.body.effect !== 'deny', rule: rule.name };
    }
    return { allowed: false, rule: null };
  }

  /** The admin resources `actor` would be denied once enforcement is on (empty = safe to enable). */
  preflight(actor: string): PermissionResource[] {
    return ADMIN_RESOURCES.filter((resource) => !this.decide({ actor, resource, method: resource === 'record_write' ? 'POST' : 'GET', path: '/v1/preflight', record: null }).allowed);
  }
}

/** The exact command that gives `actor` an allow rule covering everything. */
export function adminRuleCommand(actor: string): string {
  return `spl config add-permission-rule --name admin-all --action allow --priority 1000 --expression 'current_actor() == "${actor}"'`;
}
