// spl run <goal> against a real instance: the reconciler routes the INTEND — body.to (--to), then the first
// matching routing rule by priority (spl config add-rule … --target), then the highest-trust actor with an adapter
// in the domain — and dispatches it to a real worker; spl run follows to an outcome and exits 0 only on done.
// Each routing decision is one INFO line (target syncropel_engine::reconciler) naming the rule or the reason.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeHome, runSpl, serve, stop } from '../helpers/spl.js';

const AGENT = fileURLToPath(new URL('../fixtures/agents/fake-claude.mjs', import.meta.url));

t.test('spl run: --to, a routing rule, trust, not routed, failed and timed out', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  mkdirSync(h.home, { recursive: true, mode: 0o700 });
  writeFileSync(join(h.home, 'config.toml'), '[dispatch]\nkill_grace_secs = 1\n', { mode: 0o600 });
  await serve(h);
  t.teardown(() => stop(h));
  const repo = join(h.dir, 'app');
  mkdirSync(repo);
  execFileSync('bash', ['-c', 'git init -q -b main && git -c user.name=T -c user.email=t@e commit -q --allow-empty -m init'], { cwd: repo });
  const spl = (args: string[], env: NodeJS.ProcessEnv = {}) => runSpl(args, { ...h.env, ...env }, { cwd: repo });
  const adapter = async (name: string, mode: string, extra: string[] = []) => {
    const r = await spl(['adapter', 'add', `did:sync:agent:${name}`, '--family', 'claude', '--command', `${process.execPath} ${AGENT} ${mode} -p --verbose --output-format stream-json`, '--max-concurrent', '4', ...extra]);
    t.equal(r.code, 0, r.stderr);
  };
  await adapter('alpha', 'slow');
  await adapter('beta', 'success');
  await adapter('broken', 'is-error');
  await adapter('sleepy', 'chatter');

  // body.to
  let r = await spl(['run', 'tidy the README', '--to', 'did:sync:agent:beta']);
  t.equal(r.code, 0, r.stderr + r.stdout);
  t.match(r.stdout, /^run th_[0-9a-f]{64}\n  task RUN-0001\n  routed to did:sync:agent:beta \(body\.to names did:sync:agent:beta\)\n/);
  t.match(r.stdout, /\n  summary: Done: parser accepts trailing commas\.\noutcome: done\n$/);

  // A routing rule by priority (the higher one wins), with its --target.
  t.equal((await spl(['config', 'add-rule', '--name', 'docs-to-alpha', '--target', 'did:sync:agent:alpha', '--domain', 'docs', '--act', 'INTEND', '--priority', '5'])).code, 0);
  t.equal((await spl(['config', 'add-rule', '--name', 'docs-to-beta', '--target', 'did:sync:agent:beta', '--domain', 'docs', '--act', 'INTEND', '--priority', '10'])).code, 0);
  r = await spl(['run', 'write the docs', '--domain', 'docs', '-o', 'json']);
  t.equal(r.code, 0, r.stderr);
  const viaRule = JSON.parse(r.stdout);
  t.match(viaRule, { object: 'run', outcome: 'done', task: { alias: 'RUN-0002', status: 'review', routing: { routed: true, target: 'did:sync:agent:beta', via: 'rule docs-to-beta' } } });

  // Highest trust in the domain: beta earns one accepted review in code; alpha has none.
  const tr = JSON.parse((await spl(['task', 'add', 'earlier work', '--body', 'x', '--domain', 'code', '-o', 'json'])).stdout).alias as string;
  t.equal((await spl(['task', 'done', tr, '--summary', 'done', '--force'], { SPL_ACTOR: 'did:sync:agent:beta' })).code, 0);
  t.equal((await spl(['task', 'approve', tr, '--domain', 'code'], { SPL_ACTOR: 'did:sync:user:reviewer' })).code, 0);
  r = await spl(['run', 'fix the parser', '--domain', 'code']);
  t.equal(r.code, 0, r.stderr + r.stdout);
  t.match(r.stdout, /routed to did:sync:agent:beta \(highest trust in code: did:sync:agent:beta \(0\.\d{3}\) of 4 adapter\(s\)\)/);

  // Not routed: no --to, no rule, no domain, several adapters.
  r = await spl(['run', 'something vague']);
  t.equal(r.code, 1);
  t.match(r.stdout, /not routed: no body\.to, no routing rule matched, no domain to rank 4 adapters by trust/);
  t.match(r.stdout, /outcome: not_routed\n$/);

  // Failed (the agent reports an error), and timed out (the wall-clock deadline).
  r = await spl(['run', 'break it', '--to', 'did:sync:agent:broken']);
  t.equal(r.code, 1);
  t.match(r.stdout, /attempt: failed \(result_reported_error\)/);
  t.match(r.stdout, /outcome: failed\n  spl task diagnose RUN-0005 shows what happened\n$/);
  r = await spl(['run', 'think forever', '--to', 'did:sync:agent:sleepy', '--timeout', '1']);
  t.equal(r.code, 1);
  t.match(r.stdout, /outcome: timed_out\n/);

  const lines = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; target: string; msg: string });
  const decisions = lines.filter((l) => l.target === 'syncropel_engine::reconciler').map((l) => `${l.level} ${l.msg}`);
  t.same(decisions.length, 6, 'one line per routing decision');
  t.match(decisions[0], /^INFO routed RUN-0001 to did:sync:agent:beta via body\.to: body\.to names did:sync:agent:beta$/);
  t.match(decisions[1], /^INFO routed RUN-0002 to did:sync:agent:beta via rule docs-to-beta: routing rule docs-to-beta \(priority 10\) matched$/);
  t.match(decisions[3], /^INFO RUN-0004 not routed, no dispatch: /);
});
