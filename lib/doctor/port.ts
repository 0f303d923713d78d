// The configured TCP port: free, held by this home's instance, or held by another process (named by pid
// and command line) — which is a failure when this instance is down, since spl serve could not bind.

import { connect } from 'node:net';
import { isSplServe } from '../instance/pidfile.js';
import { fail, ok, skip, warn, type Check } from './check.js';
import { connectHost } from './probe.js';

export const portCheck: Check = {
  id: 'port',
  async run(ctx) {
    if (!ctx.config) return skip('config.toml does not load, so the port is unknown (see the config row)');
    const { host, port } = ctx.config;
    const bind = `${host}:${port}`;
    const holder = ctx.portHolder();
    const listening = holder !== undefined || (await accepts(host, port));
    const running = await ctx.running();
    const ourPid = ctx.pid.state === 'running' ? ctx.pid.pid : undefined;

    if (!listening) {
      if (running) {
        return warn(`this home's instance runs${ourPid ? ` (pid ${ourPid})` : ''} but nothing listens on ${bind}: it was started with another --port or host`, `spl doctor --port <the port it was started with>`);
      }
      return ok(`${bind} is free`);
    }
    if (holder && ourPid === holder.pid) return ok(`${bind} is held by this instance (pid ${holder.pid})`);
    if (ctx.isThisInstance(await ctx.tcpHealth())) {
      return ok(`${bind} is held by this instance (${ctx.identity().did}${holder ? `, pid ${holder.pid}` : ''})`);
    }

    const who = holder ? `pid ${holder.pid} (${holder.command})` : 'a process this user cannot see';
    const otherSpl = holder !== undefined && isSplServe(holder.pid);
    const what = `${bind} is held by ${who}${otherSpl ? ', an spl serve that is not this home\'s instance' : ''}`;
    const fix = holder
      ? `${otherSpl ? `if it is a stale spl serve: kill ${holder.pid}` : `stop pid ${holder.pid}`}; otherwise set port under [server] in ${ctx.paths.config} (or spl serve --port <free port>)`
      : `ss -tlnp | grep ${port}`;
    if (running) return warn(`${what}; this home's instance runs but does not own the port`, fix);
    return fail(`${what}; spl serve here would fail with "Address already in use: ${bind}"`, fix);
  },
};

/** True when something accepts a TCP connection on host:port (a listener this user cannot attribute). */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: connectHost(host), port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
