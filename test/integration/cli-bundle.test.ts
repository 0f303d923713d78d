// bin/spl runs a command from its group's CommonJS bundle (dist/cjs/, made by tools/bundle-cli.mjs) without
// starting node's ES module loader; every group with a word not in its fromDist list has a bundle that loads
// and registers its commands, and those run from dist/cli/main.js; an SplError
// thrown by a module the bundle loads from dist/ (another copy of kernel/errors.js) is still reported as one.

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { bundledWords, GROUPS } from '../../lib/cli/groups.js';
import { makeHome, runSpl, stop, THREAD } from '../helpers/spl.js';

const DIST_CJS = fileURLToPath(new URL('../../dist/cjs/', import.meta.url));

/**
 * A preload (CommonJS, so it starts nothing itself) that reports, at exit, the bundles loaded and whether node's ES
 * module loader ran. Run through env(1), which sets NODE_OPTIONS to it alone: the test runner adds its own
 * --import to the NODE_OPTIONS of every process a test spawns, and that starts the ES module loader.
 */
function probe(dir: string): string[] {
  const file = join(dir, 'probe.cjs');
  writeFileSync(file, `process.on('exit', () => process.stderr.write('PROBE ' + JSON.stringify({
    bundles: Object.keys(require.cache).filter((k) => k.includes('/dist/cjs/') && k.endsWith('.cjs')).map((k) => require('node:path').basename(k)),
    esmLoader: process.moduleLoadList.includes('NativeModule internal/modules/esm/loader')
  }) + '\\n'));\n`);
  return ['/usr/bin/env', `NODE_OPTIONS=--require ${file}`];
}

function probed(stderr: string): { bundles: string[]; esmLoader: boolean } {
  const line = stderr.split('\n').find((l) => l.startsWith('PROBE '));
  if (!line) throw new Error(`no probe line in: ${stderr}`);
  return JSON.parse(line.slice(6));
}

t.test('the build made a bundle for every command word', async (t) => {
  const words = JSON.parse(readFileSync(join(DIST_CJS, 'words.json'), 'utf8')) as Record<string, string>;
  for (const g of GROUPS) {
    if (bundledWords(g).length === 0) {
      t.notOk(existsSync(join(DIST_CJS, `${g.name}.cjs`)), `${g.name} is not bundled`);
      for (const w of g.words) t.equal(words[w], undefined, `${w} runs from dist/`);
      continue;
    }
    t.ok(existsSync(join(DIST_CJS, `${g.name}.cjs`)), `dist/cjs/${g.name}.cjs exists`);
    for (const w of g.words) {
      if (g.fromDist?.includes(w)) t.equal(words[w], undefined, `${w} runs from dist/`);
      else t.equal(words[w], g.name, `${w} runs from the ${g.name} bundle`);
    }
  }
  t.equal(words.serve, undefined, 'serve (the instance itself) runs from dist/');
  t.equal(Object.keys(words).length, GROUPS.flatMap(bundledWords).length, 'no word without a group');
  t.ok(GROUPS.some((g) => bundledWords(g).length === 0), 'doctor, at least, runs from dist/');
});

/** One command of each group: `<command> --help` loads the group's bundle and prints that command's usage. */
const SAMPLE: Record<string, string[]> = {
  lifecycle: ['version'], records: ['know'], thread: ['thread', 'list'], task: ['task', 'dispatch'], adapter: ['adapter', 'list'],
  run: ['run'], fleet: ['fleet', 'list'], kill: ['kill'], logs: ['logs'], config: ['config', 'add-rule'], trust: ['trust'],
  token: ['token', 'list'], expr: ['expr', 'check'], backup: ['backup', 'create'], doctor: ['doctor'],
};

t.test('each bundle loads and registers its group', async (t) => {
  t.same(Object.keys(SAMPLE).sort(), GROUPS.map((g) => g.name).sort(), 'a sample command for every group');
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pre = probe(h.dir);
  for (const g of GROUPS) {
    const cmd = SAMPLE[g.name]!;
    const r = await runSpl([...cmd, '--help'], h.env, {}, pre);
    t.equal(r.code, 0, `${cmd.join(' ')} --help: ${r.stderr}`);
    t.match(r.stdout, new RegExp(`\\$ spl ${cmd.join(' ')}\\b`), `${cmd.join(' ')} --help prints its usage`);
    const p = probed(r.stderr);
    if (!bundledWords(g).includes(cmd[0]!)) {
      t.same(p.bundles, [], `${cmd.join(' ')} loaded no bundle`);
      t.equal(p.esmLoader, true, `${cmd.join(' ')} ran from dist/cli/main.js`);
    } else t.same(p.bundles, [`${g.name}.cjs`], `${cmd.join(' ')} ran from ${g.name}.cjs alone`);
  }
});

t.test('version, status and know run without the ES module loader; serve and --help run from dist/', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pre = probe(h.dir);
  const up = await runSpl(['serve', '--port', String(h.port), '--insecure-localhost'], h.env, {}, pre);
  t.equal(up.code, 0, `spl serve: ${up.stderr}`);
  t.teardown(() => stop(h));
  const launcher = probed(up.stderr);
  t.same(launcher.bundles, [], 'spl serve loaded no bundle');
  t.equal(launcher.esmLoader, true, 'spl serve ran from dist/cli/main.js');

  for (const args of [['version'], ['status'], ['know', 'bundled', '--thread', THREAD]]) {
    const r = await runSpl(args, h.env, {}, pre);
    t.equal(r.code, 0, `spl ${args[0]}: ${r.stderr}`);
    const p = probed(r.stderr);
    t.equal(p.esmLoader, false, `spl ${args[0]} did not start the ES module loader`);
  }
  const records = await runSpl(['thread', 'records', THREAD, '-o', 'json'], h.env);
  t.equal(JSON.parse(records.stdout).length, 1, 'the bundled know wrote its record');

  // --help alone lists every group: dist/cli/main.js, the ES module entry point.
  const help = await runSpl(['--help'], h.env, {}, pre);
  t.equal(help.code, 0, help.stderr);
  t.equal(probed(help.stderr).esmLoader, true, '--help alone runs dist/cli/main.js');
  for (const g of GROUPS) t.match(help.stdout, new RegExp(`^    ${g.words[0]}\\b`, 'm'), `--help lists ${g.words[0]}`);
});

t.test('an SplError from a module loaded out of dist/ is printed with its fix and exit code', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  t.equal((await runSpl(['init'], h.env)).code, 0);
  rmSync(join(h.home, 'hub.db'));
  // spl init on a home whose store went missing: instance/store-guard.js, which the lifecycle bundle loads from
  // dist/ (with another copy of kernel/errors.js than the bundle's), refuses; it must be printed as an spl error.
  const r = await runSpl(['init'], h.env);
  t.equal(r.code, 2, 'the refusal\'s exit code');
  t.match(r.stderr, /^spl: the store \S+hub\.db is missing, but this home had data/, 'printed as an spl error');
  t.match(r.stderr, /\nfix: copy your newest off-host backup/, 'with its fix');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
