// The fleet drill's clock for a SIGKILLed member: waits until the coordinator has just received a beat from it,
// SIGKILLs it (by the PID given), then asks the coordinator for its status every 100 ms until it is archived (or
// LIMIT_MS pass). Prints one JSON document: the samples, each with its time after the kill and the age of the
// member's last heartbeat when the coordinator answered.
//
//   node drills/fleet-timeline.mjs COORDINATOR_SOCKET DID PID LIMIT_MS

import { request } from 'node:http';

const [socketPath, did, pidText, limitText] = process.argv.slice(2);
const pid = Number(pidText);
const limit = Number(limitText ?? 20000);
if (!socketPath || !did || !Number.isInteger(pid) || pid <= 1) {
  console.error('usage: node drills/fleet-timeline.mjs COORDINATOR_SOCKET DID PID LIMIT_MS');
  process.exit(2);
}

function member() {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'GET', path: `/v1/fleet/instances/${encodeURIComponent(did)}`, agent: false, timeout: 2000 }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d)).on('end', () => {
        const at = Date.now();
        try {
          const m = JSON.parse(s);
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${s}`));
          resolve({ at, status: m.status, last: Date.parse(m.last_heartbeat) });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 2s')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A fresh beat first: the kill then comes within a few milliseconds of the member's last heartbeat.
const first = await member();
let m = first;
for (const deadline = Date.now() + 5000; m.last === first.last; ) {
  if (Date.now() > deadline) throw new Error(`no heartbeat from ${did} for 5s before the kill (status ${m.status})`);
  await sleep(10);
  m = await member();
}
process.kill(pid, 'SIGKILL');
const killedAt = Date.now();
const samples = [];
for (;;) {
  const s = await member();
  samples.push({ t: s.at - killedAt, age: s.at - s.last, status: s.status });
  if (s.status === 'archived' || s.at - killedAt > limit) break;
  await sleep(100);
}
process.stdout.write(JSON.stringify({ killed_at: killedAt, last_beat_before_kill: killedAt - m.last, samples }) + '\n');
