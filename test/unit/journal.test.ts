// The journald native protocol and the `<N>` line format, against a real unix datagram socket bound in a
// temporary directory (standing in for /run/systemd/journal/socket; the drill checks the real journald).

import t from 'tap';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalStream, encodeEntry, journalFields, prefixedLine, stdoutIsJournal } from '../../lib/systemd/journal.js';
import { createLogger } from '../../lib/instance/logger.js';

const unix = createRequire(import.meta.url)('unix-dgram') as typeof import('unix-dgram');

function dir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'spl-journal-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Parses one native-protocol datagram into its fields (both the KEY=value and the length-prefixed forms). */
function decode(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const nl = buf.indexOf(0x0a, i);
    const line = buf.subarray(i, nl).toString('utf8');
    const eq = line.indexOf('=');
    if (eq >= 0) {
      out[line.slice(0, eq)] = line.slice(eq + 1);
      i = nl + 1;
    } else {
      const len = Number(buf.readBigUInt64LE(nl + 1));
      out[line] = buf.subarray(nl + 9, nl + 9 + len).toString('utf8');
      if (buf[nl + 9 + len] !== 0x0a) throw new Error(`field ${line} is not followed by a newline`);
      i = nl + 9 + len + 1;
    }
  }
  return out;
}

t.test('JOURNAL_STREAM matches only the file stdout really is', async (t) => {
  const d = dir(t);
  const fd = openSync(join(d, 'out'), 'w');
  t.teardown(() => closeSync(fd));
  const st = fstatSync(fd, { bigint: true });
  t.ok(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd), 'dev:inode of the fd matches');
  t.notOk(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }, fd), 'another inode does not');
  t.notOk(stdoutIsJournal({}, fd), 'unset does not');
  t.notOk(stdoutIsJournal({ JOURNAL_STREAM: 'garbage' }, fd), 'malformed does not');
});

t.test('entries carry PRIORITY, SYSLOG_IDENTIFIER, MESSAGE and the SPL_ fields', async (t) => {
  const line = JSON.stringify({ level: 'WARN', time: '2026-11-27T00:00:00.000Z', target: 'syncropel_http::permissions', msg: 'PERMISSION DENIED', actor: 'did:sync:user:eve', thread: 'th_1', record: 'abc', method: 'POST' });
  const f = Object.fromEntries(journalFields(JSON.parse(line)));
  t.same(f, {
    PRIORITY: '4',
    SYSLOG_IDENTIFIER: 'spl',
    MESSAGE: 'syncropel_http::permissions: PERMISSION DENIED actor=did:sync:user:eve thread=th_1 record=abc method=POST',
    SPL_TARGET: 'syncropel_http::permissions',
    SPL_ACTOR: 'did:sync:user:eve',
    SPL_THREAD: 'th_1',
    SPL_RECORD: 'abc',
    SPL_LEVEL: 'WARN',
  });
  for (const [level, p] of [['ERROR', '3'], ['INFO', '6'], ['DEBUG', '7'], ['TRACE', '7']]) {
    t.equal(Object.fromEntries(journalFields({ level, msg: 'x' })).PRIORITY, p, `${level} is priority ${p}`);
  }
  t.equal(prefixedLine(line), '<4>syncropel_http::permissions: PERMISSION DENIED actor=did:sync:user:eve thread=th_1 record=abc method=POST\n');
  t.equal(prefixedLine('not json'), 'not json\n', 'a line that is not JSON passes through');
  const spelled = { level: 'WARN', target: 't', msg: 'PERMISSION DENIED actor=did:sync:user:eve rule=none', actor: 'did:sync:user:eve', rule: 'none', path: '/v1/records' };
  t.equal(Object.fromEntries(journalFields(spelled)).MESSAGE, 't: PERMISSION DENIED actor=did:sync:user:eve rule=none path=/v1/records', 'pairs already in the message are not repeated');
});

t.test('a value with a newline uses the length-prefixed form', async (t) => {
  const buf = encodeEntry([['MESSAGE', 'first\nsecond'], ['PRIORITY', '3']]);
  t.same(decode(buf), { MESSAGE: 'first\nsecond', PRIORITY: '3' });
  t.equal(buf.readBigUInt64LE('MESSAGE\n'.length), BigInt('first\nsecond'.length), 'little-endian 64-bit length');
});

t.test('the logger sends each line as one datagram, and falls back to <N> lines when the socket is gone', async (t) => {
  const d = dir(t);
  const path = join(d, 'journal.sock');
  const got: Buffer[] = [];
  const server = unix.createSocket('unix_dgram', (msg: Buffer) => got.push(Buffer.from(msg)));
  server.bind(path);
  let open = true;
  t.teardown(() => open && server.close());

  const fallback: string[] = [];
  const stream = new JournalStream(path, (l) => fallback.push(l));
  const log = createLogger({ level: 'debug', extra: stream });
  log.root.child({ target: 'syncropel_http' }).warn({ actor: 'did:sync:user:bob', method: 'POST' }, 'PERMISSION DENIED');
  log.root.child({ target: 'syncropel_instance' }).debug('a detail\nover two lines');
  log.root.child({ target: 'syncropel_instance' }).trace('below the level: not sent');
  for (let i = 0; i < 50 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(got.length, 2, 'two entries');
  const [a, b] = got.map(decode);
  t.match(a, { PRIORITY: '4', SYSLOG_IDENTIFIER: 'spl', SPL_TARGET: 'syncropel_http', SPL_ACTOR: 'did:sync:user:bob', MESSAGE: 'syncropel_http: PERMISSION DENIED actor=did:sync:user:bob method=POST' });
  t.match(b, { PRIORITY: '7', MESSAGE: 'syncropel_instance: a detail\nover two lines' });
  t.same(fallback, [], 'nothing fell back');

  server.close();
  open = false;
  rmSync(path);
  stream.write(JSON.stringify({ level: 'ERROR', target: 'syncropel_store', msg: 'journal gone' }) + '\n');
  t.same(fallback, ['<3>syncropel_store: journal gone\n'], 'a line journald did not take goes to stdout with its priority');
  stream.close();
  log.close();
});
