// The shipped systemd units (SPEC §8): every unit passes `systemd-analyze verify` with no warning, and the
// system services' `systemd-analyze security` exposure is ≤ 2.0 without MemoryDenyWriteExecute (V8's JIT
// needs writable+executable memory). Offline: nothing is installed on the host, no systemd needs to run.
// Needs systemd-analyze (Debian/Ubuntu package `systemd`); without it this test FAILS, it never skips.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const UNITS = join(REPO, 'units');
const SYSTEM_UNITS = readdirSync(UNITS).filter((f) => f.endsWith('.service') || f.endsWith('.timer')).sort();
const SYSTEM_SERVICES = ['spl.service', 'spl@.service', 'spl-backup.service', 'spl-healthcheck.service'];
const USER_UNIT = join(UNITS, 'user', 'spl.service');
const MAX_EXPOSURE = 2.0;
const INSTALL_HINT = 'install it: apt-get install -y systemd (Debian/Ubuntu; it provides /usr/bin/systemd-analyze, no running systemd needed), dnf install systemd (Fedora)';

interface Run {
  status: number | null;
  output: string;
}

function analyze(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: 'cat', ...env } });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

function analyzerVersion(): string | undefined {
  const r = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.split('\n')[0];
}

const STUB = '#!/bin/sh\nexit 0\n';

function stub(path: string): void {
  writeFileSync(path, STUB);
  chmodSync(path, 0o755);
}

/**
 * A throwaway root for `systemd-analyze verify --root`: the host's own systemd units (for the targets the units
 * name), the units under test where the package puts them, and a stub executable for /usr/bin/spl. Nothing outside the temporary directory is written.
 */
function makeRoot(dir: string): string {
  const root = join(dir, 'root');
  const hostUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(join(d, 'multi-user.target')));
  if (hostUnits === undefined) throw new Error(`no systemd units on this host (multi-user.target): ${INSTALL_HINT}`);
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  mkdirSync(join(root, 'usr', 'sbin'), { recursive: true });
  symlinkSync('usr/bin', join(root, 'bin'));
  symlinkSync('usr/sbin', join(root, 'sbin'));
  cpSync(hostUnits, join(root, 'usr', 'lib', 'systemd', 'system'), { recursive: true, verbatimSymlinks: true });
  for (const unit of SYSTEM_UNITS) copyFileSync(join(UNITS, unit), join(root, 'usr', 'lib', 'systemd', 'system', unit));
  stub(join(root, 'usr', 'bin', 'spl'));
  return root;
}

function exposure(output: string): number | undefined {
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(output);
  return m ? Number(m[1]) : undefined;
}

const version = analyzerVersion();
if (version === undefined) {
  t.fail(`systemd-analyze is not installed, so the systemd units cannot be verified: ${INSTALL_HINT}`);
} else {
  t.comment(version);
  const dir = mkdtempSync(join(tmpdir(), 'spl-units-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = makeRoot(dir);

  t.test('the units directory holds every unit SPEC §8 names', async (t) => {
    t.same(SYSTEM_UNITS, ['spl-backup.service', 'spl-backup.timer', 'spl-healthcheck.service', 'spl-healthcheck.timer', 'spl.service', 'spl@.service']);
    t.ok(existsSync(USER_UNIT), 'units/user/spl.service');
  });

  // --recursive-errors=no: the units under test are checked, not whatever else this host has installed.
  t.test('systemd-analyze verify: every system unit, no error and no warning', async (t) => {
    for (const unit of [...SYSTEM_UNITS, 'spl@worker1.service']) {
      const r = analyze(['verify', '--recursive-errors=no', `--root=${root}`, unit]);
      t.equal(r.status, 0, `${unit}: exit 0`);
      t.equal(r.output, '', `${unit}: nothing printed`);
    }
  });

  t.test('systemd-analyze verify: the user unit', async (t) => {
    // --user has no --root: verify a copy whose ExecStart names the stub; the rest of the file is unchanged.
    const runtime = join(dir, 'xdg-runtime');
    const copyDir = join(dir, 'user-units');
    mkdirSync(runtime, { mode: 0o700 });
    mkdirSync(copyDir);
    const text = readFileSync(USER_UNIT, 'utf8');
    t.match(text, /^ExecStart=\/usr\/bin\/spl serve --foreground$/m);
    writeFileSync(join(copyDir, 'spl.service'), text.replaceAll('/usr/bin/spl', join(root, 'usr', 'bin', 'spl')));
    const r = analyze(['--user', 'verify', '--recursive-errors=no', join(copyDir, 'spl.service')], { XDG_RUNTIME_DIR: runtime });
    t.equal(r.status, 0, 'exit 0');
    t.equal(r.output, '', 'nothing printed');
  });

  t.test('the harness is not vacuous: verify reports an unknown key and a missing ExecStart binary, security a bare unit', async (t) => {
    const unitDir = join(root, 'usr', 'lib', 'systemd', 'system');
    const good = readFileSync(join(unitDir, 'spl.service'), 'utf8');
    writeFileSync(join(unitDir, 'spl-probe.service'), good.replace('NoNewPrivileges=yes', 'NoNewPrivileges=yes\nNoSuchSetting=yes'));
    t.match(analyze(['verify', '--recursive-errors=no', `--root=${root}`, 'spl-probe.service']).output, /NoSuchSetting/, 'an unknown key is reported');
    writeFileSync(join(unitDir, 'spl-probe.service'), good.replace('ExecStart=/usr/bin/spl', 'ExecStart=/usr/bin/spl-missing'));
    const missing = analyze(['verify', '--recursive-errors=no', `--root=${root}`, 'spl-probe.service']);
    t.not(missing.status, 0, 'a missing executable fails');
    t.match(missing.output, /spl-missing/);
    rmSync(join(unitDir, 'spl-probe.service'));
    // and the exposure parser reads a score: an unhardened service is far above the bar
    writeFileSync(join(dir, 'bare.service'), '[Service]\nType=notify\nUser=spl\nExecStart=/usr/bin/spl serve --foreground\n');
    const bare = exposure(analyze(['security', '--offline=true', '--no-pager', join(dir, 'bare.service')]).output);
    t.ok(bare !== undefined && bare > MAX_EXPOSURE, `an unhardened service scores above ${MAX_EXPOSURE} (got ${bare})`);
  });

  t.test(`systemd-analyze security --offline=true: exposure ≤ ${MAX_EXPOSURE.toFixed(1)} for every system service`, async (t) => {
    for (const unit of SYSTEM_SERVICES) {
      // A template is analysed as an instance of itself.
      const file = unit === 'spl@.service' ? join(dir, 'spl@worker1.service') : join(UNITS, unit);
      if (unit === 'spl@.service') copyFileSync(join(UNITS, unit), file);
      const r = analyze(['security', '--offline=true', '--no-pager', file]);
      const score = exposure(r.output);
      t.comment(`${unit}: exposure ${score}`);
      t.equal(r.status, 0, `${unit}: security ran\n${r.output.slice(-2000)}`);
      t.ok(score !== undefined && score <= MAX_EXPOSURE, `${unit}: exposure ${score} ≤ ${MAX_EXPOSURE}`);
      t.match(r.output, /✗ MemoryDenyWriteExecute=/, `${unit}: MemoryDenyWriteExecute is off (V8 needs W+X memory)`);
      t.match(r.output, /✓ NotifyAccess=/, `${unit}: child processes cannot alter the service state`);
    }
  });

  t.test('no unit ever sets MemoryDenyWriteExecute; the services are Type=notify with NotifyAccess=main', async (t) => {
    for (const file of [...SYSTEM_UNITS.map((u) => join(UNITS, u)), USER_UNIT]) {
      const text = readFileSync(file, 'utf8');
      t.notMatch(text, /^\s*MemoryDenyWriteExecute\s*=/m, `${file}: no MemoryDenyWriteExecute=`);
    }
    for (const file of [join(UNITS, 'spl.service'), join(UNITS, 'spl@.service'), USER_UNIT]) {
      const text = readFileSync(file, 'utf8');
      t.match(text, /^Type=notify$/m, `${file}: Type=notify`);
      t.match(text, /^NotifyAccess=main$/m, `${file}: NotifyAccess=main`);
      t.match(text, /^WatchdogSec=/m, `${file}: a watchdog`);
      t.match(text, /^KillMode=mixed$/m, `${file}: SIGTERM to the instance alone, which stops its workers first`);
      t.match(text, /^OOMPolicy=continue$/m, `${file}: one OOM-killed worker does not stop the service`);
      t.match(text, /^ExecReload=\/usr\/bin\/spl reload --pid \$MAINPID$/m, `${file}: reload is spl reload (SIGHUP, then waits until applied)`);
    }
  });

  t.test('the packaging scripts parse', async (t) => {
    for (const script of ['install.sh', 'build-deb.sh']) {
      const r = spawnSync('bash', ['-n', join(REPO, 'packaging', script)], { encoding: 'utf8' });
      t.equal(r.status, 0, `bash -n packaging/${script}${r.stderr ? `: ${r.stderr}` : ''}`);
    }
  });
}
