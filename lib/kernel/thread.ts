// Thread ids: th_ + 64 lowercase hex (minted in id.ts, with the other hashes), or a reserved literal name.

const MINTED = /^th_[0-9a-f]{64}$/;
const NAMED = /^th_[a-z0-9_]{1,64}$/;

export function isThreadId(s: string): boolean {
  return MINTED.test(s) || NAMED.test(s);
}
