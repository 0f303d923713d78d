// Records: append (one or a batch), get by id, list with filters, structured query.

import { SplError } from '../../kernel/errors.js';
import { ACTS, isRecordId, validateRecord } from '../../kernel/record.js';
import { isThreadId } from '../../kernel/thread.js';
import { isDid } from '../../kernel/did.js';
import { compileQuery, encodeCursor } from '../../store/query.js';
import { readJson } from '../body.js';
import { requirePermission } from '../permissions.js';
import { assertClaim } from '../claims.js';
import { requireUnfrozen } from '../fleet-control.js';
import { checkFanoutDraft, fanoutsFold } from '../../fleet/fanout.js';
import { ENGINE_CONFIG_THREAD } from '../../engine/folds/engine-config.js';
import type { ApiDeps } from '../context.js';
import { intParam, stringParam } from '../params.js';
import { PER_RECORD, type Routes } from '../route.js';

export const MAX_BATCH = 1000;

export function recordRoutes(api: Routes, deps: ApiDeps): void {
  const log = deps.logger.child({ target: 'syncropel_http::records' });

  api.post('/v1/records', PER_RECORD, async (ctx) => {
    if (deps.instance.phase() === 'stopping') throw new SplError('UNAVAILABLE', 'the instance is shutting down; retry once it is back');
    const body = await readJson(ctx, deps.bodyLimit);
    const batch = Array.isArray(body);
    const items = batch ? body : [body];
    if (items.length === 0) throw new SplError('INVALID_REQUEST', 'the batch is empty; send at least one record');
    if (items.length > MAX_BATCH) throw new SplError('BATCH_TOO_LARGE', `a batch holds at most ${MAX_BATCH} records (got ${items.length}); split it`);
    const drafts = items.map((r, i) => validateRecord(r, batch ? `records[${i}].` : ''));
    for (const d of drafts) assertClaim(ctx, d.actor);
    for (const d of drafts) {
      const { id: _id, clock, ...rest } = d;
      requirePermission(deps, ctx, d.thread === ENGINE_CONFIG_THREAD ? 'config_write' : 'record_write', clock === undefined ? rest : { ...rest, clock });
    }
    for (const d of drafts) requireUnfrozen(deps, ctx.state.actor, d);
    for (const d of drafts) {
      if (d.act !== 'INTEND' || d.body.subtasks === undefined) continue;
      checkFanoutDraft(d, () => deps.engine.state(fanoutsFold));
      // A fan-out starts agent runs: it needs what a dispatch needs.
      requirePermission(deps, ctx, 'dispatch', { thread: d.thread, actor: d.actor, act: d.act, body: d.body });
    }
    const outcomes = await deps.log.append(drafts);
    const created = outcomes.filter((o) => o.created).length;
    if (log.isLevelEnabled('debug')) {
      for (const o of outcomes) {
        if (o.created) log.debug({ actor: o.record.actor, thread: o.record.thread, record: o.record.id, act: o.record.act }, 'record appended');
      }
    }
    ctx.status = created > 0 ? 201 : 200;
    ctx.body = batch ? outcomes.map((o) => o.record) : outcomes[0]!.record;
  });

  api.get('/v1/records/:id', 'record_read', async (ctx) => {
    const id = ctx.params.id!;
    if (!isRecordId(id)) throw new SplError('INVALID_REQUEST', `${id} is not a record id (64 lowercase hex)`, { field: 'id' });
    const rec = await deps.log.get(id);
    if (!rec) throw new SplError('RECORD_NOT_FOUND', `no record ${id}`);
    ctx.body = rec;
  });

  api.get('/v1/records', 'record_read', async (ctx) => {
    const q = ctx.query;
    const limit = intParam(q.limit, 'limit', 1, MAX_BATCH, 100);
    const filter = {
      thread: stringParam(q.thread, 'thread', isThreadId, 'a thread id'),
      actor: stringParam(q.actor, 'actor', isDid, 'a DID'),
      act: stringParam(q.act, 'act', (s) => (ACTS as readonly string[]).includes(s), `one of ${ACTS.join(' ')}`),
      afterSequence: intParam(q.after_sequence, 'after_sequence', 0, Number.MAX_SAFE_INTEGER, 0),
      limit,
    };
    const data = await deps.log.list(filter);
    ctx.body = { object: 'list', data, next_after_sequence: data.length === limit ? data[data.length - 1]!.sequence : null };
  });

  api.post('/v1/records/query', 'record_read', async (ctx) => {
    const compiled = compileQuery(await readJson(ctx, deps.bodyLimit));
    const data = await deps.log.select(compiled);
    ctx.body = { object: 'list', data, next_cursor: data.length === compiled.limit ? encodeCursor(data[data.length - 1]!.sequence) : null };
  });
}
