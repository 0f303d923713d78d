// What every command needs: the home's paths, its config (flags > env > file > defaults) and a client.

import { fileURLToPath } from 'node:url';

import { userInfo } from 'node:os';
import { userDid } from '../kernel/did.js';
import { SplError } from '../kernel/errors.js';
import { connect, type Client } from '../client/client.js';
import { loadInstanceConfig, parseLogLevel, parsePort, type InstanceConfig, type InstanceConfigOverrides } from '../instance/config-file.js';
import { homePaths, resolveHome, type HomePaths } from '../instance/home.js';

export interface GlobalFlags {
  output?: string;
  o?: string;
  port?: string | number;
  host?: string;
  'log-level'?: string;
  actor?: string;
  [key: string]: unknown;
}

export interface CommandContext {
  env: NodeJS.ProcessEnv;
  flags: GlobalFlags;
  paths: HomePaths;
  config: InstanceConfig;
  json: boolean;
  client(): Client;
  actor(): string;
}

export function overridesFrom(flags: GlobalFlags): InstanceConfigOverrides {
  const o: InstanceConfigOverrides = {};
  if (flags.port !== undefined) o.port = parsePort(flags.port as string | number, '--port');
  if (typeof flags.host === 'string') o.host = flags.host;
  if (typeof flags['log-level'] === 'string') o.logLevel = parseLogLevel(flags['log-level'], '--log-level');
  if (typeof flags.actor === 'string') o.actor = flags.actor;
  return o;
}

export function commandContext(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): CommandContext {
  const paths = homePaths(resolveHome(env));
  const config = loadInstanceConfig(paths, env, overridesFrom(flags));
  const output = flags.output ?? flags.o ?? 'text';
  if (output !== 'text' && output !== 'json') throw new SplError('USAGE', `-o/--output must be text or json (got ${String(output)})`);
  return {
    env,
    flags,
    paths,
    config,
    json: output === 'json',
    client: () => connect({ socket: paths.socket, tokenFile: paths.tokenFile, env, actor: actorOf(config), caFile: config.fleet.caFile }),
    actor: () => actorOf(config),
  };
}

function actorOf(config: InstanceConfig): string {
  return config.actor ?? userDid(safeUser());
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** The bin/spl shim beside dist/, used to fork the background instance. */
export function splEntry(): string {
  return fileURLToPath(new URL('../../bin/spl', import.meta.url));
}
