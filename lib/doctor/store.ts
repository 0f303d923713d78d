// The store, opened read-only: present, passes quick_check, a schema this binary understands, and how
// much it holds. A corrupt store gets the runbook's recovery steps; doctor itself never touches the file.

import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { inspectMissingStore, missingStoreError } from '../instance/store-guard.js';
import { corruptStoreError, readonlyStoreError, writeProblem } from '../store/open.js';
import { SCHEMA_VERSION } from '../store/schema.js';
import { fail, ok, skip, warn, type Check } from './check.js';
import { formatBytes, plural } from './format.js';
import { chmodFix, describeProblems, looserThan, shellQuote, type ModeProblem } from './modes.js';

export const storeCheck: Check = {
  id: 'store',
  async run(ctx) {
    const view = await ctx.store();
    if (!view) return skip('config.toml does not load, so the store path is unknown (see the config row)');
    const path = view.path;
    const name = dirname(path) === ctx.paths.home ? basename(path) : path;
    switch (view.state) {
      case 'missing': {
        // The same verdict spl serve reaches: a home that had data is refused an empty start.
        const missing = await inspectMissingStore(ctx.paths, path, ctx.config?.backup.dest, ctx.env);
        if (missing && missing.evidence.length > 0) {
          const e = missingStoreError(missing, ctx.now());
          return fail(`${e.message}; spl serve refuses to start`, e.fix);
        }
        return fail(`no store at ${path}: this instance has not been initialised`, 'spl init');
      }
      case 'corrupt':
        return fail(`${path} is corrupt (${view.detail}); spl serve refuses it and will not back it up`, corruptStoreError(path, view.detail).fix);
      case 'unreadable': {
        // A WAL store on a read-only filesystem cannot even be read (SQLite needs its -shm): say why, as spl serve does.
        const readonly = writeProblem(path);
        if (readonly) {
          const e = readonlyStoreError(path, readonly.reason, readonly.fix);
          return fail(`${e.message} (reading it fails too: ${view.detail})`, e.fix);
        }
        return fail(`cannot read ${path}: ${view.detail}`, `ls -l ${shellQuote(path)} (run spl doctor as the user the instance runs as)`);
      }
      case 'too-new':
        return fail(
          `${path} has schema version ${view.schemaVersion}, but this spl understands up to ${SCHEMA_VERSION}: it was written by a newer release, and spl serve refuses it`,
          'install the newer spl release again (spl version shows what is installed), or restore a backup taken before the upgrade',
        );
      case 'sound': {
        const schema = view.schemaVersion < SCHEMA_VERSION ? `schema ${view.schemaVersion} (spl serve migrates it to ${SCHEMA_VERSION})` : `schema ${view.schemaVersion}`;
        const wal = sizeOf(`${path}-wal`);
        const size = `${formatBytes(view.bytes)}${wal ? ` + ${formatBytes(wal)} WAL` : ''}`;
        const summary = `${name}: quick_check ok, ${schema}, ${plural(view.records, 'record')}, ${plural(view.threads, 'thread')}, ${size}`;
        // spl serve refuses a store it cannot write (SQLite would open it read-only and fail every append).
        const readonly = writeProblem(path);
        if (readonly) {
          const e = readonlyStoreError(path, readonly.reason, readonly.fix);
          return fail(`${summary}; but ${e.message}`, e.fix);
        }
        const loose = [path, `${path}-wal`, `${path}-shm`].map((f) => looserThan(f, 0o600)).filter((m): m is ModeProblem => m !== undefined);
        if (loose.length > 0) return warn(`${summary}; but ${describeProblems(loose)}`, chmodFix(loose));
        const did = ctx.identity().did;
        if (view.instanceDid !== undefined && did !== undefined && view.instanceDid !== did) {
          return warn(`${summary}; but it was created by ${view.instanceDid} and this home's key is ${did} (a store copied from another instance?)`);
        }
        return ok(summary);
      }
    }
  },
};

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
