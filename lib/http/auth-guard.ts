// Failed bearer tokens, per TCP peer: repeated failures lock the peer out for a while (429 RATE_LIMITED, the
// token not even looked at), the lockout doubling on each repeat up to a cap. Each burst is one WARN line
// (`AUTH FAILED peer=… count=…`) when the peer is locked out, a summary at most once per interval while it goes
// on, and a closing line when it ends; never a line per request, never any part of the presented secret.
//
// The peer is the TCP remote address only: X-Forwarded-For and the like are whatever the client says.
// The table of peers is bounded: past `maxPeers` the least recently failing peer is forgotten, so a client
// cycling through source addresses costs a fixed amount of memory.

import type { Logger } from 'pino';
import { plural } from '../kernel/text.js';
import type { AuthTally, LockedPeer, RecentPeer } from '../kernel/wire.js';

export interface AuthGuardOptions {
  now?: () => number;
  /** Where the AUTH FAILED lines go (target syncropel_http::auth is set here). */
  logger?: Logger;
  /** Failures within `windowMs` that lock a peer out. */
  maxFailures?: number;
  windowMs?: number;
  /** The first lockout; each further one doubles, up to `maxLockoutMs`. */
  lockoutMs?: number;
  maxLockoutMs?: number;
  /** At most one summary line per peer per interval while a burst goes on. */
  summaryIntervalMs?: number;
  /** Peers tracked at once. */
  maxPeers?: number;
  /** How often a timer closes finished bursts (their last line); none when unset (call tick()). */
  tickMs?: number;
}

const AUTH_GUARD_DEFAULTS = {
  maxFailures: 10,
  windowMs: 60_000,
  lockoutMs: 60_000,
  maxLockoutMs: 15 * 60_000,
  summaryIntervalMs: 60_000,
  maxPeers: 4096,
} as const;

type FailureReason = 'unknown_token' | 'malformed_header';

export type Verdict = { locked: false } | { locked: true; retryAfterSecs: number; until: number };

interface Peer {
  /** Times of the latest failures counted towards the next lockout (at most maxFailures, oldest first). */
  recentFailures: number[];
  /** Failures and 429s in the current burst (since its last line, and in all). */
  burstFailures: number;
  burstBlocked: number;
  burstStart: number;
  lastFailure: number;
  lockedAt: number;
  lockedUntil: number;
  strikes: number;
  /** Whether a line has been written for the current burst, and when the last one was. */
  logged: boolean;
  lastLine: number;
  loggedFailures: number;
  loggedBlocked: number;
}

/** The address a socket's peer is known by: IPv4-mapped IPv6 (::ffff:127.0.0.1) is written as IPv4. */
export function peerAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

export class AuthGuard {
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly maxLockoutMs: number;
  private readonly summaryIntervalMs: number;
  private readonly maxPeers: number;
  /** Insertion order is recency order: every failure moves its peer to the end, the first is evicted. */
  private readonly peers = new Map<string, Peer>();
  private readonly timer: NodeJS.Timeout | undefined;
  private failuresTotal = 0;
  private blockedTotal = 0;
  private lockoutsTotal = 0;
  private lastFailureAt: number | undefined;
  private lastFailurePeer: string | undefined;
  private forgotten = 0;
  private forgottenLogged = 0;

  constructor(o: AuthGuardOptions = {}) {
    this.now = o.now ?? Date.now;
    this.log = o.logger?.child({ target: 'syncropel_http::auth' });
    this.maxFailures = o.maxFailures ?? AUTH_GUARD_DEFAULTS.maxFailures;
    this.windowMs = o.windowMs ?? AUTH_GUARD_DEFAULTS.windowMs;
    this.lockoutMs = o.lockoutMs ?? AUTH_GUARD_DEFAULTS.lockoutMs;
    this.maxLockoutMs = Math.max(this.lockoutMs, o.maxLockoutMs ?? AUTH_GUARD_DEFAULTS.maxLockoutMs);
    this.summaryIntervalMs = o.summaryIntervalMs ?? AUTH_GUARD_DEFAULTS.summaryIntervalMs;
    this.maxPeers = Math.max(1, o.maxPeers ?? AUTH_GUARD_DEFAULTS.maxPeers);
    if (o.tickMs !== undefined) {
      this.timer = setInterval(() => this.tick(), o.tickMs);
      this.timer.unref();
    }
  }

  /** Whether a request from `peer` carrying credentials is refused unseen; a refusal is counted. */
  check(peer: string): Verdict {
    const p = this.peers.get(peer);
    const t = this.now();
    if (!p || t >= p.lockedUntil) return { locked: false };
    p.burstBlocked += 1;
    this.blockedTotal += 1;
    this.maybeSummary(peer, p, t);
    return { locked: true, retryAfterSecs: Math.max(1, Math.ceil((p.lockedUntil - t) / 1000)), until: p.lockedUntil };
  }

  /** A refused credential from `peer`; returns the lockout it starts, if it starts one. */
  fail(peer: string, reason: FailureReason): Verdict {
    const t = this.now();
    this.failuresTotal += 1;
    this.lastFailureAt = t;
    this.lastFailurePeer = peer;
    let p = this.peers.get(peer);
    if (p) {
      this.peers.delete(peer);
      // A burst that went quiet (no failure for a window, no lockout running) was closed by tick(); if tick()
      // has not run since, close it now so its line comes before the new burst's.
      if (this.burstOver(p, t)) this.endBurst(peer, p);
    } else {
      if (this.peers.size >= this.maxPeers) this.evictOne();
      p = {
        recentFailures: [], burstFailures: 0, burstBlocked: 0, burstStart: t, lastFailure: t,
        lockedAt: 0, lockedUntil: 0, strikes: 0, logged: false, lastLine: 0, loggedFailures: 0, loggedBlocked: 0,
      };
    }
    this.peers.set(peer, p);
    if (p.burstFailures === 0 && p.burstBlocked === 0) p.burstStart = t;
    p.burstFailures += 1;
    p.lastFailure = t;
    // A sliding window: the last maxFailures failures, locked out when the oldest of them is within windowMs.
    p.recentFailures.push(t);
    if (p.recentFailures.length > this.maxFailures) p.recentFailures.shift();
    if (t < p.lockedUntil) {
      // Only reachable when a caller verified a token despite the lockout; it does not extend it.
      this.maybeSummary(peer, p, t);
      return { locked: true, retryAfterSecs: Math.max(1, Math.ceil((p.lockedUntil - t) / 1000)), until: p.lockedUntil };
    }
    if (p.recentFailures.length < this.maxFailures || t - p.recentFailures[0]! >= this.windowMs) {
      this.maybeSummary(peer, p, t);
      return { locked: false };
    }
    const counted = p.recentFailures.length;
    p.strikes += 1;
    const duration = Math.min(this.maxLockoutMs, this.lockoutMs * 2 ** Math.min(p.strikes - 1, 30));
    p.lockedAt = t;
    p.lockedUntil = t + duration;
    p.recentFailures = [];
    this.lockoutsTotal += 1;
    this.line(peer, p, t, `locked out for ${secs(duration)}s until ${iso(p.lockedUntil)} after ${counted} failures within ${secs(this.windowMs)}s (${reason}${p.strikes > 1 ? `; lockout ${p.strikes} in a row, doubled` : ''}); requests from it that carry credentials get 429 until then`, { reason, locked_until: iso(p.lockedUntil), lockout_secs: secs(duration), strikes: p.strikes });
    return { locked: true, retryAfterSecs: Math.max(1, Math.ceil(duration / 1000)), until: p.lockedUntil };
  }

  /**
   * Closes bursts that are over (lockout expired and no failure for a window): their closing line is written
   * and the peer is kept only while its strikes still count (a repeat within maxLockoutMs doubles the lockout).
   * Also writes the due summaries of bursts still going on.
   */
  tick(): void {
    const t = this.now();
    for (const [peer, p] of this.peers) {
      if (this.burstOver(p, t)) this.endBurst(peer, p);
      else this.maybeSummary(peer, p, t);
      if (p.burstFailures === 0 && p.burstBlocked === 0 && t >= p.lockedUntil && t - p.lastFailure >= this.forgetAfter(p)) this.peers.delete(peer);
    }
    if (this.forgotten > this.forgottenLogged) {
      this.log?.warn({ peers_forgotten: this.forgotten - this.forgottenLogged, max_peers: this.maxPeers },
        `AUTH FAILED from more than ${this.maxPeers} peers: ${this.forgotten - this.forgottenLogged} least recent peers forgotten (their counts start again)`);
      this.forgottenLogged = this.forgotten;
    }
  }

  tally(): AuthTally {
    const t = this.now();
    const locked: LockedPeer[] = [];
    const recent: RecentPeer[] = [];
    for (const [peer, p] of this.peers) {
      if (t < p.lockedUntil) {
        locked.push({ peer, failures: p.burstFailures, blocked: p.burstBlocked, locked_at: iso(p.lockedAt), until: iso(p.lockedUntil), strikes: p.strikes });
      } else if (p.burstFailures > 0 && t - p.lastFailure < this.windowMs) {
        recent.push({ peer, failures: p.burstFailures, last_at: iso(p.lastFailure) });
      }
    }
    return {
      failures_total: this.failuresTotal,
      blocked_total: this.blockedTotal,
      lockouts_total: this.lockoutsTotal,
      last_failure_at: this.lastFailureAt === undefined ? null : iso(this.lastFailureAt),
      last_failure_peer: this.lastFailurePeer ?? null,
      locked_out: locked.reverse(),
      recent: recent.reverse(),
      peers_forgotten: this.forgotten,
      limits: { max_failures: this.maxFailures, window_secs: secs(this.windowMs), lockout_secs: secs(this.lockoutMs), max_lockout_secs: secs(this.maxLockoutMs) },
    };
  }

  /** Peers tracked now (bounded by maxPeers). */
  get size(): number {
    return this.peers.size;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private burstOver(p: Peer, t: number): boolean {
    return (p.burstFailures > 0 || p.burstBlocked > 0) && t >= p.lockedUntil && t - Math.max(p.lastFailure, p.lockedUntil) >= this.windowMs;
  }

  /** Strikes are remembered for maxLockoutMs after the last failure; then the peer starts afresh. */
  private forgetAfter(p: Peer): number {
    return p.strikes > 0 ? this.maxLockoutMs : this.windowMs;
  }

  private endBurst(peer: string, p: Peer): void {
    const count = p.burstFailures;
    if (count > 0 || p.burstBlocked > 0) {
      const over = `${secs(p.lastFailure - p.burstStart)}s`;
      this.line(peer, p, this.now(), `burst over: ${plural(count, 'failure')}${p.burstBlocked ? ` and ${plural(p.burstBlocked, 'request')} refused while locked out` : ''} from ${iso(p.burstStart)} to ${iso(p.lastFailure)} (${over})${p.strikes === 0 ? `, below the lockout threshold of ${this.maxFailures} within ${secs(this.windowMs)}s` : ''}`, { ended: true, first_at: iso(p.burstStart), last_at: iso(p.lastFailure) });
    }
    p.burstFailures = 0;
    p.burstBlocked = 0;
    p.recentFailures = [];
    p.logged = false;
    p.loggedFailures = 0;
    p.loggedBlocked = 0;
  }

  /** A summary of a burst still going on, once its first line is written, at most once per interval and only if it moved. */
  private maybeSummary(peer: string, p: Peer, t: number): void {
    if (!p.logged || t - p.lastLine < this.summaryIntervalMs) return;
    if (p.burstFailures === p.loggedFailures && p.burstBlocked === p.loggedBlocked) return;
    const state = t < p.lockedUntil ? `locked out until ${iso(p.lockedUntil)}` : `the lockout ended at ${iso(p.lockedUntil)}`;
    this.line(peer, p, t, `burst goes on: ${plural(p.burstFailures - p.loggedFailures, 'more failure')} and ${plural(p.burstBlocked - p.loggedBlocked, 'more request')} refused since the last line; ${state}`, {});
  }

  private line(peer: string, p: Peer, t: number, what: string, fields: Record<string, unknown>): void {
    p.logged = true;
    p.lastLine = t;
    p.loggedFailures = p.burstFailures;
    p.loggedBlocked = p.burstBlocked;
    this.log?.warn(
      { peer, count: p.burstFailures, blocked: p.burstBlocked, ...fields },
      `AUTH FAILED peer=${peer} count=${p.burstFailures} blocked=${p.burstBlocked}: ${what}`,
    );
  }

  private evictOne(): void {
    const first = this.peers.keys().next();
    if (first.done) return;
    this.peers.delete(first.value);
    this.forgotten += 1;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function secs(ms: number): number {
  return Math.round(ms / 1000);
}
