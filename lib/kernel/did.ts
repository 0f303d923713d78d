// DIDs: the actor names the record log accepts, and the instance DID derived from its public key.

import { sha256Hex } from './id.js';

const SYNC_DID = /^did:sync:(user|agent|system|instance):[A-Za-z0-9._:%-]{1,128}$/;
const KEY_DID = /^did:key:z[1-9A-HJ-NP-Za-km-z]{16,128}$/;
const WEB_DID = /^did:web:[A-Za-z0-9.%:_-]{1,253}$/;

export function isDid(s: string): boolean {
  return SYNC_DID.test(s) || KEY_DID.test(s) || WEB_DID.test(s);
}

/** A label safe inside a did:sync DID: lowercase, unsafe characters replaced. */
export function didLabel(s: string): string {
  const label = s.toLowerCase().replace(/[^a-z0-9._-]/g, '-').slice(0, 64);
  return label.length > 0 ? label : 'unknown';
}

export function userDid(osUser: string): string {
  return `did:sync:user:${didLabel(osUser)}`;
}

/** `did:sync:instance:<first 16 hex of sha256(raw Ed25519 public key)>` (SPEC §1b). */
export function instanceDid(rawPublicKey: Uint8Array): string {
  return `did:sync:instance:${sha256Hex(rawPublicKey).slice(0, 16)}`;
}
