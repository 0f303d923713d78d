// API tokens for TCP clients: `spl_` + 32 random bytes, shown once; only their SHA-256 is kept, in
// secrets/api-tokens.json (0600) — outside the store, so never in a backup.

import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { SplError } from '../kernel/errors.js';
import type { TokenInfo } from '../kernel/wire.js';

interface StoredToken extends TokenInfo {
  sha256: string;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export class TokenStore {
  private tokens: StoredToken[] = [];
  private byHash = new Map<string, StoredToken>();

  constructor(readonly file: string, private readonly now: () => number = Date.now) {
    this.load();
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new SplError('INVALID_CONFIG', `${this.file} is not valid JSON: ${(err as Error).message}`, { fix: `move ${this.file} aside (existing tokens stop working) and mint new ones with spl token create` });
    }
    if (!Array.isArray(parsed)) throw new SplError('INVALID_CONFIG', `${this.file} must hold a JSON array of tokens`);
    this.tokens = parsed as StoredToken[];
    this.index();
  }

  private index(): void {
    this.byHash = new Map(this.tokens.filter((t) => t.revoked_at === null).map((t) => [t.sha256, t]));
  }

  private save(): void {
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.tokens, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Mints a token; the secret is returned once and never stored. */
  create(name: string, actor: string, allowedActors: readonly string[] = []): { secret: string; info: TokenInfo } {
    if (!NAME.test(name)) throw new SplError('INVALID_REQUEST', `token name ${JSON.stringify(name)} must be 1–64 of A-Z a-z 0-9 . _ -`, { field: 'name' });
    if (this.tokens.some((t) => t.name === name && t.revoked_at === null)) {
      throw new SplError('ALREADY_EXISTS', `a token named ${name} already exists`, { fix: `spl token revoke ${name}, or pick another --name` });
    }
    const secret = 'spl_' + randomBytes(32).toString('base64url');
    const allowed = [...new Set(allowedActors)].filter((d) => d !== actor);
    const stored: StoredToken = { name, actor, allowed_actors: allowed, created_at: new Date(this.now()).toISOString(), revoked_at: null, sha256: hashToken(secret) };
    this.tokens.push(stored);
    this.save();
    this.index();
    return { secret, info: strip(stored) };
  }

  revoke(name: string): TokenInfo {
    const t = this.tokens.find((x) => x.name === name && x.revoked_at === null);
    if (!t) throw new SplError('NOT_FOUND', `no active token named ${name}`, { fix: 'spl token list' });
    t.revoked_at = new Date(this.now()).toISOString();
    this.save();
    this.index();
    return strip(t);
  }

  list(): TokenInfo[] {
    return this.tokens.map(strip);
  }

  /** The token's identity, or undefined for an unknown or revoked secret. */
  verify(secret: string): TokenInfo | undefined {
    const t = this.byHash.get(hashToken(secret));
    return t ? strip(t) : undefined;
  }
}

function strip(t: StoredToken): TokenInfo {
  // Tokens minted before allowed actors existed have none.
  return { name: t.name, actor: t.actor, allowed_actors: t.allowed_actors ?? [], created_at: t.created_at, revoked_at: t.revoked_at };
}
