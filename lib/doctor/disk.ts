// Free space where the store lives: SQLite needs room for its WAL and checkpoints, and a full disk turns
// every write into 507 STORAGE_FULL.

import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail, ok, skip, warn, type Check } from './check.js';
import { formatBytes } from './format.js';
import { shellQuote } from './modes.js';

const DISK_WARN_BYTES = 1024 ** 3;
const DISK_FAIL_BYTES = 100 * 1024 ** 2;

export const diskCheck: Check = {
  id: 'disk',
  run(ctx) {
    const path = nearestExisting(ctx.config ? dirname(ctx.config.storePath) : ctx.paths.home);
    let free: number;
    let total: number;
    try {
      const s = statfsSync(path);
      free = s.bavail * s.bsize;
      total = s.blocks * s.bsize;
    } catch (err) {
      return skip(`cannot read free space for ${path}: ${(err as Error).message}`);
    }
    const used = total > 0 ? Math.round(((total - free) / total) * 100) : 0;
    const summary = `${formatBytes(free)} free on the filesystem holding ${path} (${used}% used)`;
    const fix = `df -h ${shellQuote(path)}; du -sh ${shellQuote(ctx.paths.logsDir)} ${shellQuote(ctx.backupDir())}`;
    if (free < DISK_FAIL_BYTES) return fail(`${summary}: below ${formatBytes(DISK_FAIL_BYTES)}, writes will fail with STORAGE_FULL`, fix);
    if (free < DISK_WARN_BYTES) return warn(`${summary}: below ${formatBytes(DISK_WARN_BYTES)}`, fix);
    return ok(summary);
  },
};

function nearestExisting(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}
