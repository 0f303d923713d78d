// Tasks: spl task add | list | show | start | done | approve | reject | fail | block | defer | cancel | reopen |
// edit | comment. Every verb takes <alias|thread id>; SPL_ACTOR (or --actor) says who acts. The instance writes
// the records and the content file; this file parses, runs the completion gate on the local working tree, and
// prints.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import { formatAge } from '../../kernel/text.js';
import type { ListBody, TaskDetail, TaskSummary, TaskTransitionReply } from '../../kernel/wire.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { printFields, printJson, printTable } from '../output.js';

interface TaskFlags extends GlobalFlags {
  body?: string;
  'body-file'?: string;
  domain?: string;
  priority?: string | number;
  label?: string | string[];
  repo?: string;
  criteria?: string | string[];
  alias?: string;
  prefix?: string;
  assign?: string;
  title?: string;
  status?: string;
  all?: boolean;
  reason?: string;
  summary?: string;
  notes?: string;
  force?: boolean;
  start?: boolean;
}

const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : [v].flat().map(String));
const path = (ref: string, rest = ''): string => `/v1/tasks/${encodeURIComponent(ref)}${rest}`;

export function register(prog: Sade): void {
  registerAddEdit(prog);
  registerReads(prog);
  registerTransitions(prog);
}

function registerAddEdit(prog: Sade): void {
  prog
    .command('task add <title>')
    .describe('Add a task: its brief goes to <home>-data/tasks/<ALIAS>.md and its sha256 into the opening INTEND')
    .option('--body', 'The brief, as text')
    .option('--body-file', 'The brief, from a file (- for standard input)')
    .option('--domain', 'Trust domain reviews of this task count in (e.g. code)')
    .option('--priority', 'Higher is more urgent', 0)
    .option('--label', 'A label (repeatable)')
    .option('--repo', 'The git repository the work happens in')
    .option('--criteria', 'An acceptance criterion (repeatable)')
    .option('--alias', 'Use this alias (PREFIX-NNNN) instead of the next free one')
    .option('--prefix', 'Alias prefix for the next free alias', 'TASK')
    .option('--assign', 'DID the task is assigned to')
    .example('task add "Fix the parser" --domain code --body-file brief.md --criteria "parser tests pass" --repo ~/src/app')
    .action(async (title: string, flags: TaskFlags) => add(commandContext(flags), title, flags));

  prog
    .command('task edit <ref>')
    .describe('Replace a task\'s brief (recording its new sha256), its title or its priority')
    .option('--body', 'The new brief, as text')
    .option('--body-file', 'The new brief, from a file (- for standard input)')
    .option('--title', 'A new title')
    .option('--priority', 'A new priority')
    .example('task edit TASK-0001 --body-file brief.md')
    .action(async (ref: string, flags: TaskFlags) => edit(commandContext(flags), ref, flags));

  prog
    .command('task comment <ref> <text>')
    .describe('Add a comment to a task\'s thread')
    .example('task comment TASK-0001 "waiting on the schema change"')
    .action(async (ref: string, text: string, flags: TaskFlags) => {
      const ctx = commandContext(flags);
      const res = (await ctx.client().call<{ record: string }>('POST', path(ref, '/comments'), { text: String(text) })).body;
      if (ctx.json) return printJson(res);
      process.stdout.write(`comment recorded on ${ref} (record ${res.record})\n`);
    });
}

function registerReads(prog: Sade): void {
  prog
    .command('task list')
    .describe('List tasks: open ones unless --all or --status (ALIAS STATUS PRIORITY TITLE ASSIGNEE AGE)')
    .option('--status', 'Only this status (inbox active review approved blocked deferred rejected failed cancelled)')
    .option('--all', 'Include approved and cancelled tasks')
    .option('--domain', 'Only this domain')
    .example('task list --status failed')
    .action(async (flags: TaskFlags) => listTasks(commandContext(flags), flags));

  prog
    .command('task show <ref>')
    .describe('Show a task: status, content file and whether its sha256 matches, claim, prior attempts, history')
    .example('task show TASK-0001')
    .action(async (ref: string, flags: TaskFlags) => show(commandContext(flags), ref));
}

/** Reads the brief from --body or --body-file (undefined when neither is given). */
function briefOf(flags: TaskFlags): string | undefined {
  if (flags.body !== undefined && flags['body-file'] !== undefined) throw new SplError('USAGE', 'give --body or --body-file, not both');
  if (flags.body !== undefined) return String(flags.body);
  const file = flags['body-file'];
  if (file === undefined) return undefined;
  try {
    return readFileSync(String(file) === '-' ? 0 : resolve(String(file)), 'utf8');
  } catch (err) {
    throw new SplError('USAGE', `cannot read --body-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function priorityOf(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new SplError('USAGE', `--priority must be a whole number (got ${v})`);
  return n;
}

async function add(ctx: CommandContext, title: string, flags: TaskFlags): Promise<void> {
  const body = {
    title: String(title), body: briefOf(flags) ?? '',
    ...(flags.domain !== undefined ? { domain: String(flags.domain) } : {}),
    priority: priorityOf(flags.priority) ?? 0,
    ...(flags.label !== undefined ? { labels: list(flags.label) } : {}),
    ...(flags.criteria !== undefined ? { criteria: list(flags.criteria) } : {}),
    ...(flags.repo !== undefined ? { repo: resolve(String(flags.repo)) } : {}),
    ...(flags.alias !== undefined ? { alias: String(flags.alias) } : { prefix: String(flags.prefix ?? 'TASK') }),
    ...(flags.assign !== undefined ? { assign: String(flags.assign) } : {}),
  };
  const t = (await ctx.client().call<TaskDetail>('POST', '/v1/tasks', body)).body;
  if (ctx.json) return printJson(t);
  process.stdout.write(`${t.alias} added (${t.status}): ${t.title}\n  thread   ${t.thread}\n  content  ${t.content.path}\n`);
}

async function edit(ctx: CommandContext, ref: string, flags: TaskFlags): Promise<void> {
  const brief = briefOf(flags);
  const priority = priorityOf(flags.priority);
  const body = { ...(brief !== undefined ? { body: brief } : {}), ...(flags.title !== undefined ? { title: String(flags.title) } : {}), ...(priority !== undefined ? { priority } : {}) };
  if (Object.keys(body).length === 0) throw new SplError('USAGE', 'nothing to edit: give --body-file, --body, --title or --priority');
  const t = (await ctx.client().call<TaskDetail>('POST', path(ref, '/content'), body)).body;
  if (ctx.json) return printJson(t);
  process.stdout.write(`${t.alias} edited: ${t.title}\n  content  ${t.content.path} (sha256 ${t.content.sha256.slice(0, 12)}…)\n`);
}

async function listTasks(ctx: CommandContext, flags: TaskFlags): Promise<void> {
  const q = new URLSearchParams();
  if (flags.status !== undefined) q.set('status', String(flags.status));
  if (flags.domain !== undefined) q.set('domain', String(flags.domain));
  if (flags.all) q.set('all', 'true');
  const tasks = (await ctx.client().call<ListBody<TaskSummary>>('GET', `/v1/tasks${q.size ? '?' + q.toString() : ''}`)).body.data;
  if (ctx.json) return printJson(tasks);
  if (tasks.length === 0) {
    process.stdout.write(`no ${flags.status ?? (flags.all ? '' : 'open ')}tasks; add one with spl task add "title"\n`);
    return;
  }
  const title = (s: string): string => (s.length > 48 ? s.slice(0, 47) + '…' : s);
  printTable(['ALIAS', 'STATUS', 'PRIORITY', 'TITLE', 'ASSIGNEE', 'AGE'], tasks.map((t) => [t.alias, t.status, t.priority, title(t.title), t.assigned_to ?? '-', formatAge(t.age_secs * 1000)]));
}

function contentLine(t: TaskDetail): string {
  const c = t.content;
  if (c.state === 'none') return 'none';
  if (c.state === 'ok') return `${c.path} (sha256 ${c.sha256.slice(0, 12)}… matches)`;
  return `${c.path}: ${c.state.toUpperCase()} — ${c.detail ?? ''}`;
}

async function show(ctx: CommandContext, ref: string): Promise<void> {
  const t = (await ctx.client().call<TaskDetail>('GET', path(ref))).body;
  if (ctx.json) return printJson(t);
  process.stdout.write(`Task: ${t.alias} — ${t.title}\nStatus: ${t.status}\n`);
  printFields([
    ['thread', t.thread],
    ['domain', t.domain ?? '-'],
    ['priority', t.priority],
    ['assignee', t.assigned_to ?? '-'],
    ['created', `${t.created_at} by ${t.created_by}`],
    ...(t.labels.length ? [['labels', t.labels.join(', ')] as [string, string]] : []),
    ...(t.repo ? [['repo', t.repo] as [string, string]] : []),
    ['content', contentLine(t)],
    ...(t.claim ? [['claim', `done by ${t.claim.actor}${t.claim.commit ? ` at ${t.claim.commit.slice(0, 12)}` : ''}${t.claim.forced ? ' (forced past uncommitted changes)' : ''}${t.claim.summary ? `: ${t.claim.summary}` : ''}`] as [string, string]] : []),
    ['allowed', t.allowed.join(', ') || '(none: final)'],
  ]);
  for (const c of t.criteria) process.stdout.write(`  - [ ] ${c}\n`);
  process.stdout.write(`Prior attempts: ${attemptsLine(t)}\n`);
  const last = t.attempts.at(-1);
  if (last) process.stdout.write(`Latest attempt: ${last.success ? 'succeeded' : `failed (${last.failure_reason ?? 'unknown'})`} at ${last.at}${last.cost_usd !== null ? `, $${last.cost_usd.toFixed(2)}` : ''} (spl task diagnose ${t.alias})\n`);
  if (t.dispatch) process.stdout.write(`Dispatch: ${dispatchLine(t.dispatch)}\n`);
  process.stdout.write('History\n');
  printTable(['  CLOCK', 'ACT', 'ACTOR', 'TOPIC', 'STATUS'], t.history.map((h) => [`  ${h.clock}`, h.act, h.actor, h.topic, h.note ? `${h.to} (${h.note})` : h.from === h.to ? h.to : `${h.from} → ${h.to}`]));
  if (t.content.state !== 'ok' && t.content.state !== 'none') process.stderr.write(`spl: warning: ${t.alias} content ${t.content.state}: ${t.content.detail ?? ''}\n`);
}

function dispatchLine(d: NonNullable<TaskDetail['dispatch']>): string {
  if (d.state === 'running') return `running (attempt ${d.attempt}, ${d.adapter}, pid ${d.pid ?? '?'}, ${d.stream_events} stream events${d.last_event_type ? `, last ${d.last_event_type}` : ''}, since ${d.since})`;
  return `queued (attempt ${d.attempt}, ${d.adapter}): waiting for ${d.queued_reason === 'memory' ? 'memory to leave the critical band' : `a free slot (max_concurrent), position ${d.position ?? '?'}`}, since ${d.since}`;
}

function attemptsLine(t: TaskDetail): string {
  if (t.attempts.length === 0) return 'none';
  const failed = t.attempts.filter((a) => !a.success).length;
  const cost = t.attempts.reduce((sum, a) => sum + (a.cost_usd ?? 0), 0);
  const count = failed === t.attempts.length ? `${failed} failed` : `${t.attempts.length}${failed ? ` (${failed} failed)` : ''}`;
  return `${count} ($${cost.toFixed(2)} total)`;
}

/** The verbs that only move a task, with what each needs. */
const SIMPLE: Array<{ verb: string; to: string; describe: string; reason: boolean }> = [
  { verb: 'start', to: 'active', describe: 'Start a task (inbox, blocked or deferred → active)', reason: false },
  { verb: 'block', to: 'blocked', describe: 'Mark a task blocked (a reason is required)', reason: true },
  { verb: 'defer', to: 'deferred', describe: 'Defer a task (a reason is required)', reason: true },
  { verb: 'cancel', to: 'cancelled', describe: 'Cancel a task (a reason is required)', reason: true },
  { verb: 'fail', to: 'failed', describe: 'Mark a task failed (a reason is required)', reason: true },
];

function registerTransitions(prog: Sade): void {
  for (const s of SIMPLE) {
    const cmd = prog.command(`task ${s.verb} <ref>`).describe(s.describe);
    if (s.reason) cmd.option('--reason', 'Why (required)');
    else cmd.option('--assign', 'DID to assign it to (default: whoever starts it)');
    cmd.example(`task ${s.verb} TASK-0001${s.reason ? ' --reason "…"' : ''}`);
    cmd.action(async (ref: string, flags: TaskFlags) => move(commandContext(flags), ref, { to: s.to, ...reasonOf(flags, s.verb, s.reason), ...(flags.assign !== undefined ? { assign: String(flags.assign) } : {}) }));
  }
  prog
    .command('task reopen <ref>')
    .describe('Reopen a failed, rejected or cancelled task (→ inbox, or active with --start)')
    .option('--reason', 'Why (required)')
    .option('--start', 'Reopen it as active')
    .example('task reopen TASK-0001 --reason "salvaged in-session after worker SIGKILL"')
    .action(async (ref: string, flags: TaskFlags) => move(commandContext(flags), ref, { to: flags.start ? 'active' : 'inbox', ...reasonOf(flags, 'reopen', true) }));
  registerReview(prog);
}

function registerReview(prog: Sade): void {
  prog
    .command('task done <ref>')
    .describe('Claim a task done (→ review). Refused with "uncommitted changes" while its working tree is dirty, unless --force')
    .option('--summary', 'What was done (required)')
    .option('--domain', 'The trust domain the review counts in (default: the task\'s)')
    .option('--force', 'Claim done although the working tree has uncommitted changes (recorded)')
    .example('task done TASK-0001 --summary "parser fixed, tests added" --domain code')
    .action(async (ref: string, flags: TaskFlags) => done(commandContext(flags), ref, flags));
  for (const [verb, to] of [['approve', 'approved'], ['reject', 'rejected']] as const) {
    prog
      .command(`task ${verb} <ref>`)
      .describe(`${verb === 'approve' ? 'Approve' : 'Reject'} a task in review; from an actor other than the one who claimed done it adds one trust observation in --domain`)
      .option('--domain', 'Trust domain (default: the claim\'s, else the task\'s)')
      .option('--notes', 'Review notes (name the commit and the gate you ran)')
      .option('--reason', verb === 'reject' ? 'Why (required)' : 'Why (optional)')
      .example(`task ${verb} TASK-0001 --domain code --notes "${verb === 'approve' ? 'merged abc123; workspace gate green' : 'tests do not cover the error path'}"${verb === 'reject' ? ' --reason "incomplete"' : ''}`)
      .action(async (ref: string, flags: TaskFlags) =>
        move(commandContext(flags), ref, {
          to, ...reasonOf(flags, verb, verb === 'reject'),
          ...(flags.domain !== undefined ? { domain: String(flags.domain) } : {}),
          ...(flags.notes !== undefined ? { notes: String(flags.notes) } : {}),
        }),
      );
  }
}

function reasonOf(flags: TaskFlags, verb: string, required: boolean): { reason?: string } {
  if (flags.reason === undefined || String(flags.reason).trim() === '') {
    if (required) throw new SplError('USAGE', `${verb} needs --reason "…"`);
    return {};
  }
  return { reason: String(flags.reason) };
}

/**
 * The completion gate: the task's working tree (its worktree, else the repository here) must have no modified or
 * untracked files, so the claim is not credited with work nobody committed; --force records that it was passed.
 */
async function done(ctx: CommandContext, ref: string, flags: TaskFlags): Promise<void> {
  if (flags.summary === undefined || String(flags.summary).trim() === '') throw new SplError('USAGE', 'done needs --summary "what was done"');
  const t = (await ctx.client().call<TaskDetail>('GET', path(ref))).body;
  // A task that cannot be claimed done is refused for that (TASK_STATE) before any tree is looked at.
  if (!t.allowed.includes('done')) return move(ctx, t.alias, { to: 'review', summary: String(flags.summary) });
  const { taskTree, treeState } = await import('../../dispatch/worktree.js');
  const dir = taskTree(t.repo, t.alias, process.cwd());
  const tree = treeState(dir);
  if (tree.top === null) process.stderr.write(`spl: ${dir} is not in a git repository: no working tree to check, done proceeds without the completion gate
`);
  if (tree.dirty.length > 0 && !flags.force) {
    const shown = tree.dirty.slice(0, 10).map((f) => `  ${f}`).join('\n');
    throw new SplError('UNCOMMITTED_CHANGES', `uncommitted changes in ${tree.top}: ${tree.dirty.length} modified or untracked file${tree.dirty.length === 1 ? '' : 's'}${tree.dirty.length > 10 ? ' (the first 10)' : ''}:\n${shown}\ncommit your work first, or use --force`, {
      fix: `git -C ${tree.top} status; commit, then: spl task done ${t.alias} --summary "…"`,
    });
  }
  if (tree.dirty.length > 0) process.stderr.write(`spl: --force: claiming done with ${tree.dirty.length} uncommitted file(s) in ${tree.top}; the claim records it\n`);
  await move(ctx, t.alias, {
    to: 'review', summary: String(flags.summary),
    ...(flags.domain !== undefined ? { domain: String(flags.domain) } : {}),
    ...(tree.head ? { commit: tree.head } : {}),
    ...(flags.force ? { force: true, dirty: tree.dirty } : {}),
  });
}

/** POST one transition and print where the task went (and what a verdict did to trust). */
async function move(ctx: CommandContext, ref: string, body: Record<string, unknown>): Promise<void> {
  const r = (await ctx.client().call<TaskTransitionReply>('POST', path(ref, '/transitions'), body)).body;
  if (ctx.json) return printJson(r);
  const alias = r.task.alias;
  if (r.self) {
    process.stdout.write(`${alias} stays ${r.to}: a self-${r.verb === 'approve' ? 'approval' : 'rejection'} is recorded (record ${r.record}) but it does not ${r.verb} and adds no trust; a different actor must review\n`);
    return;
  }
  process.stdout.write(`${alias}: ${r.from} → ${r.to} (record ${r.record})\n`);
  if (r.trust && 'actor' in r.trust) process.stdout.write(`  trust: one ${r.trust.verdict} for ${r.trust.actor} in ${r.trust.domain}\n`);
  else if (r.trust && 'none' in r.trust) process.stdout.write(`  trust: none added (${r.trust.none})\n`);
}
