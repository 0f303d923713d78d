// Freezes and the emergency stop at the HTTP edge (SPEC §12, fleet/control.ts): every record a request would write
// is checked against the control in force before it is appended; a refusal is a 403 (NAMESPACE_FROZEN or
// EMERGENCY_STOP) and a WARN naming the actor, act and namespace. Writes the instance makes itself (dispatch
// records, registry records, worker exits) are not requests and are never refused.

import { SplError } from '../kernel/errors.js';
import { isControlRecord, namespacesOf } from '../fleet/control.js';
import { tasksFold } from '../engine/folds/tasks.js';
import type { ApiDeps } from './context.js';

export function requireUnfrozen(deps: ApiDeps, actor: string, draft: { act: string; thread: string; body: Record<string, unknown> }): void {
  const control = deps.control;
  // The usual case, nothing frozen: no namespaces worked out for every record a request writes.
  if (!control?.active || isControlRecord(draft)) return;
  const taskDomain = (thread: string): string | null => deps.engine.state(tasksFold).byThread.get(thread)?.domain ?? null;
  const verdict = control.check(draft.act, namespacesOf(draft, taskDomain));
  if (verdict.allowed) return;
  deps.logger.child({ target: 'syncropel_fleet::control' }).warn({ actor, act: draft.act, thread: draft.thread, code: verdict.code }, `${verdict.code} actor=${actor} act=${draft.act} thread=${draft.thread}: ${verdict.message}`);
  throw new SplError(verdict.code, verdict.message, { fix: verdict.fix });
}
