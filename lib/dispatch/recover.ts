// Start-up: dispatches a previous run of the instance left unfinished (it crashed, or was killed with its workers
// running) are settled, never silently. A worker still alive — the same pid with the same start time — is stopped
// (SIGTERM to its group, SIGKILL after the grace period); a missing subprocess-exit record is written as "not
// observed"; the completion says dispatcher_restarted; and the task, if it is still active, is marked failed.

import { validateRecord } from '../kernel/record.js';
import { findTask, tasksFold } from '../engine/folds/tasks.js';
import { planTransition } from '../engine/tasks.js';
import { KIND, TOPIC, unfinished, type DispatchesState, type DispatchView } from './records.js';
import { procStat } from './proc.js';
import type { RunDeps } from './run.js';

/** The same process (pid and start time), and not a zombie waiting for a parent that will never reap it. */
function alive(pid: number, start: unknown): boolean {
  const p = procStat(pid);
  return p !== null && typeof start === 'string' && p.start === start && p.state !== 'Z';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stops a worker a crashed dispatcher left running: its group gets SIGTERM, then SIGKILL after the grace period. */
async function stopOrphan(pid: number, start: unknown, graceMs: number): Promise<'stopped' | 'killed' | 'gone'> {
  if (!alive(pid, start)) return 'gone';
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  for (let waited = 0; waited < graceMs; waited += 100) {
    await sleep(100);
    if (!alive(pid, start)) return 'stopped';
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  return 'killed';
}

async function settle(deps: RunDeps, d: DispatchView): Promise<void> {
  const pid = typeof d.spawn?.pid === 'number' ? d.spawn.pid : null;
  const orphan = pid === null ? 'not_spawned' : await stopOrphan(pid, d.spawn?.proc_start, deps.graceMs);
  const drafts: unknown[] = [];
  if (d.spawn && !d.exit) {
    drafts.push({ thread: d.sub_thread, actor: deps.did, act: 'DO', body: { kind: KIND.exit, topic: TOPIC.exit, pid, exit_code: null, signal: null, signal_name: null, duration_ms: null, last_stream_event_type: null, observed: false, note: 'the dispatcher stopped before this worker exited; its exit was not observed' } });
  }
  const detail = orphan === 'not_spawned' ? 'the instance restarted before this dispatch started' : orphan === 'gone' ? `the instance restarted while worker ${pid} ran; it is gone` : `the instance restarted while worker ${pid} ran; it was still running and has been ${orphan}`;
  drafts.push({
    thread: d.sub_thread, actor: deps.did, act: 'KNOW',
    body: {
      kind: KIND.complete, topic: TOPIC.complete, task_thread: d.task_thread, alias: d.alias, attempt: d.attempt, adapter: d.adapter,
      success: false, completion_codepath: 'dispatcher_restarted', failure_reason: 'dispatcher_restarted', cost_usd: null, cost_source: 'unknown', orphan, detail,
    },
  });
  const task = findTask(deps.engine.state(tasksFold), d.task_thread);
  if (task && task.status === 'active') drafts.push(planTransition(task, deps.did, { to: 'failed', reason: `dispatch dispatcher_restarted: ${detail}` }).draft);
  await deps.log.append(drafts.map((x) => validateRecord(x)));
  deps.logger.warn({ alias: d.alias, thread: d.sub_thread, pid }, `dispatch of ${d.alias} (attempt ${d.attempt}) left unfinished by the previous run: ${detail}; marked failed (dispatcher_restarted)`);
}

/** `foreign`: a dispatch another instance runs (a fleet worker's, whose records this one holds): not ours to settle. */
export async function recoverUnfinished(deps: RunDeps & { state: DispatchesState; foreign?: (d: DispatchView) => boolean }): Promise<void> {
  for (const d of unfinished(deps.state)) if (!deps.foreign?.(d)) await settle(deps, d);
}
