// config.toml, the instance's own settings (host, port, store, backup, fleet, log level): parsing, validation with the
// offending key named, and the flag > env > file > default precedence. Not the engine configuration, which is
// records on th_engine_config (engine/folds/engine-config.ts).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isDid } from '../kernel/did.js';
import { SplError } from '../kernel/errors.js';
import { isAbsolute, join, resolve } from 'node:path';
import { expandTilde, storePath, type Env, type HomePaths } from './home.js';

// smol-toml's CommonJS build is one file; its ESM build is nine modules, and every CLI call reads config.toml,
// so the single file is measurably quicker to load (~7 ms of a ~100 ms call).
const { parse: parseToml } = createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface InstanceConfig {
  actor: string | undefined;
  host: string;
  port: number;
  storePath: string;
  logLevel: LogLevel;
  /** [server] tls_cert, tls_key: absolute paths of the PEM certificate (chain) and key the TCP listener serves HTTPS with. */
  tls: { cert: string; key: string } | undefined;
  /**
   * [fleet]: where heartbeats go (a worker), how often, the endpoint to advertise, the bearer they carry, and the
   * CA (an absolute path to PEM certificates) other members' HTTPS certificates are verified against.
   */
  fleet: { coordinatorUrl: string | undefined; heartbeatIntervalSecs: number; advertisedEndpoint: string | undefined; token: string | undefined; caFile: string | undefined };
  backup: { dest: string | undefined; keepDays: number };
  /** [server] headers_timeout_secs, request_timeout_secs: how long a client may take to send its request. */
  timeouts: { headersSecs: number; requestSecs: number };
  /** [dispatch] kill_grace_secs: SIGTERM → SIGKILL for a worker's group, and how long it may linger after its result. */
  dispatch: { killGraceSecs: number };
}

export interface InstanceConfigOverrides {
  host?: string;
  port?: number;
  logLevel?: string;
  actor?: string;
}

const DEFAULT_PORT = 9100;
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_HEADERS_TIMEOUT_SECS = 10;
const DEFAULT_REQUEST_TIMEOUT_SECS = 60;

export const DEFAULT_CONFIG_TOML = `# spl instance configuration. Precedence: command-line flag > environment > this file > default.

[identity]
# The local acting DID for CLI writes (SPL_ACTOR overrides); default did:sync:user:<os user>.
# actor = "did:sync:user:alice"

[server]
host = "127.0.0.1"
port = ${DEFAULT_PORT}
# A client that has not sent its request headers within headers_timeout_secs (or its whole request within
# request_timeout_secs) gets 408 and is disconnected, within about a second of the limit. Restart to apply.
# headers_timeout_secs = ${DEFAULT_HEADERS_TIMEOUT_SECS}
# request_timeout_secs = ${DEFAULT_REQUEST_TIMEOUT_SECS}
# HTTPS on the TCP port (the unix socket stays plain): a PEM certificate (with its chain) and its key, both or
# neither; a relative path is inside this home. Restart to apply.
# tls_cert = "tls/cert.pem"
# tls_key = "tls/key.pem"

[store]
path = "hub.db"

[log]
# error | warn | info | debug | trace (SPL_LOG_LEVEL overrides)
level = "info"

[backup]
# dest = "/var/backups/syncropel"
keep_days = 14

# [fleet]
# A worker: where its heartbeats go, and an API token of the coordinator (spl token create there) as its bearer.
# coordinator_url = "https://10.0.0.1:9100"
# token = "…"
# heartbeat_interval_secs = 5
# The endpoint the coordinator and spl fleet ping reach this instance at (default: from [server] host and port).
# advertised_endpoint = "https://10.0.0.2:9100"
# The CA that signed the other members' certificates (PEM), when it is not one the system trusts.
# ca_file = "tls/ca.pem"

[dispatch]
# A worker's process group gets SIGTERM, then SIGKILL after kill_grace_secs; a worker that lingers after its
# result line is ended after the same grace period.
# kill_grace_secs = 5
`;

function bad(key: string, message: string, file: string): SplError {
  return new SplError('INVALID_CONFIG', `${file}: ${key} ${message}`, { field: key, fix: `edit ${file}` });
}

type Table = Record<string, unknown>;

function table(doc: Table, name: string, file: string): Table {
  const t = doc[name];
  if (t === undefined) return {};
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw bad(`[${name}]`, 'must be a table', file);
  return t as Table;
}

function str(t: Table, key: string, section: string, file: string): string | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${section}.${key}`, 'must be a string', file);
  return v;
}

function int(t: Table, key: string, section: string, file: string, min: number, max: number): number | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw bad(`${section}.${key}`, `must be an integer from ${min} to ${max}`, file);
  return n;
}

export function parsePort(v: string | number, source: string): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new SplError('USAGE', `${source}: port must be an integer from 1 to 65535 (got ${v})`, { field: 'port' });
  return n;
}

export function parseLogLevel(v: string, source: string): LogLevel {
  const l = v.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(l)) throw new SplError('USAGE', `${source}: log level must be one of ${LOG_LEVELS.join(', ')} (got ${v})`, { field: 'level' });
  return l as LogLevel;
}

function readConfigFile(file: string): Table {
  if (!existsSync(file)) return {};
  try {
    return parseToml(readFileSync(file, 'utf8')) as Table;
  } catch (err) {
    throw new SplError('INVALID_CONFIG', `${file} is not valid TOML: ${(err as Error).message.split('\n')[0]}`, { fix: `edit ${file}` });
  }
}

/** Every table and key config.toml may hold; anything else is a typo, refused with the nearest valid name. */
const CONFIG_KEYS: Record<string, readonly string[]> = {
  identity: ['actor'],
  server: ['host', 'port', 'headers_timeout_secs', 'request_timeout_secs', 'tls_cert', 'tls_key'],
  store: ['path'],
  log: ['level'],
  fleet: ['coordinator_url', 'heartbeat_interval_secs', 'advertised_endpoint', 'token', 'ca_file'],
  backup: ['dest', 'keep_days'],
  dispatch: ['kill_grace_secs'],
};

function rejectUnknownKeys(doc: Table, file: string): void {
  const tables = Object.keys(CONFIG_KEYS);
  for (const [name, value] of Object.entries(doc)) {
    if (!(name in CONFIG_KEYS)) {
      const isTable = typeof value === 'object' && value !== null && !Array.isArray(value);
      // A stray key above every table is usually a key of one of them, written before its header.
      const key = isTable ? '' : nearest(name, Object.values(CONFIG_KEYS).flat());
      const hint = isTable ? `; did you mean [${nearest(name, tables)}]?` : `; did you mean ${key} under [${tables.find((t) => CONFIG_KEYS[t]!.includes(key))}]?`;
      throw new SplError('INVALID_CONFIG', `${file}: unknown ${isTable ? `table [${name}]` : `key ${name}`}${hint} (tables: ${tables.map((t) => `[${t}]`).join(' ')})`, {
        field: name,
        fix: `edit ${file}`,
      });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue; // table() reports it
    const keys = CONFIG_KEYS[name]!;
    for (const key of Object.keys(value as Table)) {
      if (!keys.includes(key)) {
        throw new SplError('INVALID_CONFIG', `${file}: unknown key ${key} in [${name}]; did you mean ${nearest(key, keys)}? ([${name}] takes ${keys.join(', ')})`, {
          field: `${name}.${key}`,
          fix: `edit ${file}`,
        });
      }
    }
  }
}

/** The candidate closest to `word` by edit distance. */
export function nearest(word: string, candidates: readonly string[]): string {
  let best = candidates[0]!;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

export function loadInstanceConfig(paths: HomePaths, env: Env = process.env, flags: InstanceConfigOverrides = {}): InstanceConfig {
  const file = paths.config;
  const doc = readConfigFile(file);
  rejectUnknownKeys(doc, file);
  const identity = table(doc, 'identity', file);
  const server = table(doc, 'server', file);
  const store = table(doc, 'store', file);
  const log = table(doc, 'log', file);
  const fleet = table(doc, 'fleet', file);
  const backup = table(doc, 'backup', file);
  const dispatch = table(doc, 'dispatch', file);

  const fileActor = str(identity, 'actor', 'identity', file);
  if (fileActor !== undefined && !isDid(fileActor)) throw bad('identity.actor', 'must be a DID such as did:sync:user:alice', file);
  const fileLevel = str(log, 'level', 'log', file);
  if (fileLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(fileLevel.toLowerCase())) {
    throw bad('log.level', `must be one of ${LOG_LEVELS.join(', ')}`, file);
  }

  // Every file value is validated, even where a flag overrides it, so a broken file never hides.
  const fileHost = str(server, 'host', 'server', file);
  const filePort = int(server, 'port', 'server', file, 1, 65535);
  const host = flags.host ?? fileHost ?? DEFAULT_HOST;
  const port = flags.port ?? filePort ?? DEFAULT_PORT;
  const headersSecs = int(server, 'headers_timeout_secs', 'server', file, 1, 600) ?? DEFAULT_HEADERS_TIMEOUT_SECS;
  const requestSecs = int(server, 'request_timeout_secs', 'server', file, 1, 3600) ?? Math.max(DEFAULT_REQUEST_TIMEOUT_SECS, headersSecs);
  if (requestSecs < headersSecs) {
    throw bad('server.request_timeout_secs', `(${requestSecs}) must be at least server.headers_timeout_secs (${headersSecs}): the whole request cannot take less time than its headers`, file);
  }
  const levelText = flags.logLevel ?? env.SPL_LOG_LEVEL ?? fileLevel ?? 'info';

  return {
    actor: flags.actor ?? env.SPL_ACTOR ?? fileActor,
    host,
    port,
    storePath: storePath(paths.home, str(store, 'path', 'store', file)),
    tls: tlsFiles(server, paths.home, file, env),
    logLevel: parseLogLevel(levelText, flags.logLevel ? '--log-level' : env.SPL_LOG_LEVEL ? 'SPL_LOG_LEVEL' : file),
    fleet: {
      coordinatorUrl: env.SPL_FLEET_COORDINATOR_URL ?? str(fleet, 'coordinator_url', 'fleet', file),
      heartbeatIntervalSecs: int(fleet, 'heartbeat_interval_secs', 'fleet', file, 1, 3600) ?? 5,
      advertisedEndpoint: str(fleet, 'advertised_endpoint', 'fleet', file),
      token: env.SPL_FLEET_TOKEN ?? str(fleet, 'token', 'fleet', file),
      caFile: homeFile(paths.home, str(fleet, 'ca_file', 'fleet', file), env),
    },
    backup: {
      dest: resolveDest(str(backup, 'dest', 'backup', file), env),
      keepDays: int(backup, 'keep_days', 'backup', file, 1, 3650) ?? 14,
    },
    timeouts: { headersSecs, requestSecs },
    dispatch: { killGraceSecs: int(dispatch, 'kill_grace_secs', 'dispatch', file, 1, 300) ?? 5 },
  };
}

/** Writes the default config.toml unless one exists. */
export function writeDefaultConfigToml(paths: HomePaths): boolean {
  if (existsSync(paths.config)) return false;
  writeFileSync(paths.config, DEFAULT_CONFIG_TOML, { mode: 0o600, flag: 'wx' });
  return true;
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A path config.toml names: `~/` expanded, a relative one inside the home (as [store] path); empty is unset. */
function homeFile(home: string, p: string | undefined, env: Env): string | undefined {
  if (p === undefined || p === '') return undefined;
  const expanded = expandTilde(p, env);
  return isAbsolute(expanded) ? resolve(expanded) : join(home, expanded);
}

/** [server] tls_cert and tls_key: both or neither. */
function tlsFiles(server: Table, home: string, file: string, env: Env): InstanceConfig['tls'] {
  const cert = homeFile(home, str(server, 'tls_cert', 'server', file), env);
  const key = homeFile(home, str(server, 'tls_key', 'server', file), env);
  if (cert === undefined && key === undefined) return undefined;
  const [given, missing] = cert === undefined ? ['tls_key', 'tls_cert'] : ['tls_cert', 'tls_key'];
  if (cert === undefined || key === undefined) {
    throw new SplError('INVALID_CONFIG', `${file}: server.${given} is set without server.${missing}: HTTPS needs both the certificate and its private key`, {
      field: `server.${missing}`,
      fix: `add ${missing} = "<path to the PEM ${missing === 'tls_key' ? 'private key' : 'certificate'}>" under [server] in ${file}, or remove ${given} to serve plain HTTP`,
    });
  }
  return { cert, key };
}

/** `[backup] dest` as an absolute path (`~/` expanded). */
function resolveDest(dest: string | undefined, env: Env): string | undefined {
  return dest === undefined || dest === '' ? undefined : resolve(expandTilde(dest, env));
}
