// Trust (SPEC §4): per (judged actor, domain), the 95 % Wilson lower bound over accept/reject verdicts
// in KNOW records, each weighted by age with a 90-day half-life. Feeds `spl trust` and GET /v1/trust.

import type { StoredRecord } from '../../kernel/record.js';
import { isDid } from '../../kernel/did.js';
import type { Fold } from '../fold.js';

const TRUST_HALF_LIFE_DAYS = 90;
const TRUST_Z = 1.96;
const DAY_MS = 86_400_000;
const HALF_LIFE_MS = TRUST_HALF_LIFE_DAYS * DAY_MS;

/**
 * The evidence about one actor in one domain, independent of evaluation time.
 *
 * Weights are kept relative to `refMs`, the newest verdict time seen for this pair: the weighted sums
 * are Σ 0.5^((refMs − tᵢ)/halfLife), the decayed counts as they stood at `refMs`. At any later `now`
 * they are scaled by 0.5^((now − refMs)/halfLife). Rebasing to the newest verdict (rather than a fixed
 * epoch) keeps every stored term in (0, 1] and each sum ≤ the raw count, so nothing can overflow however
 * far apart the timestamps are; a verdict so old that its term underflows to 0 weighs < 2^-1074 anyway.
 * This keeps the state O(1) per pair instead of one entry per verdict.
 */
interface TrustEntry {
  actor: string;
  domain: string;
  /** Raw (undecayed) accept count. */
  success: number;
  /** Raw (undecayed) accept + reject count. */
  total: number;
  /** Newest verdict time for this pair (ms since the Unix epoch); the weights below are as of this time. */
  refMs: number;
  /** Decayed accept weight as of `refMs`. */
  successWeight: number;
  /** Decayed accept + reject weight as of `refMs`. */
  totalWeight: number;
}

export interface TrustState {
  /** judged actor → domain → evidence. Nested maps so no separator character can make two keys collide. */
  entries: Map<string, Map<string, TrustEntry>>;
  /** KNOW records accepted as evidence. */
  verdicts: number;
}

export interface TrustRow {
  actor: string;
  domain: string;
  success: number;
  total: number;
  trust: number;
}

/** The decay factor for a span of `ms` milliseconds: 0.5^(ms / halfLife). */
function decay(ms: number): number {
  return Math.pow(2, -ms / HALF_LIFE_MS);
}

/** The verdict this record carries as trust evidence, or null when it is not evidence. */
function evidenceOf(r: StoredRecord): { judged: string; domain: string; accept: boolean; atMs: number } | null {
  if (r.act !== 'KNOW') return null;
  const { verdict, domain, judged_by: judged } = r.body;
  if (verdict !== 'accept' && verdict !== 'reject') return null;
  // An empty domain would be a blank DOMAIN column that no `--domain` flag can name.
  if (typeof domain !== 'string' || domain === '') return null;
  // body.judged_by names the judged actor; the envelope's judged_by is a record pointer and not used here.
  // Only a DID can be an actor, so anything else could never match a real actor's row.
  if (typeof judged !== 'string' || !isDid(judged)) return null;
  // Self-judgement never counts.
  if (judged === r.actor) return null;
  // Stored records always have a valid created_at; should one not, its age is unknown, so it cannot be weighed.
  const atMs = Date.parse(r.created_at);
  if (!Number.isFinite(atMs)) return null;
  return { judged, domain, accept: verdict === 'accept', atMs };
}

export const trustFold: Fold<TrustState> = {
  name: 'trust',
  init: () => ({ entries: new Map(), verdicts: 0 }),
  apply(state, r: StoredRecord) {
    const ev = evidenceOf(r);
    if (ev === null) return state;
    let byDomain = state.entries.get(ev.judged);
    if (byDomain === undefined) {
      byDomain = new Map();
      state.entries.set(ev.judged, byDomain);
    }
    let e = byDomain.get(ev.domain);
    if (e === undefined) {
      e = { actor: ev.judged, domain: ev.domain, success: 0, total: 0, refMs: ev.atMs, successWeight: 0, totalWeight: 0 };
      byDomain.set(ev.domain, e);
    }
    if (ev.atMs > e.refMs) {
      // A newer verdict moves the reference forward: age what is already there to the new reference.
      const f = decay(ev.atMs - e.refMs);
      e.successWeight *= f;
      e.totalWeight *= f;
      e.refMs = ev.atMs;
    }
    // Store order need not be time order (e.g. a clock stepped back), so an older verdict is aged to refMs.
    const w = decay(e.refMs - ev.atMs);
    e.total++;
    e.totalWeight += w;
    if (ev.accept) {
      e.success++;
      e.successWeight += w;
    }
    state.verdicts++;
    return state;
  },
};

/**
 * The Wilson score lower bound for `successWeight` successes out of `totalWeight` trials (weights may be
 * fractional). 0 when there are no trials.
 *
 * Textbook form, with n = totalWeight and p = successWeight / n:
 *   (p + z²/2n − z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)
 * Computed here in the algebraically equal form (s = successWeight)
 *   (s²/n) / (s + z²/2 + z·√(s(n−s)/n + z²/4))
 * (multiply the textbook numerator by its conjugate), which has no cancellation: it is exactly 0 at s = 0,
 * never negative, and stays finite for tiny n where z²/n would overflow.
 */
export function wilsonLowerBound(successWeight: number, totalWeight: number, z = TRUST_Z): number {
  if (!Number.isFinite(successWeight) || !Number.isFinite(totalWeight) || successWeight < 0 || totalWeight < 0) {
    throw new RangeError(`wilsonLowerBound: weights must be finite and ≥ 0 (got ${successWeight} of ${totalWeight})`);
  }
  if (totalWeight === 0) return 0;
  // Allow for rounding in callers' sums, but not for a genuinely larger success count.
  if (successWeight > totalWeight * (1 + 1e-9)) {
    throw new RangeError(`wilsonLowerBound: successes (${successWeight}) exceed the total (${totalWeight})`);
  }
  const n = totalWeight;
  const s = Math.min(successWeight, n);
  const z2 = z * z;
  return (s * s) / n / (s + z2 / 2 + z * Math.sqrt((s * (n - s)) / n + z2 / 4));
}

/**
 * Decayed weights of one entry at `now`. An evaluation time before the newest verdict (a clock stepped
 * back, or a caller asking about the past) is treated as that verdict's time: ages are never negative,
 * so no verdict ever weighs more than 1 and the weighted n never exceeds the raw count.
 */
function weightsAt(e: TrustEntry, now: number): { s: number; n: number } {
  const f = now > e.refMs ? decay(now - e.refMs) : 1;
  return { s: e.successWeight * f, n: e.totalWeight * f };
}

function scoreOf(e: TrustEntry, now: number): number {
  const { s, n } = weightsAt(e, now);
  return wilsonLowerBound(s, n);
}

/** Trust in `actor` for `domain` at time `now` (ms since the Unix epoch); 0 without evidence. */
export function trustScore(state: TrustState, actor: string, domain: string, now: number): number {
  const e = state.entries.get(actor)?.get(domain);
  return e === undefined ? 0 : scoreOf(e, now);
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every (actor, domain) with evidence, scored at `now`, sorted by actor then domain (code-point order). */
export function trustTable(state: TrustState, now: number): TrustRow[] {
  const rows: TrustRow[] = [];
  for (const byDomain of state.entries.values()) {
    for (const e of byDomain.values()) {
      rows.push({ actor: e.actor, domain: e.domain, success: e.success, total: e.total, trust: scoreOf(e, now) });
    }
  }
  return rows.sort((a, b) => byCodePoint(a.actor, b.actor) || byCodePoint(a.domain, b.domain));
}
