// Engine configuration: spl config show | list-rules | add-rule | disable-rule | add-permission-rule |
// list-permission-rules | add-health | list-health. Every change is a LEARN record on th_engine_config.

import type { Sade } from 'sade';
import { SplError } from '../../kernel/errors.js';
import type { StoredRecord } from '../../kernel/record.js';
import { ENGINE_CONFIG_THREAD, RULE_TOPICS, isRuleTopic, type RuleTopic } from '../../engine/folds/engine-config.js';
import { validateRecord } from '../../kernel/record.js';
import { RecordLog } from '../../store/record-log.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { runningInstance } from '../running.js';
import { hasShorthand, matchExpression, ruleContext } from '../../engine/rule-match.js';
import { isDid } from '../../kernel/did.js';
import { printFields, printJson, printTable } from '../output.js';
import type { EngineConfigView, RuleView } from '../../kernel/wire.js';

interface RuleFlags extends GlobalFlags {
  name?: string;
  expression?: string;
  priority?: number | string;
  topic?: string;
  body?: string;
  effect?: string;
  action?: string;
  target?: string;
  domain?: string;
  act?: string;
  match?: string;
  all?: boolean;
}

export function register(prog: Sade): void {
  registerShow(prog);
  registerRules(prog);
  registerPermissionRules(prog);
  registerHealthRules(prog);
  registerPermissionToggles(prog);
}

function registerShow(prog: Sade): void {
  prog
    .command('config show')
    .describe('Show the engine configuration folded from th_engine_config: toggles and rule counts')
    .example('config show -o json')
    .action(async (flags: GlobalFlags) => {
      const ctx = commandContext(flags);
      const c = (await ctx.client().call<EngineConfigView>('GET', '/v1/config')).body;
      if (ctx.json) return printJson(c);
      process.stdout.write(`Engine configuration (${c.records} records on ${ENGINE_CONFIG_THREAD})\n`);
      process.stdout.write(`  permission enforcement: ${c.permissions_enabled ? 'on' : 'off'}\n`);
      printFields(Object.entries(c.rules).map(([t, n]) => [t, `${n.enabled} enabled of ${n.total}`]));
      const toggles = Object.entries(c.toggles);
      process.stdout.write(toggles.length ? '  toggles\n' : '  toggles: none set\n');
      for (const [k, v] of toggles) process.stdout.write(`    ${k}: ${JSON.stringify(v.enabled ?? v)}\n`);
    });
}

function registerRules(prog: Sade): void {
  prog
    .command('config list-rules')
    .describe('List rules (all topics unless --topic), highest priority first')
    .option('--topic', `One of ${RULE_TOPICS.join(', ')}`)
    .option('--all', 'Include disabled rules')
    .example('config list-rules --topic routing_rule --all')
    .action(async (flags: RuleFlags) => listRules(commandContext(flags), flags.topic, Boolean(flags.all)));

  prog
    .command('config add-rule [name]')
    .describe([
      'Add or replace a rule (routing_rule unless --topic). Match with one of: --expression CEL; --domain/--act',
      '(an unset one matches anything); --match "key=value,…" over act, actor, thread, data_type and body.<field>.',
      'The shorthand forms are stored as the CEL they compile to.',
    ])
    .option('--name', 'Rule name (or give it as the first argument)')
    .option('--target', 'DID a routing rule dispatches to')
    .option('--expression', 'CEL expression the rule matches on')
    .option('--domain', 'Match records whose body.domain is this')
    .option('--act', 'Match records of this act (INTEND, DO, KNOW, …)')
    .option('--match', 'Match key=value pairs, comma-separated, e.g. "act=KNOW,body.topic=review"')
    .option('--priority', 'Higher runs first', 0)
    .option('--topic', 'Rule topic', 'routing_rule')
    .option('--body', 'Extra JSON fields for the rule body')
    .example('config add-rule --name code-to-dev --target did:sync:agent:dev --domain code --act INTEND --priority 10')
    .example('config add-rule --name reviews --target did:sync:agent:reviewer --match "act=KNOW,body.topic=review"')
    .example(`config add-rule to-dev --target did:sync:agent:dev --expression 'record.act == "INTEND"' --priority 5`)
    .action(async (name: string | undefined, flags: RuleFlags) => addRule(commandContext(flags), topicOf(flags.topic ?? 'routing_rule'), ruleName(name, flags), flags));

  prog
    .command('config disable-rule [name]')
    .describe('Disable a rule, found by name across topics unless --topic (latest record wins; add-rule enables it again)')
    .option('--name', 'Rule name (or give it as the first argument)')
    .option('--topic', 'Rule topic, when rules of several topics share the name')
    .example('config disable-rule code-to-dev')
    .example('config disable-rule admin-all --topic permission_rule')
    .action(async (name: string | undefined, flags: RuleFlags) => disableRule(commandContext(flags), flags.topic === undefined ? undefined : topicOf(flags.topic), ruleName(name, flags)));
}

function registerPermissionRules(prog: Sade): void {
  prog
    .command('config add-permission-rule [name]')
    .describe('Add or replace a permission rule (CEL over current_actor(), resource, record, trust(), now())')
    .option('--name', 'Rule name (or give it as the first argument)')
    .option('--expression', 'CEL expression; when true the rule decides')
    .option('--priority', 'Higher is evaluated first', 0)
    .option('--action', 'allow or deny (default allow)')
    .option('--effect', 'The same as --action')
    .example(`config add-permission-rule --name admin-all --action allow --priority 1000 --expression 'current_actor() == "did:sync:user:you"'`)
    .example(`config add-permission-rule --name bob-reads --action allow --priority 10 --expression 'current_actor() == "did:sync:user:bob" && resource == "thread_read"'`)
    .action(async (name: string | undefined, flags: RuleFlags) => {
      const effect = permissionEffect(flags);
      await addRule(commandContext(flags), 'permission_rule', ruleName(name, flags), { ...flags, body: JSON.stringify({ ...parseBody(flags.body), effect }) });
    });

  prog
    .command('config list-permission-rules')
    .describe('List permission rules in evaluation order')
    .option('--all', 'Include disabled rules')
    .action(async (flags: RuleFlags) => listRules(commandContext(flags), 'permission_rule', Boolean(flags.all)));
}

function registerHealthRules(prog: Sade): void {
  prog
    .command('config add-health [name]')
    .describe('Add or replace a health rule (a CEL check spl health check evaluates)')
    .option('--name', 'Rule name (or give it as the first argument)')
    .option('--expression', 'CEL expression that is true when healthy')
    .option('--priority', 'Higher is evaluated first', 0)
    .example(`config add-health --name has-records --expression 'records >= 0'`)
    .action(async (name: string | undefined, flags: RuleFlags) => addRule(commandContext(flags), 'health_rule', ruleName(name, flags), flags));

  prog
    .command('config list-health')
    .describe('List health rules')
    .option('--all', 'Include disabled rules')
    .action(async (flags: RuleFlags) => listRules(commandContext(flags), 'health_rule', Boolean(flags.all)));
}

/** The actor offline unlocks write as: never one the running instance writes as, so no clock can collide. */
const UNLOCK_ACTOR = 'did:sync:system:permissions-unlock';

function registerPermissionToggles(prog: Sade): void {
  for (const [verb, describe] of [
    ['enable', 'Turn permission enforcement on (refuses unless an allow rule keeps the admin in)'],
    ['disable', 'Turn permission enforcement off'],
  ] as const) {
    prog
      .command(`config permissions-${verb}`)
      .describe(describe)
      .action(async (flags: GlobalFlags) => {
        const ctx = commandContext(flags);
        const res = (await ctx.client().call<{ record: string }>('POST', `/v1/config/permissions/${verb}`, {})).body;
        if (ctx.json) return printJson(res);
        process.stdout.write(`permission enforcement ${verb}d (record ${res.record})\n`);
      });
  }

  prog
    .command('config permissions-unlock')
    .describe('Offline: write permissions_enabled=false straight into the store (stop the instance first)')
    .option('--force', 'Write even though an instance is running (it keeps enforcing until restarted)')
    .action(async (flags: GlobalFlags & { force?: boolean }) => {
      const ctx = commandContext(flags);
      const { found } = await runningInstance(ctx);
      if (found && !flags.force) {
        throw new SplError('ALREADY_RUNNING', `spl is running (pid ${found.pid}); its cached config would shadow the unlock`, { fix: 'spl stop; spl config permissions-unlock; spl serve' });
      }
      const log = await RecordLog.open(ctx.config.storePath);
      let id: string;
      try {
        const [o] = await log.append([validateRecord({ thread: ENGINE_CONFIG_THREAD, actor: UNLOCK_ACTOR, act: 'LEARN', body: { topic: 'permissions_enabled', enabled: false, reason: 'spl config permissions-unlock', by: ctx.actor() } })]);
        id = o!.record.id;
      } finally {
        await log.close();
      }
      if (ctx.json) return printJson({ unlocked: true, record: id, store: ctx.config.storePath, running: Boolean(found) });
      process.stdout.write(`wrote permissions_enabled=false to ${ctx.config.storePath} (record ${id})\n`);
      process.stdout.write(found ? `the running instance (pid ${found.pid}) still enforces until restarted: spl restart\n` : 'now start the instance: spl serve (enforcement will be off)\n');
    });
}

function topicOf(topic: string): RuleTopic {
  if (!isRuleTopic(topic)) throw new SplError('USAGE', `--topic must be one of ${RULE_TOPICS.join(', ')} (got ${topic})`);
  return topic;
}

function parseBody(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new SplError('USAGE', `--body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SplError('USAGE', '--body must be a JSON object');
  return v as Record<string, unknown>;
}

/** The rule's name: the first argument or --name (the upstream form); both only when they agree. */
function ruleName(positional: string | undefined, flags: RuleFlags): string {
  const named = flags.name === undefined ? undefined : String(flags.name);
  if (positional !== undefined && named !== undefined && positional !== named) {
    throw new SplError('USAGE', `the rule is named twice: ${positional} (argument) and ${named} (--name)`, { fix: 'give one of them' });
  }
  const name = positional ?? named;
  if (name === undefined || name.trim() === '') throw new SplError('USAGE', 'the rule needs a name: --name N (or as the first argument)');
  return name;
}

/** --action (upstream) or --effect: allow unless one says deny. */
function permissionEffect(flags: RuleFlags): 'allow' | 'deny' {
  for (const [flag, v] of [['--action', flags.action], ['--effect', flags.effect]] as const) {
    if (v !== undefined && v !== 'allow' && v !== 'deny') throw new SplError('USAGE', `${flag} must be allow or deny (got ${String(v)})`);
  }
  if (flags.action !== undefined && flags.effect !== undefined && flags.action !== flags.effect) {
    throw new SplError('USAGE', `--action ${flags.action} and --effect ${flags.effect} disagree; they are the same setting`);
  }
  return (flags.action ?? flags.effect ?? 'allow') as 'allow' | 'deny';
}

/** The rule's CEL: --expression as written, or the shorthand (--domain/--act, --match) compiled; exactly one form. */
function ruleExpression(topic: RuleTopic, name: string, flags: RuleFlags): string {
  const shorthand = { ...(flags.domain !== undefined ? { domain: String(flags.domain) } : {}), ...(flags.act !== undefined ? { act: String(flags.act) } : {}), ...(flags.match !== undefined ? { match: String(flags.match) } : {}) };
  const hasExpression = typeof flags.expression === 'string' && flags.expression.trim() !== '';
  if (hasExpression && hasShorthand(shorthand)) {
    throw new SplError('USAGE', `${topic} ${name}: give --expression or the shorthand (--domain/--act/--match), not both`);
  }
  if (hasShorthand(shorthand)) {
    if (topic === 'permission_rule' || topic === 'health_rule') throw new SplError('USAGE', `--domain, --act and --match describe the records a routing rule matches; a ${topic} needs --expression`);
    return matchExpression(shorthand);
  }
  if (!hasExpression) {
    throw new SplError('USAGE', `${topic} ${name} needs --expression '<CEL>'${topic === 'routing_rule' ? ', --match key=value,… or --domain/--act' : ''}`, {
      fix: topic === 'routing_rule' ? `spl config add-rule --name ${name} --target <DID> --act INTEND --domain code` : `spl config add-rule ${name} --topic ${topic} --expression 'record.act == "DO"'`,
    });
  }
  return String(flags.expression);
}

async function listRules(ctx: CommandContext, topic: string | undefined, all: boolean): Promise<void> {
  if (topic !== undefined) topicOf(topic);
  const path = topic === 'permission_rule' ? '/v1/config/permission-rules' : '/v1/config/rules';
  const q = new URLSearchParams();
  if (topic !== undefined && topic !== 'permission_rule') q.set('topic', topic);
  if (all) q.set('all', 'true');
  const rules = (await ctx.client().call<{ data: RuleView[] }>('GET', `${path}${q.size ? '?' + q.toString() : ''}`)).body.data;
  if (ctx.json) return printJson(rules);
  if (rules.length === 0) {
    process.stdout.write(`no ${topic ?? 'rules'}${all ? '' : ' enabled'}; add one with spl config ${topic === 'permission_rule' ? 'add-permission-rule' : topic === 'health_rule' ? 'add-health' : 'add-rule'} --name <name> --expression '…'\n`);
    return;
  }
  printTable(
    ['TOPIC', 'NAME', 'PRIORITY', 'ENABLED', 'EFFECT', 'EXPRESSION', 'TARGET'],
    rules.map((r) => [r.topic, r.name, r.priority, r.enabled ? 'yes' : 'no', typeof r.body.effect === 'string' ? r.body.effect : '-', r.expression ?? '-', typeof r.body.target === 'string' ? r.body.target : '-']),
  );
}

async function writeConfig(ctx: CommandContext, body: Record<string, unknown>): Promise<StoredRecord> {
  return (await ctx.client().call<StoredRecord>('POST', '/v1/records', { thread: ENGINE_CONFIG_THREAD, actor: ctx.actor(), act: 'LEARN', body })).body;
}

async function addRule(ctx: CommandContext, topic: RuleTopic, name: string, flags: RuleFlags): Promise<void> {
  const expression = ruleExpression(topic, name, flags);
  const priority = Number(flags.priority ?? 0);
  if (!Number.isFinite(priority)) throw new SplError('USAGE', `--priority must be a number (got ${flags.priority})`);
  const target = flags.target === undefined ? undefined : String(flags.target);
  if (target !== undefined && topic !== 'routing_rule') throw new SplError('USAGE', `--target is where a routing rule dispatches to; a ${topic} has none`);
  if (target !== undefined && !isDid(target)) throw new SplError('USAGE', `--target must be a DID such as did:sync:agent:dev (got ${target})`);
  const context = ruleContext(topic);
  const checked = (await ctx.client().call<{ ok: boolean; error?: string }>('POST', '/v1/engine/expr', { expression, context, evaluate: false })).body;
  if (!checked.ok) throw new SplError('USAGE', `--expression does not compile in the ${context} context: ${checked.error}`, { fix: `spl expr check '<expression>' --context ${context}` });
  const body = { ...parseBody(flags.body), topic, name, expression, priority, enabled: true, ...(target !== undefined ? { target } : {}) };
  const rec = await writeConfig(ctx, body);
  if (ctx.json) return printJson(rec);
  process.stdout.write(`${topic} ${name} set (priority ${priority}${target !== undefined ? `, target ${target}` : ''}) by record ${rec.id}\n`);
  if (expression !== flags.expression) process.stdout.write(`  matches: ${expression}\n`);
}

/** Disables the rule named `name`: of `topic` when given, else of whichever topic holds that name (refused when several do). */
async function disableRule(ctx: CommandContext, topic: RuleTopic | undefined, name: string): Promise<void> {
  const q = new URLSearchParams({ all: 'true', ...(topic !== undefined ? { topic } : {}) });
  const path = topic === 'permission_rule' ? '/v1/config/permission-rules?all=true' : `/v1/config/rules?${q.toString()}`;
  const named = (await ctx.client().call<{ data: RuleView[] }>('GET', path)).body.data.filter((r) => r.name === name);
  if (named.length === 0) {
    const where = topic ?? 'routing_rule';
    throw new SplError('NOT_FOUND', `no ${where} named ${name}${topic === undefined ? ', nor a rule of another topic by that name' : ''}`, { fix: `spl config list-rules${topic !== undefined ? ` --topic ${topic}` : ''} --all` });
  }
  if (named.length > 1) {
    throw new SplError('USAGE', `rules of ${named.length} topics are named ${name} (${named.map((r) => r.topic).join(', ')}); say which`, { fix: `spl config disable-rule ${name} --topic ${named[0]!.topic}` });
  }
  const current = named[0]!;
  const rec = await writeConfig(ctx, { ...current.body, topic: current.topic, name, enabled: false });
  if (ctx.json) return printJson(rec);
  process.stdout.write(`${current.topic} ${name} disabled by record ${rec.id}\n`);
}
