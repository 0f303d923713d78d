// HTTPS for reaching other hosts (SPEC §12): a throwaway CA and a server certificate made with the openssl CLI
// (missing openssl fails the test: it is never skipped), an instance serving HTTPS on its TCP port and plain HTTP
// on its socket; the fleet client verifies it with the CA (and refuses it without), a heartbeat over HTTPS with a
// coordinator token registers a member, a worker instance with [fleet] ca_file becomes live, `spl fleet ping` reaches an https endpoint with [fleet] ca_file; bad
// certificate files stop `spl serve` with the file and the fix; a fleet token in clear text beyond loopback WARNs.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetRequest } from '../../lib/fleet/client.js';
import { freePort, httpVia, makeHome, runSpl, serve, stop, type Home } from '../helpers/spl.js';

/** A CA, and a certificate it signed for 127.0.0.1 and localhost, with their keys (PEM files in `dir`). */
function makeCertificates(dir: string): { ca: string; cert: string; key: string; otherKey: string } {
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=spl test CA');
  ssl('req', ...ec, '-keyout', 'key.pem', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'cert.pem', '-days', '2', '-extfile', 'san.ext');
  ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'other.key');
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), otherKey: join(dir, 'other.key') };
}

function writeConfig(h: Home, lines: string[]): void {
  mkdirSync(h.home, { recursive: true, mode: 0o700 });
  writeFileSync(join(h.home, 'config.toml'), lines.join('\n') + '\n', { mode: 0o600 });
}

t.test('HTTPS on the TCP port: verified with the CA, refused without; socket plain; heartbeat and fleet ping over HTTPS', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pki = makeCertificates(mkdtempSync(join(h.dir, 'pki-')));
  writeConfig(h, ['[server]', `port = ${h.port}`, `tls_cert = "${pki.cert}"`, `tls_key = "${pki.key}"`, '[fleet]', 'heartbeat_interval_secs = 1', `ca_file = "${pki.ca}"`]);
  await serve(h, [], { auth: true });
  t.teardown(() => stop(h));
  const base = `https://127.0.0.1:${h.port}`;

  const health = await fleetRequest(`${base}/health`, { method: 'GET', caFile: pki.ca });
  t.match(health, { status: 200, statusText: 'OK', body: { status: 'ok' } }, 'HTTPS answers /health, verified against the CA');
  await t.rejects(fleetRequest(`${base}/health`, { method: 'GET' }), {
    code: 'UNAVAILABLE', reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    message: new RegExp(`^the certificate of ${base.replace(/\./g, '\\.')} is not trusted: unable to verify the first certificate`),
    fix: /set ca_file under \[fleet\] in config\.toml/,
  }, 'without the CA: a certificate error');
  await t.rejects(fleetRequest(`http://127.0.0.1:${h.port}/health`, { method: 'GET', timeoutMs: 2000 }), { code: 'UNAVAILABLE' }, 'no plain HTTP on the HTTPS port');
  t.match(await httpVia({ socketPath: join(h.home, 'run', 'spl.sock') }, 'GET', '/health'), { status: 200, body: { status: 'ok' } }, 'the unix socket stays plain HTTP');

  // A malformed request over TLS gets the same envelope as over plain HTTP.
  const raw = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: h.port, ca: readFileSync(pki.ca) }, () => s.end('NOT HTTP\r\n\r\n'));
    let text = '';
    s.on('data', (d) => (text += d)).on('end', () => resolve(text)).on('error', reject);
  });
  t.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*"code":"INVALID_REQUEST"/);

  // A worker's heartbeat over HTTPS, with a coordinator token as its bearer: it is a live member.
  const token = (await runSpl(['token', 'create', '--name', 'fleet-worker'], h.env)).stdout.trim();
  const did = 'did:sync:instance:00000000000000aa';
  const beat = { did, endpoint: base, version: '0.0.0', uptime_secs: 1, health: 'healthy', active_dispatches: 0, store_records: 0 };
  t.equal((await fleetRequest(`${base}/v1/fleet/heartbeat`, { method: 'POST', body: beat, caFile: pki.ca })).status, 401, 'no token: refused');
  t.match(await fleetRequest(`${base}/v1/fleet/heartbeat`, { method: 'POST', body: beat, token, caFile: pki.ca }), { status: 200, body: { object: 'heartbeat_ack', status: 'live' } });
  // The DID is the token's it first beat with: another token's holder cannot beat (or take work) in its name.
  const other = (await runSpl(['token', 'create', '--name', 'fleet-other'], h.env)).stdout.trim();
  t.match(await fleetRequest(`${base}/v1/fleet/heartbeat`, { method: 'POST', body: beat, token: other, caFile: pki.ca }), { status: 403, body: { code: 'PERMISSION_DENIED', message: /beats with another token; token fleet-other may not act as it/ } });
  t.match(await fleetRequest(`${base}/v1/fleet/records`, { method: 'POST', body: { did, records: [] }, token: other, caFile: pki.ca }), { status: 403 }, 'nor forward records in its name');
  const list = await runSpl(['fleet', 'list'], h.env);
  t.match(list.stdout, new RegExp(`${did}\\s+${base.replace(/\./g, '\\.')}\\s+live`));

  // A real worker: its heartbeats reach the HTTPS coordinator, verified with its [fleet] ca_file alone.
  const worker = { ...h, home: join(h.dir, '.syncro-worker-a'), port: await freePort() };
  worker.env = { ...h.env, SYNCROPEL_HOME: worker.home };
  writeConfig(worker, ['[server]', `port = ${worker.port}`, '[fleet]', `coordinator_url = "${base}"`, `token = "${token}"`, `ca_file = "${pki.ca}"`, 'heartbeat_interval_secs = 1']);
  await serve(worker);
  t.teardown(() => stop(worker));
  const wdid = JSON.parse((await runSpl(['status', '-o', 'json'], worker.env)).stdout).instance_did as string;
  const sock = { socketPath: join(h.home, 'run', 'spl.sock') };
  let seen = '';
  for (let i = 0; i < 50 && seen !== 'live'; i++, await new Promise((r) => setTimeout(r, 100))) seen = (await httpVia(sock, 'GET', `/v1/fleet/instances/${wdid}`)).body?.status ?? '';
  t.equal(seen, 'live', 'a worker with [fleet] ca_file heartbeats to the HTTPS coordinator');

  // spl fleet ping over HTTPS: the instance itself (its endpoint is https:// by default with TLS on) and the member.
  const self = JSON.parse((await runSpl(['status', '-o', 'json'], h.env)).stdout).instance_did as string;
  t.match(list.stdout, new RegExp(`${self}\\s+${base.replace(/\./g, '\\.')}\\s+live`), 'the default endpoint is https://');
  for (const d of [self, did]) {
    const ping = await runSpl(['fleet', 'ping', d], h.env);
    t.equal(ping.code, 0, ping.stderr);
    t.match(ping.stdout, new RegExp(`^✓ ${d} reachable in \\d+ms \\(200 OK\\)\\n$`));
  }
  // The CLI over HTTPS (SPL_SERVE_URL and a token), verified with [fleet] ca_file.
  const viaUrl = await runSpl(['status', '-o', 'json'], { ...h.env, SPL_SERVE_URL: base, SPL_TOKEN: token });
  t.equal(viaUrl.code, 0, viaUrl.stderr);
  t.equal(JSON.parse(viaUrl.stdout).instance_did, self, 'spl status over an https:// SPL_SERVE_URL');
  // Without [fleet] ca_file in the CLI's config.toml: ✗, the certificate error and the fix.
  writeConfig(h, ['[server]', `port = ${h.port}`, `tls_cert = "${pki.cert}"`, `tls_key = "${pki.key}"`, '[fleet]', 'heartbeat_interval_secs = 1']);
  const refused = await runSpl(['fleet', 'ping', self], h.env);
  t.equal(refused.code, 1);
  t.match(refused.stdout, new RegExp(`^✗ ${self} unreachable at ${base.replace(/\./g, '\\.')}: certificate not trusted \\(unable to verify the first certificate, UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)\\nfix: set ca_file under \\[fleet\\]`));
  const untrusted = await runSpl(['status'], { ...h.env, SPL_SERVE_URL: base, SPL_TOKEN: token });
  t.match(untrusted, { code: 1, stderr: /the certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted: .*UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\nfix: set ca_file under \[fleet\]/ }, 'without the CA: a clear refusal, not a stack trace');
  // spl doctor reaches it over HTTPS when the socket is gone (its DID, not the certificate, says it is ours).
  const sockPath = join(h.home, 'run', 'spl.sock');
  renameSync(sockPath, `${sockPath}.aside`);
  try {
    const doc = await runSpl(['doctor', '--json'], h.env);
    const row = (JSON.parse(doc.stdout).checks as Array<{ id: string; status: string; summary: string }>).find((c) => c.id === 'health');
    t.match(row, { status: 'ok', summary: new RegExp(`^/health over ${base.replace(/\./g, '\\.')}: ok`) }, 'doctor\'s health row over HTTPS');
  } finally {
    renameSync(`${sockPath}.aside`, sockPath);
  }
});

t.test('bad certificate files stop spl serve with the file and the fix; a token in clear text beyond loopback WARNs', async (t) => {
  const h = await makeHome();
  t.teardown(() => h.cleanup());
  const pki = makeCertificates(mkdtempSync(join(tmpdir(), 'spl-pki-')));
  t.teardown(() => rmSync(join(pki.ca, '..'), { recursive: true, force: true }));
  const attempt = async (server: string[], fleet: string[] = []) => {
    writeConfig(h, ['[server]', `port = ${h.port}`, ...server, '[fleet]', ...fleet]);
    return runSpl(['serve'], h.env);
  };
  const missing = await attempt([`tls_cert = "${pki.cert}"`, 'tls_key = "tls/missing.pem"']);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, `spl: cannot read [server] tls_key ${join(h.home, 'tls/missing.pem')} (ENOENT)\nfix: put the PEM file there, or point [server] tls_key in ${join(h.home, 'config.toml')} at it\n`);
  const mismatch = await attempt([`tls_cert = "${pki.cert}"`, `tls_key = "${pki.otherKey}"`]);
  t.equal(mismatch.code, 1);
  t.match(mismatch.stderr, new RegExp(`^spl: \\[server\\] tls_key ${pki.otherKey} is not the private key of the certificate ${pki.cert}\\nfix: point tls_key in .*config\\.toml at the key the certificate was issued for`));
  const notCert = await attempt([`tls_cert = "${pki.key}"`, `tls_key = "${pki.key}"`]);
  t.match(notCert.stderr, new RegExp(`^spl: \\[server\\] tls_cert ${pki.key} is not a PEM certificate \\(no -----BEGIN CERTIFICATE----- block\\)\\nfix: `));
  const badCa = await attempt([], [`ca_file = "${pki.key}"`]);
  t.match(badCa.stderr, /^spl: \[fleet\] ca_file .* is not a PEM certificate/);
  t.notMatch(missing.stderr + mismatch.stderr + notCert.stderr + badCa.stderr, /\n\s+at /, 'no stack trace');

  // A worker whose coordinator_url is plain HTTP beyond loopback, with a token: one WARN (target syncropel_fleet).
  const port = await freePort();
  writeConfig(h, ['[server]', `port = ${port}`, '[fleet]', 'coordinator_url = "http://0.0.0.0:1"', 'token = "not-a-real-token"', 'heartbeat_interval_secs = 1']);
  await serve({ ...h, port });
  t.teardown(() => stop({ ...h, port }));
  const warns = readFileSync(join(h.home, 'logs', 'spl.log'), 'utf8').split('\n').filter((l) => l.includes('travels in clear text')).map((l) => JSON.parse(l));
  t.match(warns, [{ level: 'WARN', target: 'syncropel_fleet', msg: /^\[fleet\] coordinator_url http:\/\/0\.0\.0\.0:1 is plain HTTP beyond loopback/ }]);
});
