// The memory pre-flight inside a real instance (in-process, so its meminfo/cgroup source can be injected): the
// runbook's three lines in the log exactly as it prints them (DEBUG, INFO, WARN; target syncropel_engine::dispatch);
// in the critical band a dispatch waits instead of spawning — the reply and the log say so — and starts by itself
// when memory frees; --force starts one anyway. Workers are real subprocesses in real worktrees.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemorySource } from '../../lib/dispatch/memory.js';
import { loadInstanceConfig } from '../../lib/instance/config-file.js';
import { homePaths } from '../../lib/instance/home.js';
import { startInstance } from '../../lib/instance/instance.js';
import { createLogger } from '../../lib/instance/logger.js';
import { http, makeHome, postJson } from '../helpers/spl.js';

const AGENT = fileURLToPath(new URL('../fixtures/agents/fake-claude.mjs', import.meta.url));
const GIB = 1024 ** 3;

t.test("pre-flight lines, the critical band's queue, memory freeing, and --force", async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const paths = homePaths(h.home);
  mkdirSync(h.home, { recursive: true, mode: 0o700 });
  const config = loadInstanceConfig(paths, h.env, { port: h.port });
  const logging = createLogger({ file: paths.logFile, level: 'debug' });
  let avail = 8.1 * GIB + 1024 * 1024;
  const memory: MemorySource = { meminfo: () => `MemTotal: 25000000 kB\nMemAvailable: ${Math.floor(avail / 1024)} kB\n`, cgroupFile: () => undefined };
  const instance = await startInstance({
    paths, config, logger: logging.root, adminActor: 'did:sync:user:admin', env: h.env, insecureLocalhost: true,
    dispatch: { memory, graceMs: 500, memoryRecheckMs: 50 },
  });
  t.teardown(async () => {
    await instance.stop('test over');
    logging.close();
  });
  const repo = join(h.dir, 'app');
  mkdirSync(repo);
  execFileSync('bash', ['-c', 'git init -q -b main && git -c user.name=T -c user.email=t@e commit -q --allow-empty -m init'], { cwd: repo });
  const api = async (method: 'GET' | 'POST', path: string, body?: unknown) => (method === 'GET' ? http(h.port, 'GET', path) : postJson(h.port, path, body));
  const added = await api('POST', '/v1/adapters', { did: 'did:sync:agent:dev', family: 'claude', command: `${process.execPath} ${AGENT} slow -p --verbose --output-format stream-json`, max_concurrent: 4 });
  t.equal(added.status, 201, added.text);
  const aliases: string[] = [];
  for (const title of ['healthy', 'approaching', 'critical', 'forced']) {
    const r = await api('POST', '/v1/tasks', { title, body: `work: ${title}`, repo });
    aliases.push(r.body.alias);
  }
  const dispatch = (alias: string, extra: Record<string, unknown> = {}) => api('POST', '/v1/dispatch', { task: alias, ...extra });

  const healthy = await dispatch(aliases[0]!);
  t.match(healthy.body, { state: 'running', preflight: { band: 'healthy', avail_gb: 8.1, source: 'meminfo' } });
  avail = 3.25 * GIB;
  const approaching = await dispatch(aliases[1]!);
  t.match(approaching.body, { state: 'running', preflight: { band: 'approaching', avail_gb: 3.2 } });
  avail = 1.45 * GIB;
  const critical = await dispatch(aliases[2]!);
  t.match(critical.body, { state: 'queued', queued_reason: 'memory', pid: null, preflight: { band: 'critical', avail_gb: 1.4 } }, 'the critical band queues, it does not spawn');
  const shown = await api('GET', `/v1/tasks/${aliases[2]}`);
  t.match(shown.body.dispatch, { state: 'queued', queued_reason: 'memory' });
  const forced = await dispatch(aliases[3]!, { force: true });
  t.match(forced.body, { state: 'running', forced: true, preflight: { band: 'critical' } }, '--force spawns in the critical band');

  // Memory frees: the waiting dispatch starts by itself, and logs its own pre-flight at spawn.
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await api('GET', `/v1/tasks/${aliases[2]}`)).body.dispatch?.state, 'queued', 'still waiting while memory stays critical');
  avail = 5 * GIB;
  let started: { state?: string } | null = null;
  for (let i = 0; i < 100 && started?.state !== 'running'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    started = (await api('GET', `/v1/tasks/${aliases[2]}`)).body.dispatch;
  }
  t.equal(started?.state, 'running', 'started once memory left the critical band');

  const lines = readFileSync(paths.logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; target: string; msg: string });
  const pre = lines.filter((l) => l.msg.startsWith('dispatch pre-flight'));
  t.same(pre.map((l) => `${l.level} ${l.msg}`), [
    'DEBUG dispatch pre-flight: host memory healthy avail_gb=8.1',
    'INFO dispatch pre-flight: host approaching memory pressure avail_gb=3.2',
    'WARN dispatch pre-flight: host under memory pressure — OOM-kill risk; consider sequential dispatch avail_gb=1.4',
    'WARN dispatch pre-flight: host under memory pressure — OOM-kill risk; consider sequential dispatch avail_gb=1.4',
    'DEBUG dispatch pre-flight: host memory healthy avail_gb=5.0',
  ], "one of the runbook's lines per pre-flight: each request, and the queued one again at spawn");
  t.ok(pre.every((l) => l.target === 'syncropel_engine::dispatch'));
  t.ok(lines.some((l) => l.level === 'WARN' && /dispatch of TASK-0003 queued until memory frees \(critical band; --force starts it anyway\)/.test(l.msg)));
  t.ok(lines.some((l) => l.level === 'WARN' && /dispatch of TASK-0004: --force starts it in the critical memory band/.test(l.msg)));
  // Let the workers finish before the instance stops (the stop would interrupt them otherwise).
  for (const alias of aliases) {
    for (let i = 0; i < 200; i++) {
      const task = (await api('GET', `/v1/tasks/${alias}`)).body;
      if (task.dispatch === null && task.attempts.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const statuses = await Promise.all(aliases.map(async (a) => (await api('GET', `/v1/tasks/${a}`)).body.status));
  t.same(statuses, ['review', 'review', 'review', 'review']);
});
