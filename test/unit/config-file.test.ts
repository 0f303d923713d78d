import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInstanceConfig, isLoopback, DEFAULT_CONFIG_TOML } from '../../lib/instance/config-file.js';
import { homePaths, resolveHome } from '../../lib/instance/home.js';

function home(t: { teardown(fn: () => void): void }, toml?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'spl-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const paths = homePaths(join(dir, '.syncro'));
  if (toml !== undefined) {
    mkdirSync(paths.home, { recursive: true });
    writeFileSync(paths.config, toml);
  }
  return paths;
}

t.test('defaults without a config file', async (t) => {
  const c = loadInstanceConfig(home(t), {});
  t.match(c, { host: '127.0.0.1', port: 9100, logLevel: 'info', actor: undefined });
  t.match(c.storePath, /\.syncro\/hub\.db$/);
});

t.test('precedence: flag > env > config.toml > default', async (t) => {
  const p = home(t, '[identity]\nactor = "did:sync:user:file"\n[server]\nport = 9200\n[log]\nlevel = "warn"\n[store]\npath = "/var/lib/spl/hub.db"\n');
  t.match(loadInstanceConfig(p, {}), { port: 9200, logLevel: 'warn', actor: 'did:sync:user:file', storePath: '/var/lib/spl/hub.db' });
  t.match(loadInstanceConfig(p, { SPL_LOG_LEVEL: 'debug', SPL_ACTOR: 'did:sync:user:env' }), { logLevel: 'debug', actor: 'did:sync:user:env' });
  t.match(loadInstanceConfig(p, { SPL_LOG_LEVEL: 'debug', SPL_ACTOR: 'did:sync:user:env' }, { logLevel: 'trace', actor: 'did:sync:user:flag', port: 9300 }), {
    logLevel: 'trace', actor: 'did:sync:user:flag', port: 9300,
  });
});

t.test('the shipped default config parses to the defaults', async (t) => {
  const c = loadInstanceConfig(home(t, DEFAULT_CONFIG_TOML), {});
  t.match(c, { host: '127.0.0.1', port: 9100, logLevel: 'info', backup: { keepDays: 14 } });
});

t.test('bad values name the key', async (t) => {
  t.throws(() => loadInstanceConfig(home(t, '[log]\nlevel = "loud"\n'), {}), { code: 'INVALID_CONFIG', message: /log\.level must be one of/ });
  t.throws(() => loadInstanceConfig(home(t, '[identity]\nactor = "alice"\n'), {}), { code: 'INVALID_CONFIG', message: /identity\.actor must be a DID/ });
  t.throws(() => loadInstanceConfig(home(t, 'server = 3\n'), {}), { code: 'INVALID_CONFIG', message: /\[server\] must be a table/ });
  t.throws(() => loadInstanceConfig(home(t), { SPL_LOG_LEVEL: 'loud' }), { code: 'USAGE', message: /SPL_LOG_LEVEL: log level must be one of/ });
});

t.test('home resolution and loopback', async (t) => {
  t.equal(resolveHome({ HOME: '/h' }), '/h/.syncro');
  t.equal(resolveHome({ HOME: '/h', SYNCROPEL_HOME: '~/.syncro-worker-a' }), '/h/.syncro-worker-a');
  t.equal(homePaths('/h/.syncro').dataDir, '/h/.syncro-data');
  t.equal(homePaths('/h/.syncro-worker-a').dataDir, '/h/.syncro-worker-a-data');
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) t.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '10.0.0.1', '::', 'example.com']) t.notOk(isLoopback(h), h);
});
