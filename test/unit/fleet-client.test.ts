// The fleet client's start-up WARN: a token in clear text beyond loopback, and nothing otherwise.

import t from 'tap';
import { cleartextTokenWarning, fleetRequest } from '../../lib/fleet/client.js';

t.test('a fleet token over plain HTTP beyond loopback is named; HTTPS, loopback or no token is not', async (t) => {
  t.match(cleartextTokenWarning('http://10.0.0.1:9100', 'tok'), /\[fleet\] coordinator_url http:\/\/10\.0\.0\.1:9100 is plain HTTP beyond loopback: the fleet token travels in clear text/);
  t.match(cleartextTokenWarning('http://coordinator.example:9100', 'tok'), /clear text/);
  for (const url of ['https://10.0.0.1:9100', 'http://127.0.0.1:9100', 'http://localhost:9100', 'http://[::1]:9100', 'not a url']) {
    t.equal(cleartextTokenWarning(url, 'tok'), undefined, url);
  }
  t.equal(cleartextTokenWarning('http://10.0.0.1:9100', undefined), undefined, 'no token');
  t.equal(cleartextTokenWarning(undefined, 'tok'), undefined, 'no coordinator');
});

t.test('fleetRequest refuses what it cannot reach, naming it', async (t) => {
  await t.rejects(fleetRequest('ftp://10.0.0.1/x', { method: 'GET' }), { code: 'INVALID_CONFIG', message: /is not an http:\/\/ or https:\/\/ URL/ });
  await t.rejects(fleetRequest('https://127.0.0.1:1/health', { method: 'GET', caFile: '/nonexistent/ca.pem' }), { code: 'INVALID_CONFIG', message: /cannot read \[fleet\] ca_file \/nonexistent\/ca\.pem \(ENOENT\)/ });
  await t.rejects(fleetRequest('http://127.0.0.1:1/health', { method: 'GET' }), { code: 'UNAVAILABLE', reason: 'ECONNREFUSED', message: /http:\/\/127\.0\.0\.1:1 is unreachable/ });
});
