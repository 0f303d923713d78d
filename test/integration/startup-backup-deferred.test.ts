// The startup backup of a large store is copied after READY, in-process against a real store and real listeners
// (the size threshold lowered to 0 so a small store takes that path): the copy holds the store exactly as the
// instance found it, whatever it commits meanwhile; a shutdown during the copy stops it cleanly.

import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateRecord } from '../../lib/kernel/record.js';
import { loadInstanceConfig } from '../../lib/instance/config-file.js';
import { homePaths } from '../../lib/instance/home.js';
import { startInstance, type RunningInstance } from '../../lib/instance/instance.js';
import { createLogger } from '../../lib/instance/logger.js';
import { startupBackupDir } from '../../lib/instance/backup-paths.js';
import { inspectStoreFile } from '../../lib/store/inspect.js';
import { makeHome, type Home } from '../helpers/spl.js';

const ADMIN = 'did:sync:user:admin';
const THREAD = 'th_' + 'b'.repeat(64);
const records = (from: number, n: number) => Array.from({ length: n }, (_, i) => validateRecord({ thread: THREAD, actor: ADMIN, act: 'DO', body: { n: from + i } }));

async function start(h: Home, deferAbove?: number): Promise<{ instance: RunningInstance; close: () => void }> {
  const paths = homePaths(h.home);
  mkdirSync(h.home, { recursive: true, mode: 0o700 });
  const config = loadInstanceConfig(paths, h.env, { port: h.port });
  const logging = createLogger({ file: paths.logFile, level: 'info' });
  const instance = await startInstance({ paths, config, logger: logging.root, adminActor: ADMIN, env: h.env, insecureLocalhost: true, newStore: !existsSync(config.storePath), ...(deferAbove === undefined ? {} : { startupBackupDeferAbove: deferAbove }) });
  return { instance, close: () => logging.close() };
}

const logLines = (h: Home) => readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

/** A home whose store holds `n` records besides the new-store LEARN, stopped cleanly (its startup backup taken before READY). */
async function stoppedHome(t: Test, n: number): Promise<{ h: Home; did: string; records: number }> {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const a = await start(h);
  await a.instance.log.append(records(0, n));
  const seeded = { h, did: a.instance.did, records: a.instance.log.recordCount };
  await a.instance.stop('test');
  a.close();
  return seeded;
}

t.test('after READY: the copy holds the store as the instance found it, and the records written meanwhile are not in it', async (t) => {
  const { h, did, records: found } = await stoppedHome(t, 50);

  const b = await start(h, 0);
  await b.instance.log.append(records(50, 20)); // committed while the copy may still run
  const pinned = logLines(h).find((l) => /^startup backup of \d+ records: the store as it is now is held by a read snapshot/.test(String(l.msg)));
  t.match(pinned, { records: found }, 'logged before READY, with the records the instance found');
  // Lines of this start only (the first start wrote its own startup backup before READY).
  const since = () => logLines(h).slice(logLines(h).findIndex((l) => l.msg === pinned!.msg));
  const ready = since().findIndex((l) => l.msg === 'instance ready');
  t.ok(ready > 0, 'the snapshot is held before the instance serves');
  for (let i = 0; i < 200 && !since().some((l) => l.msg === 'startup backup written and verified'); i++) await sleep(25);
  const written = since().find((l) => l.msg === 'startup backup written and verified');
  t.match(written, { records: found }, 'written once serving, with exactly those records');
  await b.instance.stop('test');
  b.close();
  const dir = startupBackupDir(h.home, did, h.env);
  t.match(await inspectStoreFile(join(dir, 'hub.db.bak')), { ok: true, records: found });
  t.same(readdirSync(dir), ['hub.db.bak'], 'nothing else in the backup directory');
  t.ok(logLines(h).some((l) => String(l.msg).startsWith('shutdown complete: WAL checkpointed')), 'the shutdown checkpoints the WAL: the snapshot was released');
});

t.test('a shutdown right after READY stops the copy or lets it finish, and either way leaves no partial file', async (t) => {
  const { h, did } = await stoppedHome(t, 200);
  const b = await start(h, 0);
  await b.instance.stop('test');
  b.close();
  const lines = logLines(h);
  const outcome = lines.find((l) => l.msg === 'startup backup written and verified' || /the startup backup was interrupted by the shutdown/.test(String(l.msg)));
  t.ok(outcome, `the copy finished or said it was interrupted: ${String(outcome?.msg)}`);
  t.ok(lines.some((l) => String(l.msg).startsWith('shutdown complete: WAL checkpointed')), 'a clean shutdown');
  const dir = startupBackupDir(h.home, did, h.env);
  t.same(readdirSync(dir).filter((n) => n !== 'hub.db.bak'), [], 'no partial copy');
  t.match(await inspectStoreFile(join(dir, 'hub.db.bak')), { ok: true }, 'hub.db.bak is a good copy (the first start\'s, or this one)');
});

t.test('a start that fails after the snapshot was pinned releases it: nothing copied, and the WAL can be checkpointed', async (t) => {
  const { h, did } = await stoppedHome(t, 30);
  const { createServer } = await import('node:net');
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(h.port, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  await t.rejects(start(h, 0), { code: 'ADDRESS_IN_USE' });
  const lines = logLines(h);
  const pinnedAt = lines.map((l) => /^startup backup of \d+ records: the store as it is now is held by a read snapshot/.test(String(l.msg))).lastIndexOf(true);
  t.ok(pinnedAt >= 0, 'the snapshot was pinned before the bind failed');
  t.notOk(lines.slice(pinnedAt).some((l) => /startup backup (written|was interrupted)|re-check/.test(String(l.msg))), 'nothing copied, nothing reported as interrupted');
  const dir = startupBackupDir(h.home, did, h.env);
  t.same(readdirSync(dir), ['hub.db.bak'], 'no partial copy');
  // A commit after the pin, then the close's full checkpoint: a snapshot still held would keep that frame in the WAL.
  const { RecordLog } = await import('../../lib/store/record-log.js');
  const next = await RecordLog.open(join(h.home, 'hub.db'));
  await next.append(records(100, 1));
  await next.close();
  const wal = statSync(join(h.home, 'hub.db-wal'), { throwIfNoEntry: false });
  t.equal(wal?.size ?? 0, 0, 'no reader is left holding the store: the closing checkpoint emptied the WAL');
});
