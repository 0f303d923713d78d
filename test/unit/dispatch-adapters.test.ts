// Adapters and stream-json lines: argv templates parsed without a shell (quotes, escapes, placeholders, operators
// refused), the claude family's required flags, secrets refused in --env, the fold (latest per DID wins; removal),
// and the stream-json shapes a worker's stdout carries (unknown types and non-JSON lines tolerated).

import t from 'tap';
import { adapterDraft, adapterRemoval, adaptersFold, checkAdapter, expandArgv, parseCommand, type AdapterSpec } from '../../lib/dispatch/adapters.js';
import { parseEvent } from '../../lib/dispatch/stream.js';
import type { StoredRecord } from '../../lib/kernel/record.js';

const spec = (o: Partial<AdapterSpec> = {}): AdapterSpec => ({ did: 'did:sync:agent:dev', family: 'exec', command: 'run-agent {brief}', max_concurrent: 1, timeout_secs: 60, line_timeout_secs: 30, env: {}, domains: [], ...o });

t.test('argv templates: words, quotes, escapes and placeholders; shell operators, unknown placeholders and open quotes refused', async (t) => {
  t.same(parseCommand(`claude -p --append-system-prompt 'be brief' "--x=a \\"b\\""  {brief}`), ['claude', '-p', '--append-system-prompt', 'be brief', '--x=a "b"', '{brief}']);
  t.same(parseCommand("bash -c 'make test | tee log'"), ['bash', '-c', 'make test | tee log']);
  t.same(parseCommand("a ''"), ['a', '']);
  t.throws(() => parseCommand('make test | tee log'), /without a shell, and \| is a shell operator/);
  t.throws(() => parseCommand('agent {prompt}'), /\{prompt\}, which is no placeholder/);
  t.throws(() => parseCommand("agent 'open"), /unclosed ' quote/);
  t.throws(() => parseCommand('   '), /--command is empty/);
  t.same(expandArgv(['agent', '--brief={brief}', '{worktree}/x', '{alias}-{thread}'], { brief: '/b.md', worktree: '/w', alias: 'T-1', thread: 'th_1' }), ['agent', '--brief=/b.md', '/w/x', 'T-1-th_1']);
});

t.test('checkAdapter: claude needs print mode and stream-json; counts ≥ 1; secrets never stored in --env', async (t) => {
  t.same(checkAdapter(spec({ family: 'claude', command: 'claude -p --verbose --output-format stream-json' })).argv, ['claude', '-p', '--verbose', '--output-format', 'stream-json']);
  t.throws(() => checkAdapter(spec({ family: 'claude', command: 'claude -p --output-format stream-json' })), /lacks --verbose/);
  t.throws(() => checkAdapter(spec({ family: 'claude', command: 'claude --verbose --output-format=stream-json' })), /lacks -p/);
  t.throws(() => checkAdapter(spec({ max_concurrent: 0 })), /max_concurrent must be a whole number ≥ 1/);
  t.throws(() => checkAdapter(spec({ did: 'agent' })), /is not a DID/);
  t.throws(() => checkAdapter(spec({ env: { ANTHROPIC_API_KEY: 'sk-ant-123' } })), /would store a secret in the record log/);
  t.same(checkAdapter(spec({ env: { ANTHROPIC_API_KEY: '@secret:anthropic', LANG: 'C' } })).env, { ANTHROPIC_API_KEY: '@secret:anthropic', LANG: 'C' });
  t.throws(() => checkAdapter(spec({ env: { 'BAD-NAME': 'x' } })), /not an environment variable name/);
});

t.test('the adapters fold: latest record per DID wins, a removal removes, other topics and threads are ignored', async (t) => {
  let seq = 0;
  const rec = (d: { thread: string; actor: string; act: string; body: Record<string, unknown> }): StoredRecord => ({ ...d, act: d.act as StoredRecord['act'], id: String(++seq).padStart(64, '0'), parents: [], clock: seq, data_type: 'SCALAR', judged_by: null, sequence: seq, created_at: new Date(seq * 1000).toISOString() });
  let s = adaptersFold.init();
  const admin = 'did:sync:user:admin';
  s = adaptersFold.apply(s, rec(adapterDraft(admin, checkAdapter(spec()))));
  s = adaptersFold.apply(s, rec(adapterDraft(admin, checkAdapter(spec({ did: 'did:sync:agent:b', command: 'b' })))));
  s = adaptersFold.apply(s, rec(adapterDraft(admin, checkAdapter(spec({ command: 'run-agent-v2 {brief}', max_concurrent: 3 })))));
  t.equal(s.size, 2);
  t.same(s.get('did:sync:agent:dev')!.argv, ['run-agent-v2', '{brief}']);
  t.equal(s.get('did:sync:agent:dev')!.max_concurrent, 3);
  s = adaptersFold.apply(s, rec(adapterRemoval(admin, 'did:sync:agent:b')));
  t.same([...s.keys()], ['did:sync:agent:dev']);
  s = adaptersFold.apply(s, rec({ thread: 'th_other', actor: admin, act: 'LEARN', body: { topic: 'adapter', did: 'did:sync:agent:x', command: 'x' } }));
  s = adaptersFold.apply(s, rec({ thread: 'th_engine_config', actor: admin, act: 'KNOW', body: { topic: 'adapter', did: 'did:sync:agent:y', command: 'y' } }));
  t.equal(s.size, 1);
});

t.test('stream-json lines: init, assistant usage, result (is_error decides; total_cost_usd or cost_usd), unknown types, noise', async (t) => {
  const init = parseEvent('{"type":"system","subtype":"init","session_id":"s1","cwd":"/src/app-AB12","model":"claude-sonnet-4-20250514","tools":[]}');
  t.match(init, { type: 'system', subtype: 'init', session_id: 's1', model: 'claude-sonnet-4-20250514', cwd: '/src/app-AB12', result: null });
  t.same(parseEvent('{"type":"assistant","session_id":"s1","message":{"usage":{"input_tokens":2,"output_tokens":9}}}')!.usage, { input: 2, output: 9 });
  const ok = parseEvent('{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"Done.","total_cost_usd":0.1046,"usage":{"input_tokens":2,"output_tokens":9}}')!.result!;
  t.same(ok, { is_error: false, subtype: 'success', cost_usd: 0.1046, num_turns: 1, usage: { input: 2, output: 9 }, text: 'Done.' });
  t.equal(parseEvent('{"type":"result","subtype":"success","is_error":true,"cost_usd":0.5}')!.result!.is_error, true, 'a failed call reported as subtype success is an error');
  t.equal(parseEvent('{"type":"result","subtype":"success","is_error":true,"cost_usd":0.5}')!.result!.cost_usd, 0.5);
  t.equal(parseEvent('{"type":"rate_limit_event","x":1}')!.type, 'rate_limit_event');
  t.equal(parseEvent('Compiling… 12/40'), null);
  t.equal(parseEvent('{"no":"type"}'), null);
  t.equal(parseEvent('[1,2]'), null);
  t.equal(parseEvent('{"type":'), null);
});
