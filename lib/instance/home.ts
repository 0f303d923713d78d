// The instance home (SPEC §1): every path an instance uses is built here and nowhere else.

import { accessSync, chmodSync, constants, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { SplError } from '../kernel/errors.js';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

export interface HomePaths {
  home: string;
  config: string;
  keysDir: string;
  instanceKey: string;
  runDir: string;
  pidFile: string;
  socket: string;
  lockFile: string;
  logsDir: string;
  logFile: string;
  daemonOutput: string;
  secretsDir: string;
  /** Hashes of the API tokens this instance accepts (secrets/api-tokens.json). */
  apiTokens: string;
  /** The CLI's own bearer token for TCP, when one is configured. */
  tokenFile: string;
  /** Task content lives beside the home: ~/.syncro → ~/.syncro-data. */
  dataDir: string;
  tasksDir: string;
  aliasesFile: string;
}

export type Env = Record<string, string | undefined>;

/** SYNCROPEL_HOME, else ~/.syncro. */
export function resolveHome(env: Env = process.env): string {
  const fromEnv = env.SYNCROPEL_HOME;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(expandTilde(fromEnv, env));
  return join(userHome(env), '.syncro');
}

export function userHome(env: Env = process.env): string {
  return env.HOME && env.HOME !== '' ? env.HOME : homedir();
}

export function expandTilde(p: string, env: Env = process.env): string {
  return p === '~' ? userHome(env) : p.startsWith('~/') ? join(userHome(env), p.slice(2)) : p;
}

export function homePaths(home: string): HomePaths {
  const runDir = join(home, 'run');
  const logsDir = join(home, 'logs');
  const dataDir = join(dirname(home), `${basename(home)}-data`);
  return {
    home,
    config: join(home, 'config.toml'),
    keysDir: join(home, 'keys'),
    instanceKey: join(home, 'keys', 'instance.key'),
    runDir,
    pidFile: join(runDir, 'spl.pid'),
    socket: join(runDir, 'spl.sock'),
    lockFile: join(runDir, 'spl.lock'),
    logsDir,
    logFile: join(logsDir, 'spl.log'),
    daemonOutput: join(logsDir, 'serve.out'),
    secretsDir: join(home, 'secrets'),
    apiTokens: join(home, 'secrets', 'api-tokens.json'),
    tokenFile: join(home, 'token'),
    dataDir,
    tasksDir: join(dataDir, 'tasks'),
    aliasesFile: join(dataDir, 'aliases.toml'),
  };
}

/** A store path from config.toml: relative paths are relative to the home. */
export function storePath(home: string, configured: string | undefined): string {
  const p = configured ?? 'hub.db';
  return isAbsolute(p) ? p : join(home, p);
}

/**
 * Creates the home layout with tight modes; existing directories get their modes corrected. A home that cannot
 * be one (a file, under a file, read-only, not this user's) is refused first, in one sentence with the fix,
 * before anything is created.
 */
export function ensureHome(paths: HomePaths): void {
  assertUsableHome(paths.home);
  assertUsableHome(paths.dataDir);
  try {
    for (const dir of [paths.home, paths.keysDir, paths.runDir, paths.logsDir, paths.secretsDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    }
    mkdirSync(paths.tasksDir, { recursive: true, mode: 0o700 });
    if (!existsSync(paths.aliasesFile)) {
      writeFileSync(paths.aliasesFile, '# task alias → thread id, written by spl task add\n', { mode: 0o600 });
    }
  } catch (err) {
    throw homeError(paths.home, err);
  }
}

/**
 * Refuses a directory the instance cannot use: the path or an ancestor is a file, the filesystem is
 * read-only, or this user may not write it. A directory that does not exist yet is fine when its nearest
 * existing ancestor is writable.
 */
function assertUsableHome(dir: string): void {
  let probe = dir;
  for (;;) {
    let st;
    try {
      st = statSync(probe);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(probe) !== probe) {
        probe = dirname(probe);
        continue;
      }
      if (code === 'ENOTDIR') {
        probe = dirname(probe);
        continue;
      }
      throw homeError(dir, err);
    }
    if (!st.isDirectory()) {
      const what = probe === dir ? `${dir} is a file, not a directory` : `${probe} is a file, so ${dir} cannot be created under it`;
      throw new SplError('INVALID_HOME', `${what}`, { fix: probe === dir ? `move the file aside (mv ${dir} ${dir}.file) or set SYNCROPEL_HOME to another directory` : `set SYNCROPEL_HOME to a directory that is not under ${probe}` });
    }
    try {
      accessSync(probe, constants.W_OK | constants.X_OK);
    } catch (err) {
      throw homeError(dir, err, probe);
    }
    return;
  }
}

function homeError(home: string, err: unknown, at?: string): SplError {
  const e = err as NodeJS.ErrnoException;
  const where = at ?? e.path ?? home;
  const user = currentUser();
  switch (e.code) {
    case 'EROFS':
      return new SplError('INVALID_HOME', `${where} is on a read-only filesystem, so ${home} cannot be used as the home`, { cause: err, fix: `set SYNCROPEL_HOME to a directory on a writable filesystem (or remount it read-write)` });
    case 'EACCES':
    case 'EPERM':
      return new SplError('INVALID_HOME', `${where} is not writable by ${user}, so ${home} cannot be used as the home`, { cause: err, fix: `run spl as the owner of ${where}, or give it to ${user}: chown -R ${user} ${where}` });
    case 'ENOTDIR':
    case 'EEXIST':
      return new SplError('INVALID_HOME', `${where} is not a directory, so ${home} cannot be used as the home`, { cause: err, fix: `set SYNCROPEL_HOME to another directory` });
    case 'ENOSPC':
      return new SplError('STORAGE_FULL', `the disk holding ${where} is full, so the home ${home} cannot be set up`, { cause: err, fix: `free space on it: df -h ${dirname(where)}` });
    default:
      return new SplError('INVALID_HOME', `${home} cannot be used as the home: ${e.code ?? e.message}${e.path ? ` (${e.path})` : ''}`, { cause: err, fix: 'set SYNCROPEL_HOME to a directory this user can write' });
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
