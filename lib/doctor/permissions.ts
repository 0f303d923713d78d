// Lockout risk: with enforcement on, the admin actor must still be allowed the admin resources — the same
// pre-flight spl config permissions-enable runs, over the store's engine config and trust.

import pino from 'pino';
import { trustFold } from '../engine/folds/trust.js';
import { toggleEnabled } from '../engine/folds/engine-config.js';
import { ADMIN_RESOURCES, Permissions, adminRuleCommand } from '../engine/permissions.js';
import { fail, ok, skip, type Check } from './check.js';

export const permissionsCheck: Check = {
  id: 'permissions',
  async run(ctx) {
    const view = await ctx.store();
    if (view?.state !== 'sound') return skip('the store cannot be read (see the store row)');
    const cfg = view.engineConfig;
    if (!toggleEnabled(cfg, 'permissions_enabled')) return ok('permission enforcement is off: no lockout is possible');
    const trust = view.trust ?? trustFold.init();
    const permissions = new Permissions(() => cfg, () => trust, pino({ enabled: false }), ctx.now);
    const actor = ctx.adminActor;
    const denied = permissions.preflight(actor);
    if (denied.length === 0) return ok(`permission enforcement is on and the admin ${actor} is allowed ${ADMIN_RESOURCES.join(', ')}`);
    const unlock = (await ctx.running()) ? 'spl stop; spl config permissions-unlock; spl serve' : 'spl config permissions-unlock; spl serve';
    return fail(
      `permission enforcement is on and the admin ${actor} would be denied ${denied.join(', ')}: locked out (permissions-disable gets 403); after unlocking, add an admin rule with: ${adminRuleCommand(actor)}`,
      unlock,
    );
  },
};
