// Thread ids: th_ + 64 lowercase hex (minted), or a reserved literal name.

import { randomBytes } from 'node:crypto';
import { sha256Hex } from './id.js';

const MINTED = /^th_[0-9a-f]{64}$/;
const NAMED = /^th_[a-z0-9_]{1,64}$/;

export const RESERVED_THREADS = ['th_engine_config', 'th_actor_registry', 'th_instance_registry', 'th_fleet_control'] as const;

export function isThreadId(s: string): boolean {
  return MINTED.test(s) || NAMED.test(s);
}

/** sha256 of actor + purpose + a random nonce; the nonce source is injectable for tests. */
export function mintThreadId(actor: string, purpose: string, nonce: Uint8Array = randomBytes(16)): string {
  return 'th_' + sha256Hex(`${actor}\n${purpose}\n${Buffer.from(nonce).toString('hex')}`);
}
