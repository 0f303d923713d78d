// The instance as a host: a fold a module registers (here one that throws on one record), a reactor that acts
// after commit, and a service whose stop takes seconds — run in-process against a real store, real listeners and
// the real CLI (spl doctor) pointed at the same home.

import t from 'tap';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Fold } from '../../lib/engine/fold.js';
import type { StoredRecord } from '../../lib/kernel/record.js';
import { validateRecord } from '../../lib/kernel/record.js';
import { loadInstanceConfig } from '../../lib/instance/config-file.js';
import { homePaths } from '../../lib/instance/home.js';
import { startInstance, type RunningInstance } from '../../lib/instance/instance.js';
import { createLogger } from '../../lib/instance/logger.js';
import type { Service } from '../../lib/instance/services.js';
import { makeHome, http, runSpl, type Home } from '../helpers/spl.js';

const THREAD = 'th_' + 'c'.repeat(64);

/** Counts records, and throws on any whose body has boom: true (a bug in a module's fold). */
const faulty: Fold<{ seen: number }> = {
  name: 'faulty_counter',
  init: () => ({ seen: 0 }),
  apply(state, r) {
    if ((r.body as { boom?: boolean }).boom === true) throw new Error('boom on purpose');
    state.seen += 1;
    return state;
  },
};

async function start(h: Home, extra: { services?: Service[] } = {}): Promise<{ instance: RunningInstance; close: () => void }> {
  const paths = homePaths(h.home);
  mkdirSync(h.home, { recursive: true, mode: 0o700 });
  const config = loadInstanceConfig(paths, h.env, { port: h.port });
  const logging = createLogger({ file: paths.logFile, level: 'info' });
  const instance = await startInstance({
    paths, config, logger: logging.root, adminActor: 'did:sync:user:admin', env: h.env, insecureLocalhost: true,
    folds: [faulty as Fold<unknown>], ...extra,
  });
  return { instance, close: () => logging.close() };
}

const rec = (n: number, boom = false) => validateRecord({ thread: THREAD, actor: 'did:sync:user:admin', act: 'KNOW', body: boom ? { n, boom } : { n } });

t.test('a fold that throws on one record: the append resolves, the daemon serves, /health and doctor say so, a restart does not crash-loop', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const { instance, close } = await start(h);
  const reacted: number[][] = [];
  instance.engine.react('probe', (records: readonly StoredRecord[]) => {
    reacted.push(records.map((r) => r.sequence));
  });

  const outcomes = await instance.log.append([rec(1), rec(2, true), rec(3)]);
  t.same(outcomes.map((o) => o.created), [true, true, true], 'the append with the throwing record resolves: all three are committed');
  t.equal(instance.engine.state(faulty).seen, 2, 'the fold went on with the records after the one it threw on');
  const over = await http(h.port, 'POST', '/v1/records', JSON.stringify(rec(4)), { 'content-type': 'application/json' });
  t.equal(over.status, 201, 'the daemon keeps serving');
  const health = await http(h.port, 'GET', '/health');
  t.equal(health.status, 200);
  t.match(health.body.folds.broken, [{ fold: 'faulty_counter', faults: 1, first: [{ record: outcomes[1]!.record.id, sequence: 2, error: 'boom on purpose' }] }], '/health names the fold, the record and the error');
  const line = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').find((l) => l.includes('fold faulty_counter failed'));
  t.ok(line, 'an ERROR line');
  t.match(JSON.parse(line!), { level: 'ERROR', target: 'syncropel_engine::folds', fold: 'faulty_counter', record: outcomes[1]!.record.id, error: 'boom on purpose' });
  const doctor = await runSpl(['doctor', '-o', 'json'], h.env);
  const row = JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === 'health');
  t.match(row, { status: 'warn', summary: /derived state is incomplete: faulty_counter failed on 1 record \(first: [0-9a-f]{64} at sequence 2: boom on purpose\)/ });

  // The reactor saw both groups, after their appends, in commit order.
  await instance.engine.drainReactors();
  t.same(reacted, [[1, 2, 3], [4]], 'the reactor is handed each committed group in order');

  await instance.stop('test');
  close();
  // The same record meets the fold again in the rebuild: reported again, and the instance starts and serves.
  const again = await start(h);
  t.teardown(async () => {
    await again.instance.stop('test');
    again.close();
  });
  t.equal(again.instance.engine.state(faulty).seen, 3, 'the rebuild applied every other record');
  t.match(again.instance.engine.brokenFolds(), [{ fold: 'faulty_counter', faults: 1 }], 'and reports the fault again, skipping nothing silently');
  t.equal((await http(h.port, 'GET', '/health')).status, 200, 'no crash loop: it serves');
});

t.test('a reactor that throws is logged and the next group still reaches it; appends never wait for it', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const { instance, close } = await start(h);
  t.teardown(async () => {
    await instance.stop('test');
    close();
  });
  const seen: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  instance.engine.react('flaky', async (records) => {
    if (records[0]!.sequence === 1) {
      await gate;
      throw new Error('reactor down');
    }
    seen.push(...records.map((r) => r.sequence));
  });
  await instance.log.append([rec(1)]);
  await instance.log.append([rec(2)]);
  t.same(seen, [], 'both appends resolved while the reactor is still busy with the first group');
  const flaky = () => instance.engine.reactorStats().filter((r) => r.name === 'flaky'); // beside the instance's own (the alias mirror)
  t.match(flaky(), [{ name: 'flaky', pending: 2 }]);
  release();
  await instance.engine.drainReactors();
  t.same(seen, [2], 'the group after the failure is handled');
  t.match(flaky(), [{ name: 'flaky', pending: 0, handled: 1, failures: 1, last_error: 'reactor down' }]);
  t.ok(readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').includes('reactor flaky failed on records 1..1: reactor down'));
});

t.test('a service whose stop takes 3 s is stopped before the store closes, and the shutdown is still clean', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const events: string[] = [];
  let started: RunningInstance | undefined;
  const slow: Service = {
    name: 'slow-children',
    start: (ctx) => {
      events.push(`start (store has ${ctx.log.recordCount})`);
    },
    stop: async (reason) => {
      events.push(`stop ${reason}`);
      await new Promise((r) => setTimeout(r, 3000));
      // The store is still open: a service may record how its children ended.
      const [o] = await started!.log.append([rec(99)]);
      events.push(`wrote ${o!.record.sequence} while stopping`);
    },
  };
  const { instance, close } = await start(h, { services: [slow] });
  started = instance;
  await instance.log.append([rec(1)]);
  t.same(events, ['start (store has 0)'], 'started once the listeners were bound');
  const paths = homePaths(h.home);
  t.ok(existsSync(paths.pidFile) && existsSync(paths.socket));
  await instance.stop('SIGTERM');
  close();
  t.same(events, ['start (store has 0)', 'stop SIGTERM', 'wrote 2 while stopping'], 'stopped, and it could still write, before the store closed');
  t.notOk(existsSync(paths.pidFile), 'PID file removed');
  t.notOk(existsSync(paths.socket), 'socket removed');
  const wal = `${loadInstanceConfig(paths, h.env).storePath}-wal`;
  t.ok(!existsSync(wal) || statSync(wal).size === 0, 'WAL checkpointed');
  const log = readFileSync(paths.logFile, 'utf8');
  t.match(log, /service slow-children stopped/);
  t.match(log, /shutdown complete: WAL checkpointed/);
  const restarted = await start(h);
  t.equal(restarted.instance.log.recordCount, 2, 'the record written while stopping is in the store');
  await restarted.instance.stop('test');
  restarted.close();
});
