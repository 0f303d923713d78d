// The container image's spl (packaging/docker-spl.sh), run for real as root the way the image runs it: `serve`
// hands the runbook's mount points to the spl user and drops to it; `docker exec … spl` commands run as that user
// too. Here the unprivileged user is nobody and the mount points are root-owned directories, as docker creates them.

import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, http, type RunResult } from '../helpers/spl.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WRAPPER = join(ROOT, 'packaging', 'docker-spl.sh');
const NOBODY = 65534;

function run(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn('env', ['-u', 'NODE_OPTIONS', 'sh', WRAPPER, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('serve hands root-owned mount points to the spl user, runs as it, and docker exec commands run as it', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spl-docker-'));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, 'home', 'syncropel');
  const splHome = join(dir, 'syncropel');
  const backups = join(home, '.local', 'share', 'syncropel', 'backups');
  // What docker leaves for `-v spl-home:/syncropel -v $HOME/backups/syncropel:…/backups` before the first start.
  for (const d of [home, splHome, backups]) mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const d of [join(dir, 'home'), home, join(home, '.local'), join(home, '.local', 'share'), join(home, '.local', 'share', 'syncropel')]) chmodSync(d, 0o755);
  const port = await freePort();
  const env = { PATH: process.env.PATH, HOME: home, SYNCROPEL_HOME: splHome, SPL_USER: 'nobody', SPL_BIN: join(ROOT, 'bin', 'spl') };

  const server = spawn('env', ['-u', 'NODE_OPTIONS', 'sh', WRAPPER, 'serve', '--foreground', '--host', '0.0.0.0', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  server.stderr.on('data', (d) => (err += d));
  t.teardown(() => server.exitCode === null && server.kill('SIGKILL'));
  let up = false;
  for (let i = 0; i < 200 && !up && server.exitCode === null; i++) {
    up = await http(port, 'GET', '/health').then((r) => r.status === 200, () => false);
    if (!up) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(up, `the instance answers /health on 0.0.0.0:${port}${up ? "" : `: ${err}`}`);
  t.match(err, /syncropel is owned by uid 0; handing it to nobody/);
  for (const d of [splHome, `${splHome}-data`, backups]) {
    const s = statSync(d);
    t.equal(s.uid, NOBODY, `${d} now belongs to the spl user`);
    t.equal(s.mode & 0o777, 0o700);
  }
  const status = readFileSync(`/proc/${readFileSync(join(splHome, 'run', 'spl.pid'), 'utf8').trim()}/status`, 'utf8');
  t.match(status, new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'), 'the instance runs as the spl user, not root');
  const keyDir = readdirSync(backups);
  t.equal(keyDir.length, 1, 'the startup backup went to the mounted backups directory');
  t.ok(readdirSync(join(backups, keyDir[0]!)).includes('hub.db.bak'));

  const who = await run(['status', '-o', 'json'], env);
  t.equal(who.code, 0, who.stderr);
  t.equal(JSON.parse(who.stdout).bind, `0.0.0.0:${port}`);
  const token = await run(['token', 'create', '--name', 'laptop', '-o', 'json'], env);
  t.equal(token.code, 0, token.stderr);
  t.equal(statSync(join(splHome, 'secrets', 'api-tokens.json')).uid, NOBODY, 'files the CLI causes belong to the spl user');
  const authed = await http(port, 'GET', '/v1/threads', undefined, { authorization: `Bearer ${JSON.parse(token.stdout).token}` });
  t.equal(authed.status, 200, 'the token works over the published port');
  t.equal((await http(port, 'GET', '/v1/threads')).status, 401, 'and nothing but /health answers without one');

  const stopped = await run(['stop'], env);
  t.equal(stopped.code, 0, stopped.stderr);
  await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.on('close', r)));
  t.equal(server.exitCode, 0, 'a clean stop');
});
