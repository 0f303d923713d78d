// The systemd unit, when systemd manages this host: spl.service (system, else user) loaded and active, what
// it reports (STATUS=), and whether systemd has had to restart it (a watchdog timeout or a crash).
// Skipped where there is no systemctl or no systemd (containers, macOS).

import { spawnSync } from 'node:child_process';
import { fail, ok, skip, warn, type Check } from './check.js';

const UNIT = 'spl.service';

interface UnitState {
  load: string;
  active: string;
  sub: string;
  status: string;
  restarts: number;
}

type Probe = { state: UnitState } | { unavailable: string };

function show(user: boolean): Probe {
  const args = [...(user ? ['--user'] : []), 'show', UNIT, '--property=LoadState,ActiveState,SubState,StatusText,NRestarts'];
  const r = spawnSync('systemctl', args, { encoding: 'utf8', timeout: 3000 });
  if (r.error) return { unavailable: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no systemctl on this host' : r.error.message };
  if (r.status !== 0) return { unavailable: (r.stderr.trim().split('\n')[0] ?? '') || `systemctl exited ${r.status}` };
  const props = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return {
    state: { load: props.LoadState ?? '', active: props.ActiveState ?? '', sub: props.SubState ?? '', status: props.StatusText ?? '', restarts: Number(props.NRestarts ?? 0) || 0 },
  };
}

export const systemdCheck: Check = {
  id: 'systemd',
  async run(ctx) {
    const system = show(false);
    if ('unavailable' in system) return skip(`systemd is not available (${system.unavailable})`);
    let user = false;
    let unit = system.state;
    if (unit.load === 'not-found') {
      const u = show(true);
      if ('state' in u && u.state.load !== 'not-found') {
        unit = u.state;
        user = true;
      }
    }
    if (unit.load === 'not-found') return skip(`no ${UNIT} unit is installed: this instance is not managed by systemd`);
    const sc = user ? 'systemctl --user' : 'systemctl';
    const jc = user ? 'journalctl --user -u spl' : 'journalctl -u spl';
    const journal = `${jc} -n 50 --no-pager`;
    const name = `${user ? 'user unit' : 'unit'} ${UNIT}`;
    if (unit.load !== 'loaded') return fail(`${name} is ${unit.load}`, `${sc} daemon-reload; ${sc} status spl`);
    switch (unit.active) {
      case 'active': {
        const said = unit.status ? `: ${unit.status}` : '';
        if (unit.restarts > 0) {
          return warn(
            `${name} is active (${unit.sub})${said}, but systemd has restarted it ${unit.restarts} time${unit.restarts === 1 ? '' : 's'} (a watchdog timeout or a crash)`,
            `${jc} -g 'Watchdog timeout|exited|ERROR' -n 20 --no-pager`,
          );
        }
        return ok(`${name} is active (${unit.sub})${said}`);
      }
      case 'failed':
        return fail(`${name} has failed (${unit.sub})`, `${journal}; ${sc} restart spl`);
      case 'inactive':
        if (await ctx.running()) return warn(`${name} is inactive, but an instance runs outside systemd`, `spl stop; ${sc} start spl`);
        return warn(`${name} is installed but inactive`, `${sc} start spl`);
      default:
        return warn(`${name} is ${unit.active} (${unit.sub})`, `${sc} status spl`);
    }
  },
};
