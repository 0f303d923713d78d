// The eight-field record envelope (SPEC §2): types, validation with field-named errors, normalisation.

import { SplError } from './errors.js';
import { isDid } from './did.js';
import { isThreadId } from './thread.js';

export const ACTS = ['INTEND', 'DO', 'KNOW', 'LEARN', 'GET', 'PUT', 'CALL', 'MAP'] as const;
export type Act = (typeof ACTS)[number];

export const DATA_TYPES = ['SCALAR', 'FORMULA', 'DISTRIBUTION', 'REFERENCE', 'MORPHISM', 'VOID'] as const;
export type DataType = (typeof DATA_TYPES)[number];

export type Body = { [key: string]: unknown };

/** A record as written by a client: clock may be omitted (the server assigns it). */
export interface RecordDraft {
  parents: string[];
  thread: string;
  actor: string;
  act: Act;
  body: Body;
  clock: number | undefined;
  data_type: DataType;
  judged_by: string | null;
}

/** A complete record: every field set, with its content id. */
export interface SplRecord {
  id: string;
  parents: string[];
  thread: string;
  actor: string;
  act: Act;
  body: Body;
  clock: number;
  data_type: DataType;
  judged_by: string | null;
}

/** A record as the store holds it: plus its insertion sequence and commit time. */
export interface StoredRecord extends SplRecord {
  sequence: number;
  created_at: string;
}

const FIELDS = new Set(['id', 'parents', 'thread', 'actor', 'act', 'body', 'clock', 'data_type', 'judged_by']);
const RECORD_ID = /^[0-9a-f]{64}$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MAX_BODY_DEPTH = 64;

export function isRecordId(s: unknown): s is string {
  return typeof s === 'string' && RECORD_ID.test(s);
}

function invalid(field: string, message: string): SplError {
  return new SplError('INVALID_RECORD', `${field}: ${message}`, { field });
}

/**
 * Checks a client-supplied record and returns its normalised draft (parents sorted and de-duplicated,
 * defaults filled in). `where` prefixes field names, e.g. `records[3].`, so batch errors say which element.
 * An `id` may be supplied; it is checked against the content later, once the clock is known.
 */
export function validateRecord(input: unknown, where = ''): RecordDraft & { id?: string } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(where || 'record', 'must be a JSON object');
  }
  const r = input as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!FIELDS.has(k)) throw invalid(where + k, 'unknown field (a record has parents, thread, actor, act, body, clock, data_type, judged_by)');
  }

  const thread = r.thread;
  if (typeof thread !== 'string' || !isThreadId(thread)) {
    throw invalid(where + 'thread', 'must be a thread id: th_ followed by 64 lowercase hex, or a reserved name like th_engine_config');
  }
  const actor = r.actor;
  if (typeof actor !== 'string' || !isDid(actor)) {
    throw invalid(where + 'actor', 'must be a DID such as did:sync:user:alice, did:key:… or did:web:…');
  }
  const act = r.act;
  if (typeof act !== 'string' || !(ACTS as readonly string[]).includes(act)) {
    throw invalid(where + 'act', `must be one of ${ACTS.join(' ')}`);
  }

  const parents = parentsOf(r.parents, where);
  const body = bodyOf(r.body, where);
  const clock = clockOf(r.clock, where);
  const dataType = dataTypeOf(r.data_type, where);
  const judgedBy = judgedByOf(r.judged_by, where);

  const draft: RecordDraft & { id?: string } = {
    parents, thread, actor, act: act as Act, body, clock, data_type: dataType, judged_by: judgedBy,
  };
  if (r.id !== undefined && r.id !== null) {
    if (!isRecordId(r.id)) throw invalid(where + 'id', 'must be 64 lowercase hex (or omitted: the server computes it)');
    draft.id = r.id;
  }
  return draft;
}

// Each optional field: absent or null takes the default; anything else must be well-formed.

function parentsOf(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(where + 'parents', 'must be an array of record ids');
  v.forEach((p, i) => {
    if (!isRecordId(p)) throw invalid(`${where}parents[${i}]`, 'must be a record id (64 lowercase hex)');
  });
  return [...new Set(v as string[])].sort();
}

function bodyOf(v: unknown, where: string): Body {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(where + 'body', 'must be a JSON object');
  checkJsonValue(v, where + 'body', 0);
  return v as Body;
}

function clockOf(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw invalid(where + 'clock', 'must be an integer ≥ 0 (omit it to let the server assign the next one)');
  }
  return v;
}

function dataTypeOf(v: unknown, where: string): DataType {
  if (v === undefined || v === null) return 'SCALAR';
  if (typeof v !== 'string' || !(DATA_TYPES as readonly string[]).includes(v)) throw invalid(where + 'data_type', `must be one of ${DATA_TYPES.join(' ')}`);
  return v as DataType;
}

function judgedByOf(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v.length === 0 || v.length > 512) throw invalid(where + 'judged_by', 'must be a non-empty string (a record id or DID) or null');
  return v;
}

function checkJsonValue(v: unknown, path: string, depth: number): void {
  if (depth > MAX_BODY_DEPTH) throw invalid(path, `nests deeper than ${MAX_BODY_DEPTH} levels`);
  switch (typeof v) {
    case 'string':
      if (LONE_SURROGATE.test(v)) throw invalid(path, 'contains an unpaired UTF-16 surrogate, which is not valid Unicode');
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(v)) throw invalid(path, 'must be a finite number');
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) throw invalid(path, 'is an integer beyond ±2^53; send it as a string');
      return;
    case 'object':
      if (v === null) return;
      if (Array.isArray(v)) {
        v.forEach((x, i) => checkJsonValue(x, `${path}[${i}]`, depth + 1));
        return;
      }
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (LONE_SURROGATE.test(k)) throw invalid(path, 'has a key with an unpaired UTF-16 surrogate');
        checkJsonValue(x, `${path}.${k}`, depth + 1);
      }
      return;
    default:
      throw invalid(path, `holds a ${typeof v}, which JSON cannot carry`);
  }
}
