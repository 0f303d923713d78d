// dispatch-overhead: what the dispatcher adds around a worker. 50 dispatches of a trivial adapter (the stand-in
// agent's `quick` mode: an init line, a result line, exit 0), 4 at a time (max_concurrent 4), through a real
// instance; then, in the same run, 50 bare child_process.spawn()s of the same command with the same brief on stdin,
// 4 at a time, read line by line. Per worker:
//   dispatched: spawn → first stream event (from the exit record), plus last event → completion record committed;
//   bare:       spawn → first stdout line, plus last line → the child's 'close'.
// Ratio = median(bare) ÷ median(dispatched); target ≥ 0.667 (the dispatcher's overhead ≤ 1.5× a bare spawn).
// Checks: every dispatch succeeded; the instance holds no more file descriptors afterwards than before the first
// dispatch, and no child process of it is left.
//
// Env knobs: DISPATCHES (default 50), DISPATCH_CONCURRENCY (default 4).

import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fmt, httpJson, makeHome, median, ROOT, runSpl } from './lib.js';

export const TARGET = 1 / 1.5;
const N = Number(process.env.DISPATCHES ?? 50);
const CONCURRENCY = Number(process.env.DISPATCH_CONCURRENCY ?? 4);
const AGENT = join(ROOT, 'test', 'fixtures', 'agents', 'fake-claude.mjs');
const ARGV = [process.execPath, AGENT, 'quick'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One bare spawn: spawn → first line, last line → close. */
function bare(cwd, brief) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = null;
    let last = null;
    const child = spawn(ARGV[0], ARGV.slice(1), { cwd, stdio: ['pipe', 'pipe', 'ignore'] });
    child.on('error', reject);
    child.stdin.end(brief);
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', () => {
      last = performance.now();
      first ??= last;
    });
    child.on('close', (code) => {
      if (code !== 0 || first === null) return reject(new Error(`bare worker exited ${code}`));
      resolve((first - t0) + (performance.now() - last));
    });
  });
}

async function pool(n, width, fn) {
  const out = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) out.push(await fn(next++));
  }));
  return out;
}

const fdCount = (pid) => readdirSync(`/proc/${pid}/fd`).length;
/** Live child processes of `pid` (ps exits 1 when there are none). */
function childrenOf(pid) {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,stat=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch (err) {
    if (err.status !== 1) throw err;
  }
  return out.split('\n').filter((l) => l.trim() !== '' && !/\sZ/.test(l));
}

async function dispatchAll(sock, aliases, problems) {
  for (const alias of aliases) {
    const r = await httpJson(sock, 'POST', '/v1/dispatch', { task: alias });
    if (r.status !== 201) problems.push(`dispatch ${alias}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (let i = 0; i < 1200; i++) {
    const list = await httpJson(sock, 'GET', '/v1/tasks?all=true');
    const open = list.body.data.filter((t) => t.status !== 'review' && t.status !== 'failed');
    if (open.length === 0) return list.body.data;
    await sleep(100);
  }
  throw new Error('the dispatches did not finish within 120 s');
}

/** Per dispatch: spawn → first event + last event → completion record, from its sub-thread's records. */
async function dispatchedOverheads(sock, aliases, problems) {
  const out = [];
  for (const alias of aliases) {
    const d = (await httpJson(sock, 'GET', `/v1/tasks/${alias}/diagnose`)).body;
    if (!d.completion?.success) problems.push(`${alias}: ${d.completion?.failure_reason ?? 'no completion'}`);
    const recs = (await httpJson(sock, 'GET', `/v1/threads/${d.sub_thread}/records?limit=10`)).body.data;
    const exit = recs.find((r) => r.body.kind === 'syncropel.dispatch.subprocess_exit.v1')?.body;
    const complete = recs.find((r) => r.body.kind === 'syncropel.dispatch.complete.v1');
    if (!exit || !complete || exit.first_stream_event_ms === null) {
      problems.push(`${alias}: records missing`);
      continue;
    }
    const completedAt = new Date(complete.created_at).getTime();
    const lastEventAt = Date.parse(exit.started_at) + exit.last_stream_event_ms;
    out.push(exit.first_stream_event_ms + (completedAt - lastEventAt));
  }
  return out;
}

export async function dispatchOverhead() {
  const h = await makeHome('spl-bench-dispatch-');
  const problems = [];
  const sock = { socketPath: join(h.home, 'run', 'spl.sock') };
  try {
    const up = await runSpl(['serve', '--port', String(h.port)], h.env);
    if (up.code !== 0) throw new Error(`spl serve failed: ${up.stderr}`);
    const pid = Number(readFileSync(join(h.home, 'run', 'spl.pid'), 'utf8'));
    const repo = join(h.dir, 'repo');
    mkdirSync(repo);
    execFileSync('bash', ['-c', 'git init -q -b main && git -c user.name=B -c user.email=b@e commit -q --allow-empty -m init'], { cwd: repo });
    const added = await httpJson(sock, 'POST', '/v1/adapters', { did: 'did:sync:agent:bench', family: 'exec', command: ARGV.join(' '), max_concurrent: CONCURRENCY });
    if (added.status !== 201) throw new Error(`adapter add: ${JSON.stringify(added.body)}`);
    const aliases = [];
    for (let i = 0; i < N; i++) aliases.push((await httpJson(sock, 'POST', '/v1/tasks', { title: `bench ${i}`, body: 'Do the least an agent does.', repo })).body.alias);
    const fdBefore = fdCount(pid);
    const tasks = await dispatchAll(sock, aliases, problems);
    const failed = tasks.filter((t) => t.status !== 'review');
    if (failed.length > 0) problems.push(`${failed.length} dispatch(es) did not reach review (first: ${failed[0].alias} ${failed[0].status})`);
    const dispatched = await dispatchedOverheads(sock, aliases, problems);
    await sleep(500);
    const fdAfter = fdCount(pid);
    if (fdAfter > fdBefore) problems.push(`the instance holds ${fdAfter} fds after the dispatches, ${fdBefore} before`);
    const left = childrenOf(pid);
    if (left.length > 0) problems.push(`${left.length} child process(es) of the instance left: ${left.join('; ')}`);

    const cwd = join(h.dir, 'bare');
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'brief.md'), 'Do the least an agent does.\n');
    const bareMs = await pool(N, CONCURRENCY, () => bare(cwd, 'Do the least an agent does.'));
    const a = median(bareMs);
    const b = median(dispatched);
    console.log(`  ${N} dispatches, ${CONCURRENCY} at a time: spawn → first event + last event → completion record, median ${fmt(b, 1)} ms`);
    console.log(`  ${N} bare spawns of the same command, ${CONCURRENCY} at a time: spawn → first line + last line → close, median ${fmt(a, 1)} ms`);
    console.log(`  instance fds ${fdBefore} before, ${fdAfter} after; child processes left: ${left.length}`);
    return { name: 'dispatch-overhead', measure: 'bare spawn ÷ dispatched worker', a, b, unit: 'ms', ratio: a / b, target: TARGET, problems };
  } finally {
    await runSpl(['stop'], h.env).catch(() => undefined);
    h.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await dispatchOverhead();
  console.log(r);
}
