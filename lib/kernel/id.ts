// Content ids: lowercase hex SHA-256 of the canonical JSON of the seven hashed fields (judged_by is not hashed).

import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import type { RecordDraft, SplRecord } from './record.js';
import { SplError } from './errors.js';

/** The seven fields that make up the id (judged_by is carried but not hashed). */
type HashedFields = Omit<SplRecord, 'id' | 'judged_by'>;

/** The exact bytes that are hashed; parents are sorted here too so an unsorted caller cannot fork the id. */
export function hashedBytes(r: HashedFields): string {
  return canonicalJson({
    act: r.act,
    actor: r.actor,
    body: r.body,
    clock: r.clock,
    data_type: r.data_type,
    parents: [...r.parents].sort(),
    thread: r.thread,
  });
}

export function recordId(r: HashedFields): string {
  return createHash('sha256').update(hashedBytes(r), 'utf8').digest('hex');
}

function sha256Hex(s: string | Uint8Array): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Completes a draft once its clock is known: computes the id and checks any id the client supplied. */
export function sealRecord(draft: RecordDraft & { id?: string }, clock: number, where = ''): SplRecord {
  const rec: SplRecord = {
    id: '',
    parents: draft.parents,
    thread: draft.thread,
    actor: draft.actor,
    act: draft.act,
    body: draft.body,
    clock,
    data_type: draft.data_type,
    judged_by: draft.judged_by,
  };
  rec.id = recordId(rec);
  if (draft.id !== undefined && draft.id !== rec.id) {
    throw new SplError('INVALID_RECORD', `${where}id: does not match the record's content (expected ${rec.id}); omit id to let the server compute it`, { field: where + 'id' });
  }
  return rec;
}

/** `did:sync:instance:<first 16 hex of sha256(raw Ed25519 public key)>` (SPEC §1b). */
export function instanceDid(rawPublicKey: Uint8Array): string {
  return `did:sync:instance:${sha256Hex(rawPublicKey).slice(0, 16)}`;
}

/** A new thread id: sha256 of actor + purpose + a random nonce; the nonce source is injectable for tests. */
export function mintThreadId(actor: string, purpose: string, nonce: Uint8Array = randomBytes(16)): string {
  return 'th_' + sha256Hex(`${actor}\n${purpose}\n${Buffer.from(nonce).toString('hex')}`);
}
