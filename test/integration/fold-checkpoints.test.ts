// Fold checkpoints over an instance's life, in-process against a real store and real listeners: the shutdown
// writes one, the next start loads it and replays only what came after, a crash (the checkpoint older than the
// store) replays the tail, the service writes one while serving, and `spl serve --rebuild` ignores it.

import t from 'tap';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { validateRecord } from '../../lib/kernel/record.js';
import { loadInstanceConfig } from '../../lib/instance/config-file.js';
import { homePaths } from '../../lib/instance/home.js';
import { startInstance, type RunningInstance } from '../../lib/instance/instance.js';
import { createLogger } from '../../lib/instance/logger.js';
import type { CheckpointCadence } from '../../lib/instance/fold-checkpoints.js';
import { makeHome, runSpl, serve, stop, type Home } from '../helpers/spl.js';

const THREAD = 'th_' + 'd'.repeat(64);
const ADMIN = 'did:sync:user:admin';

async function start(h: Home, cadence?: CheckpointCadence): Promise<{ instance: RunningInstance; close: () => void }> {
  const paths = homePaths(h.home);
  mkdirSync(h.home, { recursive: true, mode: 0o700 });
  const config = loadInstanceConfig(paths, h.env, { port: h.port });
  const logging = createLogger({ file: paths.logFile, level: 'info' });
  const instance = await startInstance({ paths, config, logger: logging.root, adminActor: ADMIN, env: h.env, insecureLocalhost: true, newStore: !existsSync(config.storePath), ...(cadence ? { checkpointCadence: cadence } : {}) });
  return { instance, close: () => logging.close() };
}

function rebuildLines(h: Home): Array<Record<string, unknown>> {
  return readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').filter((l) => l.includes('rebuild_from_store complete')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const records = (from: number, n: number) => Array.from({ length: n }, (_, i) => validateRecord({ thread: THREAD, actor: ADMIN, act: 'DO', body: { n: from + i } }));
const states = (i: RunningInstance) => i.engine.host.folds.map((f) => i.engine.state(f));

t.test('shutdown writes the checkpoint; a start loads it; a crash replays the tail', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const ck = join(h.home, 'hub.db.folds');
  const a = await start(h);
  await a.instance.log.append(records(0, 20));
  await a.instance.stop('test');
  a.close();
  t.equal(statSync(ck).mode & 0o777, 0o600, 'hub.db.folds is written at shutdown, 0600');
  const written = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').find((l) => l.includes('fold checkpoint written'));
  t.match(JSON.parse(written!), { why: 'shutdown', sequence: 21 }, 'and logged with the sequence it covers (20 records and the new-store LEARN)');

  const b = await start(h);
  t.match(rebuildLines(h).at(-1), { from_checkpoint: 21, replayed: 0, records: 21 }, 'the next start loads it and replays nothing');
  const crashCopy = join(h.home, 'older.folds');
  copyFileSync(ck, crashCopy);
  await b.instance.log.append(records(20, 7));
  const live = states(b.instance);
  await b.instance.stop('test');
  b.close();
  // A crash after those 7 records: the checkpoint on disk is the one from before them.
  copyFileSync(crashCopy, ck);
  const c = await start(h);
  t.teardown(async () => {
    await c.instance.stop('test');
    c.close();
  });
  t.match(rebuildLines(h).at(-1), { from_checkpoint: 21, replayed: 7, records: 28 }, 'the records after the checkpoint are replayed');
  t.ok(isDeepStrictEqual(states(c.instance), live), 'and the state is the one the instance had before it stopped');
});

t.test('the service writes a checkpoint while serving once enough records are folded in', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const a = await start(h, { everyMs: 20, records: 10, maxAgeMs: 3_600_000 });
  t.teardown(async () => {
    await a.instance.stop('test');
    a.close();
  });
  await a.instance.log.append(records(0, 5));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(a.instance.engine.checkpointSequence, 0, 'not yet: 6 records are fewer than 10');
  await a.instance.log.append(records(5, 10));
  const deadline = Date.now() + 10_000;
  while (a.instance.engine.checkpointSequence === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(a.instance.engine.checkpointSequence, 16, 'written at sequence 16 while serving');
  t.match(statSync(join(h.home, 'hub.db.folds')), { mode: 0o100600 });
});

t.test('spl serve --rebuild derives every fold from the store in full', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  await serve(h, ['--new-store']);
  await stop(h);
  await serve(h);
  t.match(rebuildLines(h).at(-1), { from_checkpoint: 1 }, 'a plain restart uses the checkpoint');
  await stop(h);
  const r = await runSpl(['serve', '--rebuild'], h.env);
  t.equal(r.code, 0, r.stderr);
  t.match(rebuildLines(h).at(-1), { full: true, why: 'a full rebuild was asked for (spl serve --rebuild)', records: 1 });
  await stop(h);
});
