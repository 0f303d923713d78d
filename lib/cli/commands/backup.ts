// spl backup create --dest DIR [--keep-days N] | list [--dest DIR] | verify FILE | restore FILE.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import { expandTilde } from '../../instance/home.js';
import { loadIdentity } from '../../instance/identity.js';
import { startupBackupDir } from '../../instance/backup-paths.js';
import { bestOf, catalog } from '../../instance/backup-catalog.js';
import { createBackup, restoreBackup, verifyBackup } from '../../instance/offhost-backup.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { printFields, printJson, printTable } from '../output.js';
import { runningInstance } from '../running.js';

interface BackupFlags extends GlobalFlags {
  dest?: string;
  'keep-days'?: number | string;
}

function destOf(ctx: CommandContext, flag: string | undefined): string | undefined {
  const d = flag ?? ctx.config.backup.dest;
  return d === undefined ? undefined : resolve(expandTilde(String(d), ctx.env));
}

function startupDir(ctx: CommandContext): string {
  return startupBackupDir(ctx.paths.home, loadIdentity(ctx.paths.instanceKey)?.did, ctx.env);
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export function register(prog: Sade): void {
  prog
    .command('backup create')
    .describe('Snapshot hub.db (consistent, while serving) and tar ~/.syncro-data into --dest, verified, with a manifest')
    .option('--dest', 'Directory for the backup set (default: [backup] dest in config.toml)')
    .option('--keep-days', 'Prune sets older than this (the newest always stays)')
    .example('backup create --dest $HOME/backups/syncropel --keep-days 14')
    .action(async (flags: BackupFlags) => create(flags));

  prog
    .command('backup list')
    .describe('List startup backups (and kept generations) and, with --dest or [backup] dest, off-host sets')
    .option('--dest', 'Off-host backup directory')
    .example('backup list --dest $HOME/backups/syncropel')
    .action(async (flags: BackupFlags) => list(flags));

  prog
    .command('backup verify <file>')
    .describe('Check a store backup: quick_check, record count, and the manifest checksum when present')
    .example('backup verify $HOME/backups/syncropel/hub.db.20260412-123000.bak')
    .action(async (file: string, flags: BackupFlags) => verify(file, flags));

  prog
    .command('backup restore <file>')
    .describe('Replace hub.db with a verified backup (instance stopped; the current store is moved aside, never deleted)')
    .example('backup restore $HOME/backups/syncropel/hub.db.20260412-123000.bak')
    .action(async (file: string, flags: BackupFlags) => restore(file, flags));
}

async function create(flags: BackupFlags): Promise<void> {
  // The snapshot, its quick_check and the checksums are CPU work beside a serving instance: bin/spl has
  // already put this process at the lowest priority (yieldCpu), before loading the CLI.
  const ctx = commandContext(flags);
  const dest = destOf(ctx, flags.dest);
  if (dest === undefined) throw new SplError('USAGE', 'backup create needs --dest DIR (or [backup] dest in config.toml)', { fix: 'spl backup create --dest $HOME/backups/syncropel' });
  const keepDays = Number(flags['keep-days'] ?? ctx.config.backup.keepDays);
  if (!Number.isFinite(keepDays) || keepDays < 1) throw new SplError('USAGE', `--keep-days must be a number ≥ 1 (got ${flags['keep-days']})`);
  if (!existsSync(ctx.config.storePath)) throw new SplError('NOT_FOUND', `no store at ${ctx.config.storePath}`, { fix: 'spl init' });
  const interactive = Boolean(process.stderr.isTTY) && !ctx.json;
  let shown = false;
  const set = await createBackup({
    paths: ctx.paths, storePath: ctx.config.storePath, dest, keepDays, instanceDid: loadIdentity(ctx.paths.instanceKey)?.did,
    onProgress: (done, total, phase) => {
      shown = true;
      const line = phase === 'reading' ? `reading the store: ${mib(done)} of ${mib(total)}` : `snapshot ${mib(done)} of about ${mib(total)}`;
      process.stderr.write(interactive ? `\r${line}` : `${line}\n`);
    },
  });
  if (shown && interactive) process.stderr.write('\n');
  if (ctx.json) return printJson(set);
  process.stdout.write(`backup ${set.stamp} written and verified in ${(set.duration_ms / 1000).toFixed(1)}s\n`);
  printFields([
    ['store', `${set.store.file} (${set.store.records} records, quick_check ok, sha256 ${set.store.sha256.slice(0, 16)}…)`],
    ['task data', set.data ? `${set.data.file} (${set.data.entries} entries)` : `none (${ctx.paths.dataDir} does not exist)`],
    ['manifest', set.manifest],
    ['pruned', set.pruned.length ? set.pruned.join(', ') : 'nothing'],
  ]);
  process.stdout.write(`secrets are not included: they live in ${ctx.paths.secretsDir}; keep them in a password manager or vault\n`);
}

async function list(flags: BackupFlags): Promise<void> {
  const ctx = commandContext(flags);
  const dir = startupDir(ctx);
  const dest = destOf(ctx, flags.dest);
  const entries = await catalog(dir, dest);
  const best = bestOf(entries)?.file ?? null;
  const rows = entries.map((e) => ({ file: e.file, kind: e.kind, records: e.records ?? null, bytes: e.bytes, modified: new Date(e.mtimeMs).toISOString(), best: e.file === best }));
  if (ctx.json) return printJson({ startup_dir: dir, dest: dest ?? null, best, backups: rows });
  process.stdout.write(`startup backups: ${dir}\n${dest ? `off-host: ${dest}\n` : ''}`);
  if (rows.length === 0) {
    process.stdout.write('no backups yet: spl serve writes the startup backup; spl backup create --dest DIR writes an off-host set\n');
    return;
  }
  printTable(['', 'KIND', 'MODIFIED', 'RECORDS', 'SIZE', 'FILE'], rows.map((r) => [r.best ? '*' : '', r.kind, r.modified, r.records === null ? 'unreadable' : String(r.records), mib(r.bytes), r.file]));
  if (best) process.stdout.write(`* the best copy (most records): spl backup restore ${best}\n`);
}

async function verify(file: string, flags: BackupFlags): Promise<void> {
  const ctx = commandContext(flags);
  const v = await verifyBackup(resolve(file));
  if (ctx.json) printJson(v);
  else if (v.ok && v.checksum !== 'mismatch') process.stdout.write(`ok: ${file}: quick_check ok, schema ${v.schemaVersion}, ${v.records} records, checksum ${v.checksum}\n`);
  else process.stderr.write(`spl: ${file} is not a good backup: ${v.ok ? 'sha256 does not match its manifest' : v.problems.slice(0, 3).join('; ')}\n`);
  if (!v.ok || v.checksum === 'mismatch') process.exitCode = 1;
}

async function restore(file: string, flags: BackupFlags): Promise<void> {
  const ctx = commandContext(flags);
  const { found } = await runningInstance(ctx);
  if (found) throw new SplError('ALREADY_RUNNING', `spl is running (pid ${found.pid}); restoring under it would lose writes`, { fix: `spl stop; spl backup restore ${file}; spl serve` });
  const r = await restoreBackup(resolve(file), ctx.config.storePath);
  if (ctx.json) return printJson({ restored: true, records: r.records, store: ctx.config.storePath, moved_aside: r.movedAside });
  process.stdout.write(`restored ${r.records} records from ${file} into ${ctx.config.storePath} (verified)\n`);
  if (r.movedAside.length) process.stdout.write(`the previous store was moved aside: ${r.movedAside.join(', ')}\n`);
  process.stdout.write('start the instance: spl serve\n');
}
