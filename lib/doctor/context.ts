// Everything the checks share, computed at most once per run: the home's paths, config.toml (or why it
// does not load), the PID file, the instance's answers over socket and TCP, the instance DID and the store.
// Nothing here creates or changes a file.

import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { userDid } from '../kernel/did.js';
import { instanceDid } from '../kernel/id.js';
import { startupBackupDir } from '../instance/backup-paths.js';
import { loadInstanceConfig, type InstanceConfig, type InstanceConfigOverrides } from '../instance/config-file.js';
import { homePaths, resolveHome, type Env, type HomePaths } from '../instance/home.js';
import { rawPublicKey } from '../instance/identity.js';
import { inspectPidFile, isSplServe, type PidFileState } from '../instance/pidfile.js';
import { tcpPortHolder, type Holder } from '../instance/port-owner.js';
import { probeHealth, tcpUrl, type HealthAnswer } from './probe.js';
import { readStoreView, type StoreView } from './store-view.js';

export interface DoctorOptions {
  env: Env;
  /** --port / --host, as spl serve was given them. */
  overrides?: InstanceConfigOverrides;
  /** The OS user, for the default admin actor did:sync:user:<os user>. */
  osUser: string;
  now?: () => number;
}

export interface DoctorContext {
  env: Env;
  paths: HomePaths;
  now: () => number;
  /** undefined when config.toml does not load; configError says why. */
  config: InstanceConfig | undefined;
  configError: Error | undefined;
  /** The actor a running instance treats as its admin (config/SPL_ACTOR, else did:sync:user:<os user>). */
  adminActor: string;
  pid: PidFileState;
  /** Who listens on the configured port, when this user can see it. */
  portHolder(): Holder | undefined;
  /** The instance DID from keys/instance.key (read, never created); error when the key cannot be read. */
  identity(): { did: string | undefined; error?: string };
  socketHealth(): Promise<HealthAnswer | undefined>;
  tcpHealth(): Promise<HealthAnswer | undefined>;
  /** True when an answer came from this home's instance (same instance DID), not another one on our port. */
  isThisInstance(answer: HealthAnswer | undefined): boolean;
  /** The first of socket, TCP that answered /health for this home's instance. */
  health(): Promise<HealthAnswer | undefined>;
  /** True when this home's instance runs: a live PID file, or an answer from it over the socket or TCP. */
  running(): Promise<boolean>;
  store(): Promise<StoreView | undefined>;
  backupDir(): string;
}

function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}

export function doctorContext(o: DoctorOptions): DoctorContext {
  const paths = homePaths(resolveHome(o.env));
  let config: InstanceConfig | undefined;
  let configError: Error | undefined;
  try {
    config = loadInstanceConfig(paths, o.env, o.overrides ?? {});
  } catch (err) {
    configError = err as Error;
  }
  const identity = once(() => readInstanceDid(paths.instanceKey));
  const socketHealth = once(async () => (existsSync(paths.socket) ? probeHealth('socket', { socket: paths.socket }) : undefined));
  const portHolder = once(() => (config ? tcpPortHolder(config.port) : undefined));
  const tcpHealth = once(async (): Promise<HealthAnswer | undefined> => {
    if (!config) return undefined;
    const url = tcpUrl(config.host, config.port, config.tls !== undefined);
    const holder = portHolder();
    // A listener we can see is not spl would only make us wait out the timeout.
    if (holder && !isSplServe(holder.pid)) return { answered: false, via: 'tcp', target: url, error: `port held by pid ${holder.pid}, not spl serve` };
    // Over HTTPS the certificate is not what tells our instance apart: its DID in the answer is (ours(), below).
    return probeHealth('tcp', { url, verifyTls: false });
  });
  /** An answer over TCP may come from another home's instance on our port: only ours (same DID) counts. */
  const ours = (a: HealthAnswer | undefined): boolean => {
    const did = identity().did;
    return a?.answered === true && did !== undefined && a.body?.instance_did === did;
  };
  const health = once(async () => {
    const s = await socketHealth();
    if (s?.answered) return s;
    const t = await tcpHealth();
    return ours(t) ? t : undefined;
  });
  const pid = inspectPidFile(paths.pidFile);
  return {
    env: o.env,
    paths,
    now: o.now ?? Date.now,
    config,
    configError,
    adminActor: config?.actor ?? o.env.SPL_ACTOR ?? userDid(o.osUser),
    pid,
    portHolder,
    identity,
    socketHealth,
    tcpHealth,
    isThisInstance: ours,
    health,
    running: once(async () => pid.state === 'running' || (await health()) !== undefined),
    store: once(async () => (config ? readStoreView(config.storePath) : undefined)),
    backupDir: once(() => startupBackupDir(paths.home, identity().did, o.env)),
  };
}

/**
 * The DID derived from keys/instance.key. Not loadIdentity: that tightens a loose key mode as a side
 * effect, and doctor reports problems rather than changing files behind the operator's back.
 */
function readInstanceDid(keyFile: string): { did: string | undefined; error?: string } {
  if (!existsSync(keyFile)) return { did: undefined };
  try {
    const key = createPrivateKey(readFileSync(keyFile));
    if (key.asymmetricKeyType !== 'ed25519') return { did: undefined, error: `${keyFile} holds a ${key.asymmetricKeyType} key, not Ed25519` };
    return { did: instanceDid(rawPublicKey(key)) };
  } catch (err) {
    return { did: undefined, error: `${keyFile} is not a readable Ed25519 private key: ${(err as Error).message}` };
  }
}
