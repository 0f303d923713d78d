// Tasks against a real instance and the real CLI: the runbook's salvage step 7 verbatim, the completion gate in a
// real git repository, content files checked against their records (task show and spl doctor), aliases and their
// mirror, refusals, a restart that rebuilds every task identically, and task()/tasks in rules.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, postJson, runSpl, serve, stop, type Home } from '../helpers/spl.js';

const DEV = 'did:sync:agent:dev';
const REVIEWER = 'did:sync:agent:reviewer';

async function started(t: Test): Promise<Home> {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h);
  t.teardown(() => stop(h));
  return h;
}

function gitRepo(dir: string): (...args: string[]) => string {
  mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, encoding: 'utf8' });
  git('init', '-q');
  writeFileSync(join(dir, 'README'), 'hello\n');
  git('add', 'README');
  git('commit', '-q', '-m', 'first');
  return git;
}

t.test("the runbook's salvage step 7, verbatim, on a failed task: reopen, done as dev, approve as reviewer, trust +1", async (t) => {
  const h = await started(t);
  const spl = (args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) => runSpl(args, { ...h.env, ...env }, cwd ? { cwd } : {});
  const repo = join(h.dir, 'myproject');
  gitRepo(repo);
  const added = await spl(['task', 'add', 'Parse trailing commas', '--domain', 'code', '--body', 'Accept [1,2,] everywhere.', '--repo', repo, '-o', 'json']);
  t.equal(added.code, 0, added.stderr);
  const alias = JSON.parse(added.stdout).alias as string;
  t.equal(alias, 'TASK-0001');
  t.equal((await spl(['task', 'start', alias])).code, 0);
  t.equal((await spl(['task', 'fail', alias, '--reason', 'worker SIGKILL (signal 9)'])).code, 0);
  const failed = await spl(['task', 'show', alias]);
  t.match(failed.stdout, /^Task: TASK-0001 — Parse trailing commas\nStatus: failed\n/);
  t.match(failed.stdout, /Prior attempts: none\n/);
  const before = JSON.parse((await spl(['trust', '-o', 'json'])).stdout) as Array<{ actor: string; domain: string; success: number; total: number }>;

  // Step 7, as the runbook writes it (the work was committed in the repository, as step 5 has it).
  const reopen = await spl(['task', 'reopen', alias, '--reason', 'salvaged in-session after worker SIGKILL'], {}, repo);
  t.equal(reopen.code, 0, reopen.stderr);
  t.match(reopen.stdout, /TASK-0001: failed → inbox/);
  const done = await spl(['task', 'done', alias, '--summary', 'parser accepts trailing commas', '--domain', 'code'], { SPL_ACTOR: DEV }, repo);
  t.equal(done.code, 0, done.stderr);
  t.match(done.stdout, /TASK-0001: inbox → review/);
  const approve = await spl(['task', 'approve', alias, '--domain', 'code', '--notes', 'salvage commit 1a2b3c; workspace gate green'], { SPL_ACTOR: REVIEWER }, repo);
  t.equal(approve.code, 0, approve.stderr);
  t.match(approve.stdout, /TASK-0001: review → approved .*\n  trust: one accept for did:sync:agent:dev in code/);

  const after = JSON.parse((await spl(['trust', '-o', 'json'])).stdout) as typeof before;
  const row = (rows: typeof before) => rows.find((r) => r.actor === DEV && r.domain === 'code') ?? { success: 0, total: 0 };
  t.equal(row(after).success, row(before).success + 1, 'one more accepted observation for did:sync:agent:dev in code');
  t.equal(row(after).total, row(before).total + 1);
  const shown = JSON.parse((await spl(['task', 'show', alias, '-o', 'json'])).stdout);
  t.match(shown, { status: 'approved', claim: { actor: DEV, domain: 'code', forced: false, commit: /^[0-9a-f]{40}$/ }, content: { state: 'ok' } });
  t.same(shown.history.map((x: { to: string }) => x.to), ['inbox', 'active', 'failed', 'inbox', 'review', 'approved']);
});

t.test('the completion gate: dirty tree refused with "uncommitted changes"; a commit lets it through; --force passes and is recorded', async (t) => {
  const h = await started(t);
  const repo = join(h.dir, 'app');
  const git = gitRepo(repo);
  const spl = (args: string[], cwd = repo) => runSpl(args, { ...h.env, SPL_ACTOR: DEV }, { cwd });
  t.equal((await spl(['task', 'add', 'Gate me', '--repo', repo])).code, 0);
  t.equal((await spl(['task', 'start', 'TASK-0001'])).code, 0);
  appendFileSync(join(repo, 'README'), 'more\n');
  writeFileSync(join(repo, 'new file.txt'), 'x\n');
  const refused = await spl(['task', 'done', 'TASK-0001', '--summary', 'wip']);
  t.equal(refused.code, 1, 'exit 1');
  t.match(refused.stderr, /uncommitted changes in .*app: 2 modified or untracked files:\n  README\n  new file.txt\ncommit your work first, or use --force/);
  t.equal(JSON.parse((await spl(['task', 'show', 'TASK-0001', '-o', 'json'])).stdout).status, 'active', 'nothing was recorded');

  git('add', '-A');
  git('commit', '-q', '-m', 'the work');
  const head = git('rev-parse', 'HEAD').trim();
  const ok = await spl(['task', 'done', 'TASK-0001', '--summary', 'committed']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse((await spl(['task', 'show', 'TASK-0001', '-o', 'json'])).stdout).claim, { commit: head, forced: false });

  // A second task, forced past a dirty tree: the claim says so.
  t.equal((await spl(['task', 'add', 'Force me', '--repo', repo])).code, 0);
  writeFileSync(join(repo, 'scratch.txt'), 'y\n');
  const forced = await spl(['task', 'done', 'TASK-0002', '--summary', 'triage', '--force']);
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.stderr, /--force: claiming done with 1 uncommitted file/);
  const claim = JSON.parse((await spl(['task', 'show', 'TASK-0002', '-o', 'json'])).stdout).claim;
  t.match(claim, { forced: true, commit: head });
  const records = JSON.parse((await spl(['thread', 'records', JSON.parse((await spl(['task', 'show', 'TASK-0002', '-o', 'json'])).stdout).thread, '-o', 'json'])).stdout);
  t.match(records.at(-1).body, { topic: 'task_done_claim', forced: true, dirty: ['scratch.txt'] }, 'the record names what was forced past');

  // No repository at all: done proceeds and says so.
  const bare = join(h.dir, 'not-a-repo');
  mkdirSync(bare);
  t.equal((await spl(['task', 'add', 'Anywhere'], bare)).code, 0);
  const norepo = await spl(['task', 'done', 'TASK-0003', '--summary', 'no git here'], bare);
  t.equal(norepo.code, 0, norepo.stderr);
  t.match(norepo.stderr, /is not in a git repository: no working tree to check, done proceeds without the completion gate/);
});

t.test('content files are checked against their records by task show and spl doctor; task edit records a new hash', async (t) => {
  const h = await started(t);
  const spl = (args: string[]) => runSpl(args, h.env);
  t.equal((await spl(['task', 'add', 'Keep me', '--body', 'the brief'])).code, 0);
  t.equal((await spl(['task', 'add', 'Lose me', '--body', 'another brief'])).code, 0);
  const data = join(h.dir, '.syncro-data');
  t.match(readFileSync(join(data, 'tasks', 'TASK-0001.md'), 'utf8'), /^---\nalias: TASK-0001\nthread: th_[0-9a-f]{64}\ntitle: "Keep me"\n---\n\nthe brief\n$/);
  t.match(readFileSync(join(data, 'aliases.toml'), 'utf8'), /"TASK-0001" = "th_[0-9a-f]{64}"\n"TASK-0002" = "th_[0-9a-f]{64}"\n$/, 'the alias map is mirrored for the backup tar');
  let doctor = JSON.parse((await spl(['doctor', '-o', 'json'])).stdout).checks.find((c: { id: string }) => c.id === 'task-content');
  t.match(doctor, { status: 'ok', summary: /2 task content files in .* match their records, and aliases.toml mirrors the alias map/ });
  const mirror = readFileSync(join(data, 'aliases.toml'), 'utf8');
  writeFileSync(join(data, 'aliases.toml'), '"TASK-0001" = "th_stale"\n');
  doctor = JSON.parse((await spl(['doctor', '-o', 'json'])).stdout).checks.find((c: { id: string }) => c.id === 'task-content');
  t.match(doctor, { status: 'warn', summary: /aliases\.toml does not hold the alias map the records give/, fix: /spl restart/ }, 'a stale alias mirror is noticed');
  writeFileSync(join(data, 'aliases.toml'), mirror);

  appendFileSync(join(data, 'tasks', 'TASK-0001.md'), 'edited by hand\n');
  rmSync(join(data, 'tasks', 'TASK-0002.md'));
  const changed = await spl(['task', 'show', 'TASK-0001']);
  t.match(changed.stdout, /content {3}.*TASK-0001\.md: CHANGED — content changed outside spl/);
  t.match(changed.stderr, /warning: TASK-0001 content changed/);
  const missing = await spl(['task', 'show', 'TASK-0002', '-o', 'json']);
  t.match(JSON.parse(missing.stdout).content, { state: 'missing', detail: /restore the data directory from your off-host backup/ });
  doctor = JSON.parse((await spl(['doctor', '-o', 'json'])).stdout).checks.find((c: { id: string }) => c.id === 'task-content');
  t.match(doctor, { status: 'fail', summary: '2 of 2 task content files do not match their records: TASK-0001 changed outside spl, TASK-0002 missing', fix: /tar -xzf \$DEST\/syncro-data\.<date>\.tar\.gz -C / });

  const brief = join(h.dir, 'brief.md');
  writeFileSync(brief, 'the brief, revised\n');
  const edited = await spl(['task', 'edit', 'TASK-0001', '--body-file', brief]);
  t.equal(edited.code, 0, edited.stderr);
  t.equal(JSON.parse((await spl(['task', 'show', 'TASK-0001', '-o', 'json'])).stdout).content.state, 'ok', 'the new hash is recorded');
  await stop(h);
  doctor = JSON.parse((await spl(['doctor', '-o', 'json'])).stdout).checks.find((c: { id: string }) => c.id === 'task-content');
  t.match(doctor, { status: 'fail', summary: /1 of 2 .*: TASK-0002 missing/ }, 'doctor reads the records itself with the instance down');
});

t.test('refusals, aliases, thread-id refs, and a restart that rebuilds every task identically', async (t) => {
  const h = await started(t);
  const spl = (args: string[], env: NodeJS.ProcessEnv = {}) => runSpl(args, { ...h.env, ...env }, { cwd: h.dir });
  t.equal((await spl(['task', 'add', 'One'])).code, 0);
  t.equal((await spl(['task', 'add', 'Ops one', '--prefix', 'OPS', '--priority', '5', '--label', 'infra', '--label', 'urgent'])).code, 0);
  t.equal((await spl(['task', 'add', 'Chosen', '--alias', 'REL-0042'])).code, 0);
  const dup = await spl(['task', 'add', 'Again', '--alias', 'REL-0042']);
  t.equal(dup.code, 1);
  t.match(dup.stderr, /alias REL-0042 is taken/);
  t.equal(JSON.parse((await spl(['task', 'add', 'Two', '-o', 'json'])).stdout).alias, 'TASK-0002');
  const approveInbox = await spl(['task', 'approve', 'TASK-0001'], { SPL_ACTOR: REVIEWER });
  t.equal(approveInbox.code, 1);
  t.match(approveInbox.stderr, /spl: TASK-0001 is inbox: approve is not allowed from inbox \(only from review\)\nfix: from inbox a task may: start, done, block, defer, cancel, fail/);
  t.equal((await spl(['task', 'cancel', 'TASK-0002', '--reason', 'duplicate'])).code, 0);
  const doneCancelled = await spl(['task', 'done', 'TASK-0002', '--summary', 'x']);
  t.equal(doneCancelled.code, 1);
  t.match(doneCancelled.stderr, /TASK-0002 is cancelled: done is not allowed from cancelled/);
  const noReason = await spl(['task', 'block', 'TASK-0001']);
  t.equal(noReason.code, 2);
  t.match(noReason.stderr, /block needs --reason/);
  const api = await postJson(h.port, '/v1/tasks/TASK-0001/transitions', { to: 'blocked' });
  t.match(api, { status: 400, body: { code: 'INVALID_REQUEST', field: 'reason' } }, 'the API refuses a missing reason too');
  const conflict = await postJson(h.port, '/v1/tasks/TASK-0001/transitions', { to: 'approved' });
  t.match(conflict, { status: 409, body: { code: 'TASK_STATE' } });
  const thread = JSON.parse((await spl(['task', 'show', 'ops-0001', '-o', 'json'])).stdout).thread;
  t.equal((await spl(['task', 'start', thread])).code, 0, 'a thread id works as a ref, and aliases in any case');
  t.equal((await spl(['task', 'comment', 'OPS-0001', 'on it'])).code, 0);
  const list = await spl(['task', 'list']);
  t.match(list.stdout, /^ALIAS\s+STATUS\s+PRIORITY\s+TITLE\s+ASSIGNEE\s+AGE\nOPS-0001\s+active\s+5\s+Ops one\s+did:sync:user:\S+\s+\d+s\n/);
  t.notMatch(list.stdout, /TASK-0002/, 'cancelled tasks are left out unless --all');
  t.match((await spl(['task', 'list', '--status', 'cancelled'])).stdout, /TASK-0002\s+cancelled/);

  const snapshot = async () => (await spl(['task', 'list', '--all', '-o', 'json'])).stdout.replace(/"age_secs": \d+/g, '"age_secs": 0');
  const details = async () => Promise.all(['TASK-0001', 'TASK-0002', 'OPS-0001', 'REL-0042'].map(async (a) => JSON.parse((await spl(['task', 'show', a, '-o', 'json'])).stdout)).map(async (p) => ({ ...(await p), age_secs: 0 })));
  const before = { list: await snapshot(), details: await details() };
  t.equal(JSON.parse(before.list).length, 4);
  await stop(h);
  await serve(h);
  t.same({ list: await snapshot(), details: await details() }, before, 'task list --all -o json and every task show are identical after the restart rebuild');
});

t.test('task() and tasks in rules: a health rule over failed tasks, and spl expr eval', async (t) => {
  const h = await started(t);
  const spl = (args: string[]) => runSpl(args, h.env);
  t.equal((await spl(['config', 'add-health', '--name', 'few-failures', '--expression', 'tasks.filter(t, t.status == "failed").size() < 2'])).code, 0);
  for (const title of ['a', 'b']) t.equal((await spl(['task', 'add', title])).code, 0);
  t.match(JSON.parse((await spl(['health', 'check', '-o', 'json'])).stdout), { status: 'ok' });
  for (const alias of ['TASK-0001', 'TASK-0002']) t.equal((await spl(['task', 'fail', alias, '--reason', 'oom'])).code, 0);
  const failing = await spl(['health', 'check']);
  t.equal(failing.code, 1, 'the rule fails with two failed tasks');
  t.match(failing.stdout, /few-failures\s+FAIL/);
  const one = await spl(['expr', 'eval', 'task("task-0001").status == "failed" && task("TASK-0001").exists && !task("NOPE-1").exists', '--context', 'routing', '--record', '{}', '-o', 'json']);
  t.match(JSON.parse(one.stdout), { ok: true, value: true });
  const size = await spl(['expr', 'eval', 'tasks.size()', '--context', 'permission', '-o', 'json']);
  t.match(JSON.parse(size.stdout), { ok: true, value: 2 });
});
