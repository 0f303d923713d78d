// The running instance of this home, as the commands that must know (stop, restart, permissions-unlock,
// backup restore) find it, with notes on what was passed over (a stale PID file, another home's port owner).

import { findInstance, type FoundInstance } from '../instance/control.js';
import type { InstanceInfo } from '../kernel/wire.js';
import type { CommandContext } from './context.js';

export async function runningInstance(ctx: CommandContext): Promise<{ found?: FoundInstance; notes: string[] }> {
  const client = ctx.client();
  return findInstance(ctx.paths, ctx.config.port, {
    info: async () => (await client.call<InstanceInfo>('GET', '/v1/instance')).body,
    via: client.target.socket ? 'socket' : 'port',
  });
}
