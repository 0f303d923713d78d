// Runs the checks in order and never throws: a check that throws or hangs becomes a `fail` row saying so,
// and the rest still run. Exit code: 0 when everything is ok or skipped, 1 for any warn, 2 for any fail.

import type { Check, Row, Status } from './check.js';
import { authCheck } from './auth.js';
import { doctorContext, type DoctorContext, type DoctorOptions } from './context.js';
import { backupsCheck } from './backups.js';
import { configCheck } from './config-file.js';
import { diskCheck } from './disk.js';
import { dispatchCheck } from './dispatch.js';
import { engineConfigCheck } from './engine-config.js';
import { foldCheckpointCheck } from './fold-checkpoint.js';
import { healthCheck } from './health.js';
import { homeCheck } from './home.js';
import { memoryCheck } from './memory.js';
import { offsiteBackupCheck } from './offsite-backup.js';
import { permissionsCheck } from './permissions.js';
import { pidFileCheck } from './pidfile.js';
import { portCheck } from './port.js';
import { secretsCheck } from './secrets.js';
import { socketCheck } from './socket.js';
import { storeCheck } from './store.js';
import { systemdCheck } from './systemd.js';
import { taskContentCheck } from './task-content.js';

/** Top-down: the home and its config first, then the process, then the data, then the host. */
const CHECKS: ReadonlyArray<Check> = [
  homeCheck,
  configCheck,
  pidFileCheck,
  portCheck,
  socketCheck,
  healthCheck,
  authCheck,
  storeCheck,
  foldCheckpointCheck,
  engineConfigCheck,
  permissionsCheck,
  taskContentCheck,
  dispatchCheck,
  backupsCheck,
  offsiteBackupCheck,
  secretsCheck,
  diskCheck,
  memoryCheck,
  systemdCheck,
];

const CHECK_TIMEOUT_MS = 30_000;

export interface Report {
  home: string;
  exitCode: 0 | 1 | 2;
  counts: Record<Status, number>;
  checks: Row[];
}

export async function runChecks(ctx: DoctorContext, checks: ReadonlyArray<Check> = CHECKS, timeoutMs = CHECK_TIMEOUT_MS): Promise<Row[]> {
  const rows: Row[] = [];
  for (const check of checks) rows.push(await runOne(check, ctx, timeoutMs));
  return rows;
}

async function runOne(check: Check, ctx: DoctorContext, timeoutMs: number): Promise<Row> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // Kept referenced: a check stuck on a promise nothing will settle must still end in a row, not an exit.
    timer = setTimeout(() => reject(new Error(`did not finish within ${timeoutMs / 1000}s`)), timeoutMs);
  });
  try {
    const finding = await Promise.race([Promise.resolve().then(() => check.run(ctx)), timeout]);
    return { id: check.id, ...finding };
  } catch (err) {
    return { id: check.id, status: 'fail', summary: `the ${check.id} check itself failed: ${(err as Error)?.message ?? String(err)}` };
  } finally {
    clearTimeout(timer);
  }
}

export function exitCodeOf(rows: ReadonlyArray<Row>): 0 | 1 | 2 {
  if (rows.some((r) => r.status === 'fail')) return 2;
  if (rows.some((r) => r.status === 'warn')) return 1;
  return 0;
}

export async function runDoctor(opts: DoctorOptions, checks: ReadonlyArray<Check> = CHECKS): Promise<Report> {
  const ctx = doctorContext(opts);
  const rows = await runChecks(ctx, checks);
  const counts: Record<Status, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of rows) counts[r.status]++;
  return { home: ctx.paths.home, exitCode: exitCodeOf(rows), counts, checks: rows };
}
