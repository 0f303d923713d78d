// task-list: `spl task list` over 10,000 tasks answers from the tasks fold, with no query per task. 10,000 tasks are
// written through the real API (opening INTENDs posted in 1,000-record batches over the unix socket, each with a
// few transitions, as task add and the verbs write them), then, round by round and interleaved:
//   GET /v1/tasks?all=true   — all 10,000 tasks, from the tasks fold;
//   GET /v1/threads?limit=1000&offset=…, ten pages — the same 10,000 threads, from the thread-state fold.
// Ratio = median(threads, 10 pages) ÷ median(tasks); target ≥ 0.5 (the task list costs at most twice the thread
// listing of as many threads: a query per task would cost far more). `spl task list --all` (the whole CLI call,
// 10,000 rows printed) is timed and reported beside it, not gated.
// Checks: every batch acknowledged in full; the list holds every task with the status its records give.
//
// Env knobs: TASKS (default 10000), TASK_ROUNDS (default 7).

import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, httpJson, makeHome, median, runSpl } from './lib.js';

export const TARGET = 0.5;
const TASKS = Number(process.env.TASKS ?? 10_000);
const ROUNDS = Number(process.env.TASK_ROUNDS ?? 7);
const BATCH = 1000;
const STATUSES = ['inbox', 'active', 'review', 'approved', 'failed'];

const threadOf = (i) => 'th_' + (i + 1).toString(16).padStart(64, '0');
const aliasOf = (i) => `BENCH-${String(i + 1).padStart(5, '0')}`;

/** The records that take task i to STATUSES[i % 5]: its INTEND, then the transitions task start/done/approve/fail write. */
function recordsOf(i) {
  const thread = threadOf(i);
  const alias = aliasOf(i);
  const owner = `did:sync:user:owner${i % 7}`;
  const out = [{
    thread, actor: owner, act: 'INTEND',
    body: { task: true, topic: 'task_created', alias, title: `benchmark task ${i + 1}: tidy the parser's error path`, domain: 'code', priority: i % 4, content: { path: `tasks/${alias}.md`, sha256: 'b'.repeat(64), bytes: 100 } },
  }];
  const want = STATUSES[i % STATUSES.length];
  const step = (actor, act, body) => out.push({ thread, actor, act, body: { alias, ...body } });
  if (want === 'inbox') return out;
  step(owner, 'DO', { topic: 'task_started' });
  if (want === 'failed') step(owner, 'DO', { topic: 'task_failed', reason: 'oom' });
  if (want === 'review' || want === 'approved') step('did:sync:agent:dev', 'KNOW', { topic: 'task_done_claim', summary: 'done', domain: 'code' });
  if (want === 'approved') step('did:sync:agent:reviewer', 'KNOW', { topic: 'task_verdict', verdict: 'accept', domain: 'code', judged_by: 'did:sync:agent:dev' });
  return out;
}

async function timed(fn) {
  const t = performance.now();
  const r = await fn();
  return { ms: performance.now() - t, r };
}

export async function taskList() {
  const h = await makeHome('spl-bench-tasks-');
  const problems = [];
  const sock = { socketPath: join(h.home, 'run', 'spl.sock') };
  try {
    const up = await runSpl(['serve', '--port', String(h.port)], h.env);
    if (up.code !== 0) throw new Error(`spl serve failed: ${up.stderr}`);
    const all = Array.from({ length: TASKS }, (_, i) => recordsOf(i)).flat();
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH);
      const res = await httpJson(sock, 'POST', '/v1/records', batch);
      if (res.status !== 201 || !Array.isArray(res.body) || res.body.length !== batch.length) problems.push(`batch at ${i}: ${res.status}`);
    }
    console.log(`  wrote ${TASKS.toLocaleString('en')} tasks (${all.length.toLocaleString('en')} records)`);
    const list = await httpJson(sock, 'GET', '/v1/tasks?all=true');
    const got = list.body?.data ?? [];
    if (got.length !== TASKS) problems.push(`GET /v1/tasks?all=true listed ${got.length} of ${TASKS} tasks`);
    const wrong = got.filter((t) => t.status !== STATUSES[(Number(t.alias.slice('BENCH-'.length)) - 1) % STATUSES.length]);
    if (wrong.length > 0) problems.push(`${wrong.length} tasks listed with the wrong status (first: ${wrong[0].alias} ${wrong[0].status})`);

    const tasksMs = [];
    const threadsMs = [];
    for (let round = 0; round < ROUNDS; round++) {
      const runTasks = async () => tasksMs.push((await timed(() => httpJson(sock, 'GET', '/v1/tasks?all=true'))).ms);
      const runThreads = async () => {
        const { ms } = await timed(async () => {
          for (let off = 0; off < TASKS; off += 1000) await httpJson(sock, 'GET', `/v1/threads?limit=1000&offset=${off}`);
        });
        threadsMs.push(ms);
      };
      if (round % 2 === 0) { await runTasks(); await runThreads(); } else { await runThreads(); await runTasks(); }
    }
    const cli = await timed(() => runSpl(['task', 'list', '--all'], h.env));
    const rows = cli.r.stdout.trim().split('\n').length - 1;
    if (cli.r.code !== 0 || rows !== TASKS) problems.push(`spl task list --all printed ${rows} rows (exit ${cli.r.code})`);
    const a = median(threadsMs);
    const b = median(tasksMs);
    console.log(`  GET /v1/tasks?all=true (${TASKS.toLocaleString('en')} tasks) median ${fmt(b, 1)} ms; GET /v1/threads, 10 pages of 1,000, median ${fmt(a, 1)} ms`);
    console.log(`  spl task list --all (the whole CLI call, ${rows.toLocaleString('en')} rows printed): ${fmt(cli.ms, 0)} ms`);
    return { name: 'task-list', measure: 'threads (10×1000) ÷ tasks (10,000)', a, b, unit: 'ms', ratio: a / b, target: TARGET, problems };
  } finally {
    await runSpl(['stop'], h.env).catch(() => undefined);
    h.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await taskList();
  console.log(r);
}
