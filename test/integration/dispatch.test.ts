// Dispatch against a real instance, with real worker subprocesses in real git worktrees. The agent CLI is the one
// external edge: test/fixtures/agents/fake-claude.mjs speaks Claude Code's stream-json the way each test needs.
// Every codepath and failure reason: success with cost, is_error, non-zero exit, line timeout, deadline, a
// grandchild holding stdout, a result followed by a lingering process, and a SIGKILLed worker — whose diagnosis
// shows the runbook's signature and whose uncommitted work stays in the worktree, salvaged by the runbook's steps
// 2–8 verbatim. Then max_concurrent = 1 serialising two dispatches, --resume, interrupt, and the refusals.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { http, makeHome, runSpl, serve, stop, type Home } from '../helpers/spl.js';

const AGENT = fileURLToPath(new URL('../fixtures/agents/fake-claude.mjs', import.meta.url));
const DEV = 'did:sync:agent:dev';
const REVIEWER = 'did:sync:agent:reviewer';

interface Ctx {
  h: Home;
  spl(args: string[], env?: NodeJS.ProcessEnv, cwd?: string): ReturnType<typeof runSpl>;
  repo: string;
  git(...args: string[]): string;
  log: string;
}

const gitIn = (dir: string) => (...args: string[]): string => execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, encoding: 'utf8' });

async function instance(t: Test): Promise<Ctx> {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const log = join(h.dir, 'briefs.log');
  h.env.FAKE_AGENT_LOG = log;
  // A one-second grace period (SIGTERM → SIGKILL, lingering after a result) keeps the waits short.
  mkdirSync(h.home, { recursive: true, mode: 0o700 });
  writeFileSync(join(h.home, 'config.toml'), '[dispatch]\nkill_grace_secs = 1\n', { mode: 0o600 });
  await serve(h);
  t.teardown(() => stop(h));
  const repo = join(h.dir, 'myproject');
  mkdirSync(repo);
  const git = gitIn(repo);
  git('init', '-q');
  writeFileSync(join(repo, 'README'), 'hello\n');
  git('add', 'README');
  git('commit', '-q', '-m', 'first');
  const spl = (args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) => runSpl(args, { ...h.env, ...env }, cwd ? { cwd } : {});
  return { h, spl, repo, git, log };
}

async function adapter(c: Ctx, did: string, mode: string, extra: string[] = []): Promise<void> {
  const r = await c.spl(['adapter', 'add', did, '--family', 'claude', '--command', `${process.execPath} ${AGENT} ${mode} -p --verbose --output-format stream-json`, ...(extra.includes('--max-concurrent') ? [] : ['--max-concurrent', '4']), ...extra]);
  if (r.code !== 0) throw new Error(`adapter add: ${r.stderr}`);
}

async function task(c: Ctx, title: string, extra: string[] = []): Promise<string> {
  const r = await c.spl(['task', 'add', title, '--domain', 'code', '--body', `Brief for ${title}.`, '--repo', c.repo, '-o', 'json', ...extra]);
  if (r.code !== 0) throw new Error(`task add: ${r.stderr}`);
  return JSON.parse(r.stdout).alias as string;
}

async function get(c: Ctx, path: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return (await http(c.h.port, 'GET', path)).body;
}

/** Polls the task until `until` holds (bounded: 200 polls, then the test fails with the last state). */
async function waitTask(c: Ctx, alias: string, until: (t: any) => boolean): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  let last: unknown;
  for (let i = 0; i < 200; i++) {
    last = await get(c, `/v1/tasks/${alias}`);
    if (until(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${alias} never reached the awaited state: ${JSON.stringify(last)}`);
}

const finished = (t: { attempts: unknown[]; dispatch: unknown }, n = 1): boolean => t.attempts.length >= n && t.dispatch === null;

async function dispatchAndWait(c: Ctx, alias: string, args: string[] = []): Promise<{ reply: any; task: any; diag: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const before = (await get(c, `/v1/tasks/${alias}`)).attempts.length as number;
  const r = await c.spl(['task', 'dispatch', alias, '-o', 'json', ...args]);
  if (r.code !== 0) throw new Error(`dispatch ${alias}: ${r.stderr}`);
  const task = await waitTask(c, alias, (x) => finished(x, before + 1));
  return { reply: JSON.parse(r.stdout), task, diag: await get(c, `/v1/tasks/${alias}/diagnose`) };
}

/** The records on a dispatch's sub-thread, by kind. */
async function subRecords(c: Ctx, sub: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await get(c, `/v1/threads/${sub}/records?limit=100`);
  return Object.fromEntries((res.data as Array<{ body: { kind: string } }>).map((r) => [r.body.kind.replace(/^syncropel\.dispatch\.|\.v1$/g, ''), r.body]));
}

/** A live process (a zombie — exited, not reaped by a PID 1 that does not reap — is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

t.test('every codepath and failure reason, one real worker each, in one instance', async (t) => {
  const c = await instance(t);
  const cases: Array<{ mode: string; args?: string[]; adapterArgs?: string[]; codepath: string; failure: string | null; success: boolean; status: string; exit: number | null; signal: number | null }> = [
    { mode: 'success', codepath: 'result_event', failure: null, success: true, status: 'review', exit: 0, signal: null },
    { mode: 'is-error', codepath: 'result_event', failure: 'result_reported_error', success: false, status: 'failed', exit: 0, signal: null },
    { mode: 'nonzero', codepath: 'stream_eof_fallback', failure: 'subprocess_exited_nonzero', success: false, status: 'failed', exit: 3, signal: null },
    { mode: 'hang', args: ['--line-timeout', '1'], codepath: 'line_timeout', failure: 'line_timeout', success: false, status: 'failed', exit: null, signal: 15 },
    { mode: 'chatter', args: ['--timeout', '1'], codepath: 'budget_deadline', failure: 'budget_exceeded', success: false, status: 'failed', exit: null, signal: 15 },
    { mode: 'sigkill', codepath: 'stream_eof_fallback', failure: 'result_missing', success: false, status: 'failed', exit: null, signal: 9 },
  ];
  // All six run at once (each adapter has its own slots), then each is judged.
  const started: Array<{ alias: string; reply: any }> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const k of cases) {
    const did = `did:sync:agent:${k.mode}`;
    await adapter(c, did, k.mode);
    const alias = await task(c, `Case ${k.mode}`, ['--assign', did]);
    const r = await c.spl(['task', 'dispatch', alias, '-o', 'json', ...(k.args ?? [])]);
    t.equal(r.code, 0, r.stderr);
    started.push({ alias, reply: JSON.parse(r.stdout) });
  }
  for (const [i, k] of cases.entries()) {
    const { alias, reply } = started[i]!;
    const did = `did:sync:agent:${k.mode}`;
    const done = await waitTask(c, alias, (x) => finished(x));
    const diag = await get(c, `/v1/tasks/${alias}/diagnose`);
    t.equal(reply.state, 'running', `${k.mode}: spawned at once`);
    t.equal(done.status, k.status, `${k.mode}: task ${k.status}`);
    t.match(diag.completion, { codepath: k.codepath, failure_reason: k.failure, success: k.success }, `${k.mode}: completion`);
    t.match(diag.subprocess, { exit_code: k.exit, signal: k.signal, pid: reply.pid }, `${k.mode}: subprocess exit`);
    const recs = await subRecords(c, reply.sub_thread);
    t.same(Object.keys(recs).sort(), ['complete', 'session', 'spawn', 'subprocess_exit'], `${k.mode}: spawn, session, exit and completion records on the sub-thread`);
    t.equal(recs.spawn.pid, reply.pid);
    t.equal(recs.spawn.worktree, join(c.h.dir, `myproject-${alias}`));
    t.equal(recs.session.session_id, '0ce8c5a4-1111-4222-8333-944455556666');
    t.equal(recs.subprocess_exit.exit_code, k.exit);
    t.equal(recs.complete.task_thread, done.thread);
    t.notOk(alive(reply.pid), `${k.mode}: the worker is gone`);
    if (k.mode === 'success') {
      t.equal(recs.complete.cost_usd, 0.1046);
      t.equal(recs.complete.cost_source, 'result_event');
      t.same([recs.complete.tokens_in, recs.complete.tokens_out], [14, 43]);
      const head = gitIn(recs.spawn.worktree)('rev-parse', 'HEAD').trim();
      t.match(done.claim, { actor: did, commit: head, summary: 'Done: parser accepts trailing commas.' }, 'the done claim carries the result summary and the worktree HEAD');
      t.equal(gitIn(recs.spawn.worktree)('rev-parse', '--abbrev-ref', 'HEAD').trim(), `task/${alias}`);
      const show = await c.spl(['task', 'show', alias]);
      t.match(show.stdout, /Prior attempts: 1 \(\$0\.10 total\)\n/);
    }
    if (k.mode === 'nonzero') t.same(diag.completion.stderr_tail, ['fatal: could not read the configuration']);
    if (k.mode === 'hang') t.match(diag.recovery, new RegExp(`spl task dispatch ${alias} --resume --line-timeout 2`));
    if (k.mode === 'sigkill') {
      t.match(done.attempts, [{ success: false, failure_reason: 'result_missing', cost_usd: null }]);
      const show = await c.spl(['task', 'show', alias]);
      t.match(show.stdout, /^Task: TASK-\d+ — Case sigkill\nStatus: failed\n/);
      t.match(show.stdout, /Prior attempts: 1 failed \(\$0\.00 total\)\n/, "the runbook's line");
    }
  }
});

t.test('a grandchild holding stdout: the exit is recorded on the exit event, the group is killed, nothing is left; a lingering process after its result is ended', async (t) => {
  const c = await instance(t);
  await adapter(c, 'did:sync:agent:gc', 'grandchild');
  await adapter(c, 'did:sync:agent:linger', 'linger');
  for (const [did, mode] of [['did:sync:agent:gc', 'grandchild'], ['did:sync:agent:linger', 'linger']] as const) {
    const alias = await task(c, `Case ${mode}`, ['--assign', did]);
    const { reply, task: done, diag } = await dispatchAndWait(c, alias);
    t.equal(done.status, 'review', `${mode}: the result decided`);
    t.match(diag.completion, { codepath: 'result_event', success: true });
    const recs = await subRecords(c, reply.sub_thread);
    if (mode === 'grandchild') {
      t.equal(recs.subprocess_exit.exit_code, 0, 'the worker exited 0 while its grandchild still held stdout');
      t.ok(recs.subprocess_exit.duration_ms < recs.complete.latency_ms, 'the exit was recorded before the pipe closed');
    } else {
      t.equal(recs.subprocess_exit.signal, 15, 'the lingering worker was ended by SIGTERM to its group after the grace period');
    }
    // Nothing of the group is left running: no live process has the worker's pid as its process group. (An orphaned
    // grandchild is reparented to PID 1; where PID 1 does not reap, as in some CI sandboxes, a zombie may stay.)
    const left = execFileSync('ps', ['-eo', 'pgid=,stat='], { encoding: 'utf8' }).split('\n').map((s) => s.trim().split(/\s+/)).filter(([g, st]) => Number(g) === reply.pid && !st!.startsWith('Z')).map(([g]) => Number(g));
    t.same(left, [], `${mode}: no process of group ${reply.pid} remains`);
  }
});

t.test("a SIGKILLed worker: the runbook's diagnose signature, its work left in the worktree, and salvage steps 2–8 verbatim", async (t) => {
  const c = await instance(t);
  const origin = join(c.h.dir, 'origin.git');
  execFileSync('git', ['init', '-q', '--bare', origin]);
  c.git('remote', 'add', 'origin', origin);
  c.git('push', '-q', 'origin', 'main');
  await adapter(c, DEV, 'sigkill');
  const id = await task(c, 'Parse trailing commas', ['--assign', DEV]);
  await dispatchAndWait(c, id);

  // Step 1: spl task diagnose <task-id> | tail -30
  const diag = await c.spl(['task', 'diagnose', id]);
  t.equal(diag.code, 0, diag.stderr);
  const tail = diag.stdout.trimEnd().split('\n').slice(-30).join('\n');
  t.match(tail, /\nSubprocess\npid: \d+\nruntime: \d+ms\nexit_code: None\nsignal: Some\(9\)\nCompletion\ncodepath: stream_eof_fallback\nfailure_reason: result_missing\nsuccess: false\n/, "the runbook's OOM-kill signature");
  const wt = join(c.h.dir, `myproject-${id}`);
  t.match(tail, new RegExp(`\\nworktree: ${wt}\\nlatest commit: [0-9a-f]{12} first\\ncommits ahead: 0\\nuncommitted files: 2\\n`));
  t.match(tail, /Recovery: the worker was SIGKILLed .*salvage it \(the runbook's steps 2–8/);
  const json = JSON.parse((await c.spl(['task', 'diagnose', id, '-o', 'json'])).stdout);
  t.match(json, { subprocess: { exit_code: null, signal: 9 }, completion: { codepath: 'stream_eof_fallback', failure_reason: 'result_missing', success: false }, worktree: wt, commits_ahead: 0, uncommitted_files: ['NOTES.md', 'parser.txt'] });

  // Step 2 — cd /path/to/<your-project>-<task-id>; git status -s
  const sh = (cwd: string, cmd: string) => execFileSync('bash', ['-c', cmd], { cwd, encoding: 'utf8', env: { ...c.h.env, GIT_AUTHOR_NAME: 'Op', GIT_AUTHOR_EMAIL: 'op@example.com', GIT_COMMITTER_NAME: 'Op', GIT_COMMITTER_EMAIL: 'op@example.com' } });
  t.equal(sh(wt, 'git status -s'), '?? NOTES.md\n?? parser.txt\n', 'the worker\'s uncommitted work is there');
  // Step 3 — git diff; ls -la
  sh(wt, 'git diff; ls -la');
  // Step 4 — the project's gate (this project's: the file exists and is not empty)
  sh(wt, 'test -s parser.txt');
  // Step 5 — commit on the task branch
  sh(wt, `git add parser.txt NOTES.md && git commit -q -m "feat(parser): accept trailing commas (${id})

Salvaged in-session after parallel-dispatch SIGKILL on the original
worker (host OOM, signal=9 at ~0min). Worker gate green."`);
  t.match(sh(wt, 'git rev-parse --abbrev-ref HEAD'), new RegExp(`^task/${id}`));
  // Step 6 — merge to main
  sh(c.repo, `git merge task/${id} --ff-only && git push -q origin main`);
  t.equal(sh(c.repo, 'cat parser.txt'), 'half-done work the worker never committed\n');
  // Step 7 — reopen + done + approve
  const reopen = await c.spl(['task', 'reopen', id, '--reason', 'salvaged in-session after worker SIGKILL'], {}, c.repo);
  t.equal(reopen.code, 0, reopen.stderr);
  const done = await c.spl(['task', 'done', id, '--summary', 'parser salvaged', '--domain', 'code'], { SPL_ACTOR: DEV }, c.repo);
  t.equal(done.code, 0, done.stderr);
  t.match(done.stdout, /inbox → review/);
  const approve = await c.spl(['task', 'approve', id, '--domain', 'code', '--notes', 'salvage commit; workspace gate green'], { SPL_ACTOR: REVIEWER }, c.repo);
  t.equal(approve.code, 0, approve.stderr);
  t.match(approve.stdout, /review → approved .*\n  trust: one accept for did:sync:agent:dev in code/);
  // spl doctor names the worktree the approved task left behind (nothing uncommitted: it gives the command).
  const row = async () => JSON.parse((await c.spl(['doctor', '-o', 'json'])).stdout).checks.find((x: { id: string }) => x.id === 'dispatch');
  t.match(await row(), { status: 'warn', summary: new RegExp(`1 worktree left behind by finished tasks: ${id} ${wt}$`), fix: `git worktree remove ${wt} (after checking it holds nothing you need)` });
  // Step 8 — clean up the worktree
  sh(c.repo, `git worktree remove ${wt} --force`);
  t.match(await row(), { status: 'ok', summary: /1 adapter, every command found; 1 dispatch recorded, none stuck; no worktree left by a finished task/ });
  t.notOk(existsSync(wt));
  t.match(sh(c.repo, 'git branch --list'), new RegExp(`task/${id}`), 'the task branch persists post-merge');
});

t.test('max_concurrent = 1 serialises two dispatches: the second queues (task show says queued), then runs', async (t) => {
  const c = await instance(t);
  const r = await c.spl(['adapter', 'add', DEV, '--family', 'claude', '--command', `${process.execPath} ${AGENT} slow -p --verbose --output-format stream-json`, '--max-concurrent', '1']);
  t.equal(r.code, 0, r.stderr);
  const a = await task(c, 'First');
  const b = await task(c, 'Second');
  const first = JSON.parse((await c.spl(['task', 'dispatch', a, '-o', 'json'])).stdout);
  const second = await c.spl(['task', 'dispatch', b]);
  t.equal(first.state, 'running');
  t.match(second.stdout, new RegExp(`^${b} queued \\(attempt 1\\): did:sync:agent:dev is at its max_concurrent; position 1`));
  const shown = await c.spl(['task', 'show', b]);
  t.match(shown.stdout, /\nDispatch: queued \(attempt 1, did:sync:agent:dev\): waiting for a free slot \(max_concurrent\), position 1/);
  const list = JSON.parse((await c.spl(['adapter', 'list', '-o', 'json'])).stdout);
  t.match(list, [{ did: DEV, running: 1, queued: 1 }]);
  const status = await c.spl(['status']);
  t.match(status.stdout, /\n\s*dispatches\s+1 running, 1 queued\n/, 'spl status counts the workers and the waiting dispatches');
  const ta = await waitTask(c, a, (x) => finished(x));
  const tb = await waitTask(c, b, (x) => finished(x));
  t.equal(ta.status, 'review');
  t.equal(tb.status, 'review');
  const sa = await subRecords(c, first.sub_thread);
  const sb = await subRecords(c, (await get(c, `/v1/tasks/${b}/diagnose`)).sub_thread);
  const da = await get(c, `/v1/tasks/${a}/diagnose`);
  const db = await get(c, `/v1/tasks/${b}/diagnose`);
  const at = (d: { pipeline: Array<{ step: string; at: string }> }, step: string) => Date.parse(d.pipeline.find((p) => p.step === step)!.at);
  t.ok(at(db, 'subprocess spawned') >= at(da, 'completion'), 'the second worker started only after the first one completed');
  t.equal(sa.complete.success, true);
  t.equal(sb.complete.success, true);
});

t.test('--resume: the worktree is reused and the brief starts with the prior commits; a fresh dispatch over work is refused', async (t) => {
  const c = await instance(t);
  await adapter(c, DEV, 'sigkill');
  const id = await task(c, 'Resumable');
  await dispatchAndWait(c, id);
  const wt = join(c.h.dir, `myproject-${id}`);
  const g = gitIn(wt);
  g('add', 'parser.txt');
  g('commit', '-q', '-m', 'parser: first half');
  const fresh = await c.spl(['task', 'dispatch', id]);
  t.equal(fresh.code, 1);
  t.match(fresh.stderr, new RegExp(`holds an earlier attempt's work \\(1 uncommitted file\\(s\\), 1 commit\\(s\\) the repository lacks\\)\\nfix: continue in it: spl task dispatch ${id} --resume`));
  await adapter(c, DEV, 'success');
  const { reply, task: done } = await dispatchAndWait(c, id, ['--resume']);
  t.equal(reply.resume, true);
  t.equal(reply.worktree, wt);
  // The agent committed its own file but not the NOTES.md the first attempt left: the completion gate holds it.
  t.equal(done.status, 'active', 'success with uncommitted files stays active');
  t.match(done.history.at(-1), { topic: 'task_comment' });
  const diag = await c.spl(['task', 'diagnose', id]);
  t.match(diag.stdout, /Recovery: the worker succeeded but left uncommitted files: commit them in /);
  g('add', 'NOTES.md');
  g('commit', '-q', '-m', 'notes');
  const claimed = await c.spl(['task', 'done', id, '--summary', 'finished after resume'], { SPL_ACTOR: DEV }, wt);
  t.equal(claimed.code, 0, claimed.stderr);
  const briefs = readFileSync(c.log, 'utf8');
  const last = briefs.slice(briefs.lastIndexOf('--- success'));
  t.match(last, /## Resuming task\/TASK-\d+\n\nPrior commits on this branch .*\n\n- [0-9a-f]+ parser: first half\n/);
  t.match(last, /Uncommitted changes an earlier attempt left in the worktree \(1 file\(s\)/);
  t.match(last, /Brief for Resumable\./, 'the brief follows the notice');
  t.same(done.history.filter((h: { topic: string }) => h.topic === 'task_reopened').length, 1, 'the failed task was reopened by the dispatch');
});

t.test('interrupt stops a running worker (recorded as interrupted, SIGTERM) and takes a queued one out', async (t) => {
  const c = await instance(t);
  await adapter(c, DEV, 'hang', ['--max-concurrent', '1']);
  const a = await task(c, 'Long');
  const b = await task(c, 'Waiting');
  const ra = JSON.parse((await c.spl(['task', 'dispatch', a, '-o', 'json'])).stdout);
  await c.spl(['task', 'dispatch', b]);
  const ib = await c.spl(['task', 'interrupt', b]);
  t.match(ib.stdout, new RegExp(`^${b}: queued dispatch taken out`));
  const ia = await c.spl(['task', 'interrupt', a]);
  t.match(ia.stdout, new RegExp(`^${a}: worker ${ra.pid} is being stopped`));
  const ta = await waitTask(c, a, (x) => finished(x));
  const tb = await waitTask(c, b, (x) => finished(x));
  t.equal(ta.status, 'failed');
  t.equal(tb.status, 'active', 'a dispatch withdrawn from the queue never ran: the task keeps its status');
  t.match(tb.history.at(-1), { topic: 'task_comment' });
  const da = await get(c, `/v1/tasks/${a}/diagnose`);
  t.match(da, { subprocess: { signal: 15, exit_code: null }, completion: { failure_reason: 'interrupted', codepath: 'stream_eof_fallback' } });
  const db = await get(c, `/v1/tasks/${b}/diagnose`);
  t.match(db, { subprocess: null, completion: { failure_reason: 'interrupted', codepath: 'not_spawned' } });
  const again = await c.spl(['task', 'interrupt', a]);
  t.equal(again.code, 1);
  t.match(again.stderr, /has no running or queued dispatch/);
});

t.test('refusals name the problem and the fix, and write nothing', async (t) => {
  const c = await instance(t);
  const none = await task(c, 'No adapter yet');
  let r = await c.spl(['task', 'dispatch', none]);
  t.equal(r.code, 1);
  t.match(r.stderr, /no adapter is configured.*\nfix: spl adapter add /s);
  r = await c.spl(['adapter', 'add', DEV, '--command', 'agent --key', '--env', 'ANTHROPIC_API_KEY=sk-ant-secret']);
  t.equal(r.code, 2);
  t.match(r.stderr, /would store a secret in the record log/);
  t.notMatch(r.stderr, /sk-ant-secret/);
  r = await c.spl(['adapter', 'add', DEV, '--command', 'make test | tee log']);
  t.match(r.stderr, /without a shell, and \| is a shell operator/);
  r = await c.spl(['adapter', 'add', DEV, '--family', 'claude', '--command', 'claude -p']);
  t.match(r.stderr, /lacks --verbose, stream-json/);
  r = await c.spl(['adapter', 'add', DEV, '--command', '/nonexistent/agent {brief}']);
  t.equal(r.code, 0);
  t.match(r.stderr, /\/nonexistent\/agent is not an executable on the instance's PATH/);
  const doctor = JSON.parse((await c.spl(['doctor', '-o', 'json'])).stdout).checks.find((x: { id: string }) => x.id === 'dispatch');
  t.match(doctor, { status: 'warn', summary: /1 adapter whose command is not an executable on this PATH: did:sync:agent:dev \(\/nonexistent\/agent\)/, fix: /spl adapter add <did> --command/ });
  const norepo = (await c.spl(['task', 'add', 'Nowhere', '--body', 'x', '-o', 'json'])).stdout;
  r = await c.spl(['task', 'dispatch', JSON.parse(norepo).alias]);
  t.match(r.stderr, /names no repository to work in\nfix: spl task dispatch TASK-\d+ --repo/);
  r = await c.spl(['task', 'dispatch', 'TASK-9999']);
  t.match(r.stderr, /no task TASK-9999/);
  const records = (await get(c, `/v1/tasks/${none}`)).history.length;
  t.equal(records, 1, 'nothing was written on the refused task');
  // A command that cannot start: spawn_failed, recorded, the task failed.
  const { diag } = await dispatchAndWait(c, none);
  t.match(diag.completion, { failure_reason: 'spawn_failed', success: false });
  t.match(diag.recovery, /the worker did not start: check the adapter/);
  r = await c.spl(['adapter', 'remove', DEV]);
  t.equal(r.code, 0);
  t.match((await c.spl(['adapter', 'list'])).stdout, /^no adapters/);
});

t.test('shutdown stops workers and records their exits; a crash (kill -9) leaves a worker that the next start stops and marks dispatcher_restarted', async (t) => {
  const c = await instance(t);
  await adapter(c, DEV, 'hang');
  const a = await task(c, 'Interrupted by a stop');
  const ra = JSON.parse((await c.spl(['task', 'dispatch', a, '-o', 'json'])).stdout);
  t.ok(alive(ra.pid), 'the worker runs');
  const stopped = await stop(c.h);
  t.equal(stopped.code, 0, stopped.stderr);
  t.notOk(alive(ra.pid), 'the stop took the worker with it');
  const pid = await serve(c.h);
  const da = await get(c, `/v1/tasks/${a}/diagnose`);
  t.match(da, { status: 'failed', subprocess: { signal: 15, exit_code: null }, completion: { failure_reason: 'interrupted', codepath: 'stream_eof_fallback' } }, 'the exit and completion were recorded before the store closed');

  const b = await task(c, 'Orphaned by a crash');
  const rb = JSON.parse((await c.spl(['task', 'dispatch', b, '-o', 'json'])).stdout);
  await waitTask(c, b, (x) => x.dispatch?.pid === rb.pid);
  // Once its init line was read (the session record), the worker writes nothing more: it outlives the instance.
  // (One killed while still writing would die of the broken pipe, which is fine, but not what this test is about.)
  for (let i = 0; i < 50 && (await get(c, `/v1/threads/${rb.sub_thread}/records`)).data.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  t.ok(alive(rb.pid), 'a worker survives its instance being SIGKILLed (its own process group)');
  await serve(c.h);
  t.notOk(alive(rb.pid), 'the next start stopped the orphaned worker');
  const db = await get(c, `/v1/tasks/${b}/diagnose`);
  t.match(db, { status: 'failed', completion: { codepath: 'dispatcher_restarted', failure_reason: 'dispatcher_restarted', success: false } });
  const recs = await subRecords(c, rb.sub_thread);
  t.match(recs.subprocess_exit, { observed: false, exit_code: null });
  t.match(recs.complete, { orphan: /^(stopped|killed)$/ });
  const logged = readFileSync(join(c.h.home, 'logs', 'spl.log'), 'utf8');
  t.match(logged, new RegExp(`"level":"WARN".*dispatch of ${b} \\(attempt 1\\) left unfinished by the previous run: the instance restarted while worker ${rb.pid} ran; it was still running and has been (stopped|killed); marked failed \\(dispatcher_restarted\\)`));
});
