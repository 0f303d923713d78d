// Writing records: spl intend|do|know|learn "text" [--thread] [--actor] [--body JSON] [--fulfills [ID]] [--parent ID].

import type { Sade } from 'sade';
import { isDid } from '../../kernel/did.js';
import { SplError } from '../../kernel/errors.js';
import { isRecordId, type Act, type StoredRecord } from '../../kernel/record.js';
import { isThreadId } from '../../kernel/thread.js';
import { commandContext, type CommandContext, type GlobalFlags } from '../context.js';
import { printFields, printJson } from '../output.js';

interface WriteFlags extends GlobalFlags {
  thread?: string;
  body?: string;
  fulfills?: string | boolean;
  parent?: string | string[];
}

const VERBS: Array<[string, Act, string]> = [
  ['intend', 'INTEND', 'Declare an intention; opens a new thread unless --thread is given'],
  ['do', 'DO', 'Record an action taken on a thread'],
  ['know', 'KNOW', 'Record an observation or judgment on a thread'],
  ['learn', 'LEARN', 'Record a lesson or configuration (th_engine_config for engine config)'],
];

export function register(prog: Sade): void {
  for (const [verb, act, description] of VERBS) {
    prog
      .command(`${verb} [text]`)
      .describe(description)
      .option('--thread', 'Thread id (th_…)')
      .option('--actor', 'Acting DID (default: SPL_ACTOR, config identity.actor, did:sync:user:<you>)')
      .option('--body', 'JSON object merged into the body')
      .option('--fulfills', 'Record id this fulfills; without a value, the thread\'s latest INTEND')
      .option('--parent', 'Parent record id (repeatable)')
      .example(`${verb} ${verb === 'intend' ? '"Ship v2"' : '"reviewed the patch" --thread th_…'}`)
      .example(`${verb} --thread th_… --body '{"topic":"note"}' -o json`)
      .action(async (text: string | undefined, flags: WriteFlags) => write(commandContext(flags), act, text, flags));
  }
}

async function write(ctx: CommandContext, act: Act, text: string | undefined, flags: WriteFlags): Promise<void> {
  const actor = ctx.actor();
  if (!isDid(actor)) throw new SplError('USAGE', `--actor ${actor} is not a DID (did:sync:user:alice, did:sync:agent:dev, did:key:…, did:web:…)`);

  let body: Record<string, unknown> = {};
  if (flags.body !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(flags.body));
    } catch (err) {
      throw new SplError('USAGE', `--body is not valid JSON: ${(err as Error).message}`, { fix: `quote it for the shell: --body '{"key":"value"}'` });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SplError('USAGE', '--body must be a JSON object');
    body = parsed as Record<string, unknown>;
  }
  if (text !== undefined) body.text = String(text);
  if (text === undefined && flags.body === undefined) throw new SplError('USAGE', `${act.toLowerCase()} needs text or --body`, { fix: `spl ${act.toLowerCase()} "what happened" --thread th_…` });

  let thread = flags.thread;
  if (thread === undefined) {
    if (act !== 'INTEND') throw new SplError('USAGE', `${act} needs --thread (only INTEND opens a new thread)`, { fix: 'spl thread list shows the threads' });
    // Hashing (node:crypto) is loaded only by the call that mints a thread.
    const { mintThreadId } = await import('../../kernel/id.js');
    thread = mintThreadId(actor, JSON.stringify(body));
  } else if (!isThreadId(String(thread))) {
    throw new SplError('USAGE', `--thread ${thread} is not a thread id (th_ + 64 hex, or a reserved name like th_engine_config)`);
  }
  thread = String(thread);

  const parents = new Set<string>([flags.parent ?? []].flat().map(String));
  const client = ctx.client();
  if (flags.fulfills !== undefined) {
    let target: string;
    if (flags.fulfills === true || flags.fulfills === '') {
      const latest = await client.call<{ data: StoredRecord[] }>('POST', '/v1/records/query', { where: { thread, act: 'INTEND' }, sort: '-sequence', limit: 1 });
      const intent = latest.body.data[0];
      if (!intent) throw new SplError('USAGE', `--fulfills: thread ${thread} has no INTEND to fulfil`, { fix: 'pass the record id: --fulfills <id>' });
      target = intent.id;
    } else {
      target = String(flags.fulfills);
      if (!isRecordId(target)) throw new SplError('USAGE', `--fulfills ${target} is not a record id (64 lowercase hex); put --fulfills after the text when giving no id`);
    }
    body.fulfills = target;
    parents.add(target);
  }
  for (const p of parents) if (!isRecordId(p)) throw new SplError('USAGE', `--parent ${p} is not a record id (64 lowercase hex)`);

  const res = await client.call<StoredRecord>('POST', '/v1/records', { thread, actor, act, body, parents: [...parents] });
  const rec = res.body;
  if (ctx.json) return printJson(rec);
  process.stdout.write(`${res.status === 201 ? 'recorded' : 'already recorded'} ${rec.act} ${rec.id}\n`);
  printFields([
    ['thread', rec.thread],
    ['actor', rec.actor],
    ['clock', rec.clock],
    ['sequence', rec.sequence],
  ]);
}
