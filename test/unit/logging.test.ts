import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingFile } from '../../lib/instance/rotating-file.js';
import { createLogger, prettyLine } from '../../lib/instance/logger.js';

function dir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'spl-log-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('rotates at the size limit, keeps N, the live file keeps its name', async (t) => {
  const file = join(dir(t), 'spl.log');
  const f = new RotatingFile(file, 1000, 3);
  const line = 'x'.repeat(99) + '\n';
  for (let i = 0; i < 60; i++) f.write(line);
  f.close();
  t.ok(statSync(file).size <= 1000);
  for (const n of [1, 2, 3]) t.ok(existsSync(`${file}.${n}`), `spl.log.${n} kept`);
  t.notOk(existsSync(`${file}.4`), 'no more than 3 rotated files');
  t.equal(statSync(`${file}.1`).size, 1000);
  t.equal(statSync(file).mode & 0o777, 0o600);
});

t.test('each line: RFC 3339 time, uppercase level, target, msg and fields', async (t) => {
  const file = join(dir(t), 'spl.log');
  const log = createLogger({ file, level: 'debug' });
  const http = log.root.child({ target: 'syncropel_http' });
  http.warn({ actor: 'did:sync:user:a', thread: 'th_x', record: 'r1' }, 'PERMISSION DENIED');
  http.debug('debug line');
  http.trace('not written at debug');
  log.root.fatal({ target: 'syncropel_instance' }, 'fatal maps to ERROR');
  log.close();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 3);
  t.match(lines[0], { level: 'WARN', target: 'syncropel_http', msg: 'PERMISSION DENIED', actor: 'did:sync:user:a', thread: 'th_x', record: 'r1' });
  t.match(lines[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.equal(lines[1].level, 'DEBUG');
  t.equal(lines[2].level, 'ERROR');
  t.notOk('pid' in lines[0] || 'hostname' in lines[0], 'no pid/hostname noise');
  t.match(prettyLine(JSON.stringify(lines[0])), /Z WARN  syncropel_http: PERMISSION DENIED actor=did:sync:user:a thread=th_x record=r1\n$/);
});
