// Failed bearer tokens over TCP, as the running instance counts them (GET /v1/instance over the socket, which
// is never throttled): a warn while a peer is locked out or when failures came recently, naming the peers and
// the log lines to read.

import { Client } from '../client/client.js';
import { shellQuote } from '../kernel/text.js';
import type { AuthTally } from '../kernel/wire.js';
import { ok, skip, warn, type Check } from './check.js';
import { formatAge, plural } from './format.js';
import { PROBE_TIMEOUT_MS } from './probe.js';

/** Failures this recent (with no lockout running) still warn. */
const RECENT_FAILURES_MS = 15 * 60_000;

export const authCheck: Check = {
  id: 'auth',
  async run(ctx) {
    if (!(await ctx.running())) return skip('the instance is not running');
    if (!(await ctx.socketHealth())?.answered) return skip(`the socket ${ctx.paths.socket} does not answer (see the socket row); the failed-token tally is asked over it`);
    let tally: AuthTally | undefined;
    try {
      const res = await new Client({ socket: ctx.paths.socket }, PROBE_TIMEOUT_MS).raw('GET', '/v1/instance');
      tally = res.status === 200 ? (res.body as { auth?: AuthTally } | undefined)?.auth : undefined;
      if (res.status !== 200) return skip(`GET /v1/instance over the socket answered HTTP ${res.status}`);
    } catch (err) {
      return skip(`GET /v1/instance over the socket failed: ${(err as Error).message}`);
    }
    if (!tally) return skip('the instance does not report failed bearer tokens (an older spl; spl restart runs the installed one)');
    const grep = `grep 'AUTH FAILED' ${shellQuote(ctx.paths.logFile)}`;
    const limits = `${tally.limits.max_failures} failures within ${tally.limits.window_secs}s lock a peer out`;
    const now = ctx.now();
    if (tally.locked_out.length > 0) {
      const peers = tally.locked_out.map((p) => `${p.peer} (${plural(p.failures, 'failure')}, ${plural(p.blocked, 'request')} refused, until ${p.until})`);
      return warn(
        `${plural(tally.locked_out.length, 'TCP peer')} locked out after failed bearer tokens: ${peers.join(', ')}; ${plural(tally.failures_total, 'failure')} since start (${limits}). A client with a wrong, revoked or mistyped token, or someone guessing`,
        `${grep} (a local client of yours: spl token list, then give it a valid SPL_TOKEN; the unix socket is never locked out)`,
      );
    }
    if (tally.failures_total === 0) return ok(`no failed bearer tokens over TCP since the instance started (${limits})`);
    const last = tally.last_failure_at ? Date.parse(tally.last_failure_at) : Number.NaN;
    const age = Number.isNaN(last) ? 'at an unknown time' : `${formatAge(now - last)} ago`;
    const from = tally.last_failure_peer ? ` from ${tally.last_failure_peer}` : '';
    const summary = `${plural(tally.failures_total, 'failed bearer token')} over TCP since start (${plural(tally.lockouts_total, 'lockout')}), the last ${age}${from}`;
    if (!Number.isNaN(last) && now - last < RECENT_FAILURES_MS) {
      const recent = tally.recent.length > 0 ? `; failing now: ${tally.recent.map((p) => `${p.peer} (${plural(p.failures, 'failure')})`).join(', ')}` : '';
      return warn(`${summary}${recent}; none locked out now (${limits})`, grep);
    }
    return ok(`${summary}; none in the last ${formatAge(RECENT_FAILURES_MS)}`);
  },
};
