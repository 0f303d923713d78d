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
import { ruleContext } from '../../engine/engine.js';
import { printFields, printJson, printTable } from '../output.js';
import type { EngineConfigView, RuleView } from '../../kernel/wire.js';

interface RuleFlags extends GlobalFlags {
  expression?: string;
  priority?: number | string;
  topic?: string;
  body?: string;
  effect?: string;
  all?: boolean;
}

export function register(prog: Sade): void {
  registerPermissionToggles(prog);
  prog
    .command('config show')
    .describe('Show the engine configuration folded from th_engine_config: toggles and rule counts')
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

  prog
    .command('config list-rules')
    .describe('List rules (all topics unless --topic), highest priority first')
    .option('--topic', `One of ${RULE_TOPICS.join(', ')}`)
    .option('--all', 'Include disabled rules')
    .action(async (flags: RuleFlags) => listRules(commandContext(flags), flags.topic, Boolean(flags.all)));

  prog
    .command('config add-rule <name>')
    .describe('Add or replace a rule (routing_rule unless --topic)')
    .option('--expression', 'CEL expression the rule matches on')
    .option('--priority', 'Higher runs first', 0)
    .option('--topic', 'Rule topic', 'routing_rule')
    .option('--body', 'Extra JSON fields for the rule body')
    .action(async (name: string, flags: RuleFlags) => addRule(commandContext(flags), topicOf(flags.topic ?? 'routing_rule'), name, flags));

  prog
    .command('config disable-rule <name>')
    .describe('Disable a rule (latest record wins; add-rule enables it again)')
    .option('--topic', 'Rule topic', 'routing_rule')
    .action(async (name: string, flags: RuleFlags) => disableRule(commandContext(flags), topicOf(flags.topic ?? 'routing_rule'), name));

  prog
    .command('config add-permission-rule <name>')
    .describe('Add or replace a permission rule (CEL over current_actor(), resource, record, trust(), now())')
    .option('--expression', 'CEL expression; when true the rule decides')
    .option('--priority', 'Higher is evaluated first', 0)
    .option('--effect', 'allow or deny', 'allow')
    .action(async (name: string, flags: RuleFlags) => {
      const effect = flags.effect ?? 'allow';
      if (effect !== 'allow' && effect !== 'deny') throw new SplError('USAGE', `--effect must be allow or deny (got ${effect})`);
      await addRule(commandContext(flags), 'permission_rule', name, { ...flags, body: JSON.stringify({ ...parseBody(flags.body), effect }) });
    });

  prog
    .command('config list-permission-rules')
    .describe('List permission rules in evaluation order')
    .option('--all', 'Include disabled rules')
    .action(async (flags: RuleFlags) => listRules(commandContext(flags), 'permission_rule', Boolean(flags.all)));

  prog
    .command('config add-health <name>')
    .describe('Add or replace a health rule (a CEL check spl health check evaluates)')
    .option('--expression', 'CEL expression that is true when healthy')
    .option('--priority', 'Higher is evaluated first', 0)
    .action(async (name: string, flags: RuleFlags) => addRule(commandContext(flags), 'health_rule', name, flags));

  prog
    .command('config list-health')
    .describe('List health rules')
    .option('--all', 'Include disabled rules')
    .action(async (flags: RuleFlags) => listRules(commandContext(flags), 'health_rule', Boolean(flags.all)));
}

/** The actor offline unlocks write as: never one the running instance writes as, so no clock can collide. */
export const UNLOCK_ACTOR = 'did:sync:system:permissions-unlock';

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

async function listRules(ctx: CommandContext, topic: string | undefined, all: boolean): Promise<void> {
  if (topic !== undefined) topicOf(topic);
  const path = topic === 'permission_rule' ? '/v1/config/permission-rules' : '/v1/config/rules';
  const q = new URLSearchParams();
  if (topic !== undefined && topic !== 'permission_rule') q.set('topic', topic);
  if (all) q.set('all', 'true');
  const rules = (await ctx.client().call<{ data: RuleView[] }>('GET', `${path}${q.size ? '?' + q.toString() : ''}`)).body.data;
  if (ctx.json) return printJson(rules);
  if (rules.length === 0) {
    process.stdout.write(`no ${topic ?? 'rules'}${all ? '' : ' enabled'}; add one with spl config ${topic === 'permission_rule' ? 'add-permission-rule' : topic === 'health_rule' ? 'add-health' : 'add-rule'} <name> --expression '…'\n`);
    return;
  }
  printTable(
    ['TOPIC', 'NAME', 'PRIORITY', 'ENABLED', 'EFFECT', 'EXPRESSION'],
    rules.map((r) => [r.topic, r.name, r.priority, r.enabled ? 'yes' : 'no', typeof r.body.effect === 'string' ? r.body.effect : '-', r.expression ?? '-']),
  );
}

async function writeConfig(ctx: CommandContext, body: Record<string, unknown>): Promise<StoredRecord> {
  return (await ctx.client().call<StoredRecord>('POST', '/v1/records', { thread: ENGINE_CONFIG_THREAD, actor: ctx.actor(), act: 'LEARN', body })).body;
}

async function addRule(ctx: CommandContext, topic: RuleTopic, name: string, flags: RuleFlags): Promise<void> {
  if (typeof flags.expression !== 'string' || flags.expression.trim() === '') {
    throw new SplError('USAGE', `${topic} ${name} needs --expression '<CEL>'`, { fix: `spl config add-rule ${name} --expression 'record.act == "DO"'` });
  }
  const priority = Number(flags.priority ?? 0);
  if (!Number.isFinite(priority)) throw new SplError('USAGE', `--priority must be a number (got ${flags.priority})`);
  const context = ruleContext(topic);
  const checked = (await ctx.client().call<{ ok: boolean; error?: string }>('POST', '/v1/engine/expr', { expression: flags.expression, context, evaluate: false })).body;
  if (!checked.ok) throw new SplError('USAGE', `--expression does not compile in the ${context} context: ${checked.error}`, { fix: `spl expr check '<expression>' --context ${context}` });
  const body = { ...parseBody(flags.body), topic, name, expression: flags.expression, priority, enabled: true };
  const rec = await writeConfig(ctx, body);
  if (ctx.json) return printJson(rec);
  process.stdout.write(`${topic} ${name} set (priority ${priority}) by record ${rec.id}\n`);
}

async function disableRule(ctx: CommandContext, topic: RuleTopic, name: string): Promise<void> {
  const path = topic === 'permission_rule' ? '/v1/config/permission-rules?all=true' : `/v1/config/rules?topic=${topic}&all=true`;
  const current = (await ctx.client().call<{ data: RuleView[] }>('GET', path)).body.data.find((r) => r.name === name);
  if (!current) throw new SplError('NOT_FOUND', `no ${topic} named ${name}`, { fix: `spl config list-rules --topic ${topic} --all` });
  const rec = await writeConfig(ctx, { ...current.body, topic, name, enabled: false });
  if (ctx.json) return printJson(rec);
  process.stdout.write(`${topic} ${name} disabled by record ${rec.id}\n`);
}
