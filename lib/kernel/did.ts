// DIDs: the actor names the record log accepts. (The instance DID, a hash of its public key, is minted in id.ts
// with the other hashes: this module stays free of crypto, which every CLI call would otherwise load.)

const SYNC_DID = /^did:sync:(user|agent|system|instance):[A-Za-z0-9._:%-]{1,128}$/;
const KEY_DID = /^did:key:z[1-9A-HJ-NP-Za-km-z]{16,128}$/;
const WEB_DID = /^did:web:[A-Za-z0-9.%:_-]{1,253}$/;

export function isDid(s: string): boolean {
  return SYNC_DID.test(s) || KEY_DID.test(s) || WEB_DID.test(s);
}

/** A label safe inside a did:sync DID: lowercase, unsafe characters replaced. */
function didLabel(s: string): string {
  const label = s.toLowerCase().replace(/[^a-z0-9._-]/g, '-').slice(0, 64);
  return label.length > 0 ? label : 'unknown';
}

export function userDid(osUser: string): string {
  return `did:sync:user:${didLabel(osUser)}`;
}
