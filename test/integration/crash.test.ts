// SIGKILL in the middle of concurrent ingest: every acknowledged record survives, and the store is sound.

import t from 'tap';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Database } from '../../lib/store/database.js';
import { integrityCheck } from '../../lib/store/integrity.js';
import { makeHome, serve, stop, http, runSpl } from '../helpers/spl.js';

function post(agent: Agent, port: number, body: string): Promise<{ status: number; id?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/records', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, id: (JSON.parse(Buffer.concat(chunks).toString()) as { id?: string }).id });
        } catch {
          resolve({ status: res.statusCode ?? 0 });
        }
      });
      res.on('error', () => resolve({ status: 0 }));
    });
    req.on('error', () => resolve({ status: 0 }));
    req.end(body);
  });
}

t.test('kill -9 during concurrent ingest loses nothing acknowledged', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pid = await serve(h);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  t.teardown(() => agent.destroy());

  const acked = new Set<string>();
  let failures = 0;
  let killed = false;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; ; i++) {
      const thread = 'th_' + (w * 1_000_000 + i).toString(16).padStart(64, '0');
      const r = await post(agent, h.port, JSON.stringify({ thread, actor: 'did:sync:user:alice', act: 'DO', body: { w, i, pad: 'x'.repeat(200) } }));
      if (r.status === 201 && r.id) acked.add(r.id);
      else if (killed) return;
      else failures++;
    }
  };
  const writers = Array.from({ length: 24 }, (_, w) => writer(w));
  // Let ingest run, then kill the instance outright once a good number of records are acknowledged.
  while (acked.size < 2000) await new Promise((r) => setTimeout(r, 20));
  process.kill(pid, 'SIGKILL');
  killed = true;
  await Promise.all(writers);
  t.equal(failures, 0, 'no request failed before the kill');
  t.ok(acked.size >= 2000, `${acked.size} records acknowledged before SIGKILL`);

  const st = await runSpl(['status'], h.env);
  t.equal(st.code, 3, 'status reports not running after the kill');

  const restarted = await serve(h);
  t.not(restarted, pid);
  const log = await runSpl(['logs', '-n', '200', '--level', 'warn', '-o', 'json'], h.env);
  t.match(log.stdout, /stale PID file/, 'the dead PID file was detected and replaced with a WARN');

  const health = await http(h.port, 'GET', '/health');
  t.ok(health.body.records >= acked.size, `store holds ${health.body.records} ≥ ${acked.size} acknowledged`);

  const db = await Database.open(join(h.home, 'hub.db'));
  const missing: string[] = [];
  for (const id of acked) {
    const row = await db.get('SELECT 1 AS x FROM records WHERE id = ?', [id]);
    if (!row) missing.push(id);
  }
  t.same(missing, [], 'every acknowledged record is present');
  t.same(await integrityCheck(db), [], 'integrity_check ok');
  await db.close();
  const s = await stop(h);
  t.equal(s.code, 0, s.stderr);
});
