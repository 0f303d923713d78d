// Threads: list, derived state, and records in store order.

import { SplError } from '../../kernel/errors.js';
import { isThreadId } from '../../kernel/thread.js';
import { deriveThreadState } from '../../engine/folds/thread-state.js';
import type { ApiDeps } from '../context.js';
import { intParam } from '../params.js';
import { MAX_BATCH } from './records.js';
import { type Routes } from '../route.js';

export function threadRoutes(api: Routes, deps: ApiDeps): void {
  async function threadId(raw: string): Promise<string> {
    if (!isThreadId(raw)) throw new SplError('INVALID_REQUEST', `${raw} is not a thread id (th_ + 64 hex, or a reserved name like th_engine_config)`, { field: 'id' });
    if (!(await deps.log.threadExists(raw))) throw new SplError('THREAD_NOT_FOUND', `no records on thread ${raw}`, { fix: 'spl thread list shows the threads this instance holds' });
    return raw;
  }

  api.get('/v1/threads', 'thread_read', async (ctx) => {
    const limit = intParam(ctx.query.limit, 'limit', 1, MAX_BATCH, 100);
    const offset = intParam(ctx.query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
    ctx.body = { object: 'list', data: await deps.log.recentThreads(limit, offset), total: deps.log.threadCount };
  });

  api.get('/v1/threads/:id', 'thread_read', async (ctx) => {
    const thread = await threadId(ctx.params.id!);
    const state = await deriveThreadState((th, on) => deps.log.scanThread(th, on), thread);
    if (!state) throw new SplError('THREAD_NOT_FOUND', `no records on thread ${thread}`, { fix: 'spl thread list shows the threads this instance holds' });
    ctx.body = { object: 'thread', ...state };
  });

  api.get('/v1/threads/:id/records', 'thread_read', async (ctx) => {
    const thread = await threadId(ctx.params.id!);
    const limit = intParam(ctx.query.limit, 'limit', 1, MAX_BATCH, 100);
    const after = intParam(ctx.query.after_sequence, 'after_sequence', 0, Number.MAX_SAFE_INTEGER, 0);
    const data = await deps.log.list({ thread, afterSequence: after, limit });
    ctx.body = { object: 'list', data, next_after_sequence: data.length === limit ? data[data.length - 1]!.sequence : null };
  });
}
