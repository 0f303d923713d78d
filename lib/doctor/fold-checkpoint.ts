// The fold checkpoint beside the store (hub.db.folds): whether the next start can load it and replay only the
// records after it, or will rebuild every fold from the whole store, and why. Read-only, like every check.

import { basename, dirname } from 'node:path';
import { readCheckpointFor } from '../engine/engine.js';
import { foldCheckpointPath } from '../instance/fold-checkpoints.js';
import { INSTANCE_FOLDS } from '../instance/folds.js';
import { splVersion } from '../instance/version.js';
import { formatAge, plural } from './format.js';
import { ok, skip, warn, type Check } from './check.js';

export const foldCheckpointCheck: Check = {
  id: 'folds',
  async run(ctx) {
    const view = await ctx.store();
    if (!view || view.state !== 'sound') return skip('the store is not readable (see the store row)');
    const path = foldCheckpointPath(view.path);
    const name = dirname(path) === ctx.paths.home ? basename(path) : path;
    const rebuild = `the next start rebuilds every fold from all ${plural(view.records, 'record')}`;
    const got = readCheckpointFor({ path, code: splVersion() }, INSTANCE_FOLDS); // what spl serve would load
    if (got === undefined) {
      return ok(`no fold checkpoint yet: ${rebuild}; spl serve writes ${name} at shutdown and while serving (every 50,000 records or 15 minutes)`);
    }
    if (!got.ok) {
      if (got.damaged) return warn(`${name} is damaged (${got.reason}): ${rebuild} and logs a WARN; a new checkpoint replaces it`, `nothing to repair; to stop the WARN now: rm ${path}`);
      return ok(`${name} is not for this binary (${got.reason}): ${rebuild}, then writes a new one`);
    }
    const h = got.header;
    const age = formatAge(ctx.now() - Date.parse(h.written_at));
    if (h.sequence > view.records) {
      return ok(`${name} covers ${plural(h.sequence, 'record')}, more than the store's ${view.records} (a restored backup?): ${rebuild}`);
    }
    const tail = view.records - h.sequence;
    return ok(`${name}: covers ${h.sequence} of ${plural(view.records, 'record')}, written ${age} ago; the next start replays ${plural(tail, 'record')}`);
  },
};
