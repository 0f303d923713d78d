// A fleet on loopback for the integration tests: a coordinator and workers as real daemons in temporary homes,
// one-second heartbeats; a git repository to dispatch in; adapters that run the test suite's stand-in for the agent
// CLI (the external edge); and a bounded poll.

import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, makeHome, runSpl, serve, stop, type Home } from './spl.js';

export const AGENT = fileURLToPath(new URL('../fixtures/agents/fake-claude.mjs', import.meta.url));

/** Probes every 100 ms until `ok` holds, at most `polls` times; the last value either way (the test asserts it). */
export async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, polls = 100): Promise<T> {
  let v = await probe();
  for (let i = 0; i < polls && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await probe();
  }
  return v;
}

/** A served coordinator with one-second beats; stopped and removed at teardown. */
export async function fleetCoordinator(t: Test): Promise<Home> {
  const coord = await makeHome();
  t.teardown(() => coord.cleanup());
  mkdirSync(coord.home, { mode: 0o700 });
  writeFileSync(join(coord.home, 'config.toml'), '[fleet]\nheartbeat_interval_secs = 1\n', { mode: 0o600 });
  await serve(coord);
  t.teardown(() => stop(coord));
  return coord;
}

/** Writes a worker's config.toml: its port, heartbeats every second to `coordinatorUrl`, then `extra` lines. */
export function writeWorkerConfig(worker: Home, coordinatorUrl: string, extra = ''): void {
  writeFileSync(join(worker.home, 'config.toml'), `[server]\nport = ${worker.port}\n[fleet]\ncoordinator_url = "${coordinatorUrl}"\nheartbeat_interval_secs = 1\n${extra}`, { mode: 0o600 });
}

/** A served worker `<dir>/.syncro-worker-NAME` beating to `coord`; stopped at teardown. Its pid and DID too. */
export async function fleetWorker(t: Test, coord: Home, name: string, extra = ''): Promise<Home & { pid: number; did: string }> {
  const worker: Home = { ...coord, home: join(coord.dir, `.syncro-worker-${name}`), port: await freePort() };
  worker.env = { ...coord.env, SYNCROPEL_HOME: worker.home };
  mkdirSync(worker.home, { mode: 0o700 });
  writeWorkerConfig(worker, `http://127.0.0.1:${coord.port}`, extra);
  const pid = await serve(worker);
  t.teardown(() => stop(worker)); // a worker a test killed: stop finds nothing and says so
  const did = JSON.parse((await runSpl(['status', '-o', 'json'], worker.env)).stdout).instance_did as string;
  return { ...worker, pid, did };
}

/** A git repository with one commit in `<dir>/proj`. */
export function gitRepo(dir: string): string {
  const repo = join(dir, 'proj');
  mkdirSync(repo);
  const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...a], { cwd: repo });
  git('init', '-q');
  writeFileSync(join(repo, 'README'), 'x\n');
  git('add', 'README');
  git('commit', '-q', '-m', 'first');
  return repo;
}

/** `spl adapter add DID` on `h`: the stand-in agent in `mode`, claude family; the exit code. */
export async function addAgent(h: Home, did: string, mode: string, extra: string[] = []): Promise<number | null> {
  return (await runSpl(['adapter', 'add', did, '--family', 'claude', '--command', `${process.execPath} ${AGENT} ${mode} -p --verbose --output-format stream-json`, ...extra], h.env)).code;
}
