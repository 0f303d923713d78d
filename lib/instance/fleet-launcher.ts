// A local fleet (SPEC §12, the runbook's "Booting a fleet"): the coordinator is this home on its port, started if
// it is not running; worker N lives in `<home>-worker-<letter>` on port 9201 + N, with `[fleet] coordinator_url`
// pointing at the coordinator. Worker homes persist: an existing config.toml is kept as it is (and a worker whose
// config points elsewhere is named), a missing one is written. Starting is spawnDaemon's, as `spl serve` does it.

import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadInstanceConfig, type InstanceConfig } from './config-file.js';
import { ensureHome, homePaths, type HomePaths } from './home.js';
import { inspectPidFile } from './pidfile.js';
import { spawnDaemon } from './daemon.js';
import { stopRunning } from './control.js';

export const FIRST_WORKER_PORT = 9201;

export interface FleetMember {
  name: string;
  paths: HomePaths;
  config: InstanceConfig;
  env: NodeJS.ProcessEnv;
}

/** `a`, `b`, … `z`, `aa`, `ab`, … */
function letters(i: number): string {
  return i < 26 ? String.fromCharCode(97 + i) : letters(Math.floor(i / 26) - 1) + letters(i % 26);
}

/** The worker homes of a coordinator home; a new one gets a config.toml with the coordinator's URL and `token()`. */
export async function workerMembers(coordinator: FleetMember, count: number, token: () => Promise<string | undefined>): Promise<Array<FleetMember & { notes: string[] }>> {
  // A coordinator serving TLS is reached over https (its certificate must name 127.0.0.1), verified with its ca_file.
  const url = `${coordinator.config.tls ? 'https' : 'http'}://127.0.0.1:${coordinator.config.port}`;
  const caFile = coordinator.config.fleet.caFile;
  const out: Array<FleetMember & { notes: string[] }> = [];
  for (let i = 0; i < count; i++) {
    const name = `worker-${letters(i)}`;
    const home = `${coordinator.paths.home}-${name}`;
    const paths = homePaths(home);
    const env: NodeJS.ProcessEnv = { ...coordinator.env, SYNCROPEL_HOME: home };
    delete env.SPL_FLEET_COORDINATOR_URL;
    ensureHome(paths);
    const notes: string[] = [];
    if (!existsSync(paths.config)) {
      const secret = await token();
      writeFileSync(paths.config, [
        `# ${name} of the local fleet of ${coordinator.paths.home} (spl fleet start)`,
        '[server]', `port = ${FIRST_WORKER_PORT + i}`, '',
        '[fleet]', `coordinator_url = "${url}"`, `heartbeat_interval_secs = ${coordinator.config.fleet.heartbeatIntervalSecs}`,
        ...(caFile ? [`ca_file = "${caFile}"`] : []),
        ...(secret ? ['# the coordinator\'s API token its heartbeats carry', `token = "${secret}"`] : []), '',
      ].join('\n'), { mode: 0o600 });
    }
    const config = loadInstanceConfig(paths, env, {});
    if (config.fleet.coordinatorUrl !== url) notes.push(`${paths.config} sends heartbeats to ${config.fleet.coordinatorUrl ?? 'no coordinator'}, not ${url}; kept as it is`);
    out.push({ name, paths, config, env, notes });
  }
  return out;
}

/** Starts a member unless its PID file names a live instance; the pid, and whether this call started it. */
export async function startMember(m: FleetMember, entry: string): Promise<{ pid: number; started: boolean }> {
  const pid = inspectPidFile(m.paths.pidFile);
  if (pid.state === 'running') return { pid: pid.pid, started: false };
  const ready = await spawnDaemon({ entry, args: ['serve', '--foreground'], outputFile: m.paths.daemonOutput, env: m.env });
  return { pid: ready.pid, started: true };
}

/** The worker homes that exist beside a coordinator home (`<home>-worker-*`), by name. */
export function existingWorkers(coordinatorHome: string): Array<{ name: string; paths: HomePaths }> {
  const dir = dirname(coordinatorHome);
  const prefix = `${basename(coordinatorHome)}-worker-`;
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(prefix) && !n.endsWith('-data'));
  } catch {
    return [];
  }
  return names.sort().map((n) => ({ name: n.slice(basename(coordinatorHome).length + 1), paths: homePaths(join(dir, n)) }));
}

/** Stops a member if its PID file names a live instance (graceful: SIGTERM, its final heartbeat, its exit). */
export async function stopMember(paths: HomePaths, timeoutSecs: number): Promise<number | null> {
  const pid = inspectPidFile(paths.pidFile);
  if (pid.state !== 'running') return null;
  await stopRunning(paths, { pid: pid.pid, via: 'pid file' }, timeoutSecs);
  return pid.pid;
}
