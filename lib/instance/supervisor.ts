// The foreground supervisor of `spl serve`, entry point: checks the config, ensures the home and starts the
// store's early quick_check (or takes the launcher's), loading only what that needs. The supervision itself
// (supervision.ts: logging, sd_notify, signals, the crash handler, environment scrubbing) and then the instance
// load while the check runs. The CLI parses and prints; this runs the process.

import type { InstanceConfig } from './config-file.js';
import { ensureHome, type HomePaths } from './home.js';
import { checkServeConfig } from './serve-config.js';
import { startEarlyCheck } from '../store/early-check.js';
import { earlyCheckFromLauncher } from './daemon.js';
import type { Service } from './services.js';

export interface SuperviseOptions {
  paths: HomePaths;
  config: InstanceConfig;
  env: Record<string, string | undefined>;
  adminActor: string;
  /** Started by `spl serve` (no --foreground) through an IPC channel: report readiness or the error to the parent. */
  isChild: boolean;
  insecureLocalhost: boolean;
  newStore: boolean;
  /** Ignore the fold checkpoint and rebuild every fold from the store (spl serve --rebuild). */
  rebuild?: boolean;
  /** Reads config.toml again with the same flags and environment (SIGHUP). */
  reread: () => InstanceConfig;
  services?: readonly Service[];
}

export async function superviseForeground(o: SuperviseOptions): Promise<void> {
  process.umask(0o077); // the store, its WAL, logs and keys are for the service user only
  checkServeConfig(o.paths, o.config, { insecureLocalhost: o.insecureLocalhost });
  ensureHome(o.paths);
  // The store's quick_check runs on SQLite's thread while this thread loads the supervision and the instance (koa,
  // CEL, the folds): the open uses its verdict if the store has not changed by then, and checks again if it has.
  // Started by `spl serve`, the launcher has been checking the store since before this process began.
  const early = (o.isChild ? earlyCheckFromLauncher(o.config.storePath) : undefined) ?? startEarlyCheck(o.config.storePath);
  // A SIGHUP while the rest loads would end the process (the default action): counted, and logged once there is a log.
  let hups = 0;
  const countHup = (): void => {
    hups++;
  };
  process.on('SIGHUP', countHup);
  const { supervise } = await import('./supervision.js');
  return supervise(o, early, () => {
    process.off('SIGHUP', countHup);
    return hups;
  });
}
