// The instance identity: an Ed25519 key in keys/instance.key (0600) and the DID derived from it.

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { instanceDid } from '../kernel/id.js';
import { SplError } from '../kernel/errors.js';

interface InstanceIdentity {
  did: string;
  privateKey: KeyObject;
  /** true when this call created the key. */
  created: boolean;
}

export function rawPublicKey(privateKey: KeyObject): Buffer {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

export function loadIdentity(keyFile: string): InstanceIdentity | undefined {
  if (!existsSync(keyFile)) return undefined;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(keyFile));
  } catch (err) {
    throw new SplError('START_FAILED', `${keyFile} is not a readable Ed25519 private key: ${(err as Error).message}`, {
      fix: `move ${keyFile} aside to mint a new identity (the instance DID will change)`,
    });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new SplError('START_FAILED', `${keyFile} holds a ${privateKey.asymmetricKeyType} key; the instance key must be Ed25519`);
  }
  if ((statSync(keyFile).mode & 0o077) !== 0) chmodSync(keyFile, 0o600);
  return { did: instanceDid(rawPublicKey(privateKey)), privateKey, created: false };
}

/** Loads the instance key, or creates it (written to a temporary file with mode 0600, then renamed). */
export function ensureIdentity(keyFile: string): InstanceIdentity {
  const existing = loadIdentity(keyFile);
  if (existing) return existing;
  const { privateKey } = generateKeyPairSync('ed25519');
  const tmp = `${keyFile}.tmp-${process.pid}`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  renameSync(tmp, keyFile);
  return { did: instanceDid(rawPublicKey(privateKey)), privateKey, created: true };
}
