// POST /v1/records/query: a small filter language compiled to SQL with bound parameters only.
//   { "where": { "thread": "th_…", "act": ["DO","KNOW"], "body.topic": "routing_rule", "sequence": {"gt": 10} },
//     "sort": "sequence" | "-sequence", "limit": 100, "cursor": "<from the previous page>" }
// Equality on a value, membership on an array, and gt/gte/lt/lte on clock and sequence.

import { SplError } from '../kernel/errors.js';

interface CompiledQuery {
  where: string;
  params: unknown[];
  order: 'ASC' | 'DESC';
  limit: number;
}

const ENVELOPE = new Set(['id', 'thread', 'actor', 'act', 'clock', 'data_type', 'judged_by', 'sequence']);
const ORDERED = new Set(['clock', 'sequence']);
const BODY_PATH = /^body\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,15}$/;
// A Map, not an object literal: a lookup of `constructor` or `__proto__` must find nothing.
const RANGE_OPS = new Map<string, string>([['gt', '>'], ['gte', '>='], ['lt', '<'], ['lte', '<=']]);
const MAX_QUERY_LIMIT = 1000;

function bad(field: string, message: string): SplError {
  return new SplError('INVALID_QUERY', `${field}: ${message}`, { field });
}

export function compileQuery(input: unknown): CompiledQuery {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw bad('query', 'must be a JSON object with where, sort, limit, cursor');
  const q = input as Record<string, unknown>;
  for (const k of Object.keys(q)) if (!['where', 'sort', 'limit', 'cursor'].includes(k)) throw bad(k, 'unknown key (a query has where, sort, limit, cursor)');

  const order = q.sort === undefined || q.sort === 'sequence' ? 'ASC' : q.sort === '-sequence' ? 'DESC' : null;
  if (order === null) throw bad('sort', 'must be "sequence" or "-sequence"');

  let limit = 100;
  if (q.limit !== undefined) {
    if (typeof q.limit !== 'number' || !Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_QUERY_LIMIT) throw bad('limit', `must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
    limit = q.limit;
  }

  const clauses: string[] = [];
  const params: unknown[] = [];
  if (q.cursor !== undefined) {
    const after = decodeCursor(q.cursor);
    clauses.push(order === 'ASC' ? 'sequence > ?' : 'sequence < ?');
    params.push(after);
  }
  if (q.where !== undefined) {
    if (typeof q.where !== 'object' || q.where === null || Array.isArray(q.where)) throw bad('where', 'must be an object of field → value');
    for (const [field, cond] of Object.entries(q.where as Record<string, unknown>)) {
      let column: string;
      if (ENVELOPE.has(field)) column = field;
      else if (BODY_PATH.test(field)) {
        column = 'json_extract(body, ?)';
        params.push('$' + field.slice(4));
      } else throw bad(`where.${field}`, 'is not a record field; use thread, actor, act, clock, data_type, judged_by, sequence, id or body.<path>');
      clauses.push(condition(field, column, cond, params));
    }
  }
  return { where: clauses.length > 0 ? clauses.join(' AND ') : '1', params, order, limit };
}

function condition(field: string, column: string, cond: unknown, params: unknown[]): string {
  if (Array.isArray(cond)) {
    if (cond.length === 0 || cond.length > 100) throw bad(`where.${field}`, 'an array matches any of 1 to 100 values');
    cond.forEach((v, i) => scalar(`where.${field}[${i}]`, v));
    // SQL `x IN (NULL)` never matches, so null in the array becomes an explicit IS NULL alternative.
    const values = cond.filter((v) => v !== null);
    if (values.length === cond.length) {
      params.push(...values);
      return `${column} IN (${values.map(() => '?').join(',')})`;
    }
    const path = column.startsWith('json_extract') ? params[params.length - 1] : undefined;
    if (values.length === 0) return `${column} IS NULL`;
    params.push(...values);
    if (path !== undefined) params.push(path);
    return `(${column} IN (${values.map(() => '?').join(',')}) OR ${column} IS NULL)`;
  }
  if (typeof cond === 'object' && cond !== null) {
    if (!ORDERED.has(field) && !field.startsWith('body.')) throw bad(`where.${field}`, 'ranges (gt, gte, lt, lte) apply to clock, sequence and body paths');
    const parts: string[] = [];
    for (const [op, v] of Object.entries(cond as Record<string, unknown>)) {
      const sqlOp = RANGE_OPS.get(op);
      if (!sqlOp) throw bad(`where.${field}.${op}`, 'unknown operator (use gt, gte, lt, lte)');
      if (typeof v !== 'number' && typeof v !== 'string') throw bad(`where.${field}.${op}`, 'must be a number or string');
      if (parts.length > 0 && column.startsWith('json_extract')) params.push(params[params.length - 2]);
      parts.push(`${column} ${sqlOp} ?`);
      params.push(v);
    }
    if (parts.length === 0) throw bad(`where.${field}`, 'needs at least one of gt, gte, lt, lte');
    return parts.join(' AND ');
  }
  scalar(`where.${field}`, cond);
  if (cond === null) return `${column} IS NULL`;
  params.push(typeof cond === 'boolean' ? (cond ? 1 : 0) : cond);
  return `${column} = ?`;
}

function scalar(field: string, v: unknown): void {
  if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw bad(field, 'must be a string, number, boolean or null');
}

export function encodeCursor(sequence: number): string {
  return Buffer.from(`s:${sequence}`).toString('base64url');
}

function decodeCursor(c: unknown): number {
  if (typeof c !== 'string') throw bad('cursor', 'must be the next_cursor string of a previous page');
  const m = /^s:(\d{1,15})$/.exec(Buffer.from(c, 'base64url').toString());
  if (!m) throw bad('cursor', 'is not a cursor this instance issued; pass next_cursor from a previous page');
  return Number(m[1]);
}
