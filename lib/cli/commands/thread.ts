// Threads: spl thread list | show <id> | records <id>.

import type { Sade } from 'sade';
import type { StoredRecord } from '../../kernel/record.js';
import type { ThreadState } from '../../engine/folds/thread-state.js';
import type { ThreadSummary } from '../../kernel/wire.js';
import { commandContext, type GlobalFlags } from '../context.js';
import { bodySummary, printFields, printJson, printTable } from '../output.js';

export function register(prog: Sade): void {
  prog
    .command('thread list')
    .describe('List threads, most recently written first')
    .option('--limit', 'How many threads', 100)
    .example('thread list --limit 20')
    .action(async (flags: GlobalFlags & { limit?: number }) => {
      const ctx = commandContext(flags);
      const res = await ctx.client().call<{ data: ThreadSummary[]; total: number }>('GET', `/v1/threads?limit=${Number(flags.limit ?? 100)}`);
      if (ctx.json) return printJson(res.body);
      printTable(['THREAD', 'RECORDS', 'LAST SEQ', 'LAST WRITTEN'], res.body.data.map((t) => [t.thread, t.records, t.last_sequence, t.last_written_at]));
      process.stdout.write(`${res.body.data.length} of ${res.body.total} threads\n`);
    });

  prog
    .command('thread show <id>')
    .describe('Show a thread\'s derived state: records, participants, actor clocks, status')
    .action(async (id: string, flags: GlobalFlags) => {
      const ctx = commandContext(flags);
      const s = (await ctx.client().call<ThreadState>('GET', `/v1/threads/${encodeURIComponent(id)}`)).body;
      if (ctx.json) return printJson(s);
      process.stdout.write(`Thread ${s.thread}\n`);
      printFields([
        ['status', s.status],
        ['records', s.records],
        ['intents', `${s.intents} (${s.fulfilled} fulfilled)`],
        ['opened by', s.opened_by],
        ['sequences', `${s.first_sequence}…${s.last_sequence}`],
      ]);
      process.stdout.write('  participants (actor: highest clock)\n');
      for (const p of s.participants) process.stdout.write(`    ${p}: ${s.actor_clocks[p]}\n`);
    });

  prog
    .command('thread records <id>')
    .describe('Print a thread\'s records in store order (all of them unless --limit)')
    .option('--limit', 'Stop after this many records')
    .example('thread records th_engine_config | head -50')
    .action(async (id: string, flags: GlobalFlags & { limit?: number }) => {
      const ctx = commandContext(flags);
      const client = ctx.client();
      const max = flags.limit === undefined ? Infinity : Number(flags.limit);
      const all: StoredRecord[] = [];
      let after = 0;
      while (all.length < max) {
        const want = Math.min(1000, max - all.length);
        const page = (await client.call<{ data: StoredRecord[]; next_after_sequence: number | null }>('GET', `/v1/threads/${encodeURIComponent(id)}/records?limit=${want}&after_sequence=${after}`)).body;
        all.push(...page.data);
        if (page.next_after_sequence === null) break;
        after = page.next_after_sequence;
      }
      if (ctx.json) return printJson(all);
      printTable(['SEQ', 'ACT', 'ACTOR', 'CLOCK', 'ID', 'BODY'], all.map((r) => [r.sequence, r.act, r.actor, r.clock, r.id.slice(0, 12), bodySummary(r.body)]));
    });
}
