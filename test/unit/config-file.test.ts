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

t.test('[server] tls_cert and tls_key (both or neither) and [fleet] ca_file: paths in the home, ~/ expanded', async (t) => {
  const p = home(t, '[server]\ntls_cert = "tls/cert.pem"\ntls_key = "~/keys/key.pem"\n[fleet]\nca_file = "/etc/spl/ca.pem"\n');
  const c = loadInstanceConfig(p, { HOME: '/h' });
  t.same(c.tls, { cert: join(p.home, 'tls/cert.pem'), key: '/h/keys/key.pem' });
  t.equal(c.fleet.caFile, '/etc/spl/ca.pem');
  t.equal(loadInstanceConfig(home(t, '[fleet]\nca_file = "ca.pem"\n'), {}).fleet.caFile?.endsWith('/.syncro/ca.pem'), true, 'relative: inside the home');
  const plain = loadInstanceConfig(home(t), {});
  t.equal(plain.tls, undefined, 'neither: plain HTTP');
  t.equal(plain.fleet.caFile, undefined);
  t.throws(() => loadInstanceConfig(home(t, '[server]\ntls_cert = "cert.pem"\n'), {}), {
    code: 'INVALID_CONFIG', field: 'server.tls_key',
    message: /server\.tls_cert is set without server\.tls_key: HTTPS needs both/,
    fix: /add tls_key = "<path to the PEM private key>" under \[server\] in .*config\.toml, or remove tls_cert to serve plain HTTP/,
  });
  t.throws(() => loadInstanceConfig(home(t, '[server]\ntls_key = "key.pem"\n'), {}), { code: 'INVALID_CONFIG', field: 'server.tls_cert', message: /server\.tls_key is set without server\.tls_cert/ });
  t.throws(() => loadInstanceConfig(home(t, '[server]\ntls_cert = 1\ntls_key = "k"\n'), {}), { code: 'INVALID_CONFIG', message: /server\.tls_cert must be a string/ });
  t.throws(() => loadInstanceConfig(home(t, '[fleet]\nca_fle = "ca.pem"\n'), {}), { code: 'INVALID_CONFIG', message: /unknown key ca_fle in \[fleet\]; did you mean ca_file\?/ });
  t.throws(() => loadInstanceConfig(home(t, '[server]\ntls_crt = "c"\n'), {}), { code: 'INVALID_CONFIG', message: /did you mean tls_cert\?/ });
});
