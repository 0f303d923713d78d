// The instance home (SPEC §1): every path an instance uses is built here and nowhere else.

import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
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

/** Creates the home layout with tight modes; existing directories get their modes corrected. */
export function ensureHome(paths: HomePaths): void {
  for (const dir of [paths.home, paths.keysDir, paths.runDir, paths.logsDir, paths.secretsDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  mkdirSync(paths.tasksDir, { recursive: true, mode: 0o700 });
  if (!existsSync(paths.aliasesFile)) {
    writeFileSync(paths.aliasesFile, '# task alias → thread id, written by spl task add\n', { mode: 0o600 });
  }
}
