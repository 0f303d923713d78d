// profile-http-ingest: where the hot route's time goes. Starts `spl serve --foreground` under `node --cpu-prof`
// in a temp home, drives POST /v1/records with http-ingest's load (32 connections), stops the instance (the
// profile is written at exit) and prints each part's share of the main thread's samples: idle, GC, the HTTP
// layer (node:http, net, the parser), koa and its router, the route's own work (validation, canonical JSON and
// the content id, sealing), the store's main-thread part (node-sqlite3's binding and the group commit), JSON and
// logging. Not a gate: a table for deciding what to make cheaper. `node test/bench/profile-http-ingest.js`.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from './http-ingest.js';
import { httpJson, makeHome, sleep, SPL } from './lib.js';

const CATEGORIES = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['program (V8/native, unattributed)', (f) => f.functionName === '(program)'],
  ['store: node-sqlite3 and the group commit', (f) => /node_modules\/sqlite3|\/store\//.test(f.url)],
  ['content id: canonical JSON, sha256', (f) => /kernel\/(canonical|id)\.js/.test(f.url) || (f.url === '' && /digest|update|Hash/.test(f.functionName))],
  ['record validation and sealing', (f) => /kernel\//.test(f.url)],
  ['engine: folds, permissions, reactors', (f) => /\/engine\//.test(f.url)],
  ['spl HTTP layer: app, routes, auth', (f) => /\/http\//.test(f.url)],
  ['koa, @koa/router, body parsing', (f) => /node_modules\/(koa|@koa|co-body|raw-body|koa-compose|inflation|type-is|mime|http-errors|statuses|content-type|iconv-lite)/.test(f.url)],
  ['logging (pino)', (f) => /node_modules\/(pino|sonic-boom|thread-stream)/.test(f.url) || /instance\/logger/.test(f.url)],
  ['node:http, net, streams', (f) => /^node:(_http|http|net|stream|internal\/(http|streams|stream_base|net|timers))/.test(f.url) || /^node:internal\/(streams|http)/.test(f.url)],
  ['JSON parse/stringify', (f) => /^(parse|stringify)$/.test(f.functionName) && f.url === ''],
  ['other node internals', (f) => f.url.startsWith('node:')],
  ['other', () => true],
];

function shares(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map(profile.nodes.map((n) => [n.id, 0]));
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  const total = profile.samples.length;
  const out = new Map(CATEGORIES.map(([name]) => [name, 0]));
  const others = new Map();
  for (const [id, c] of counts) {
    if (c === 0) continue;
    const f = byId.get(id).callFrame;
    const [name] = CATEGORIES.find(([, match]) => match(f));
    out.set(name, out.get(name) + c);
    if (name === 'other') {
      const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}`;
      others.set(k, (others.get(k) ?? 0) + c);
    }
  }
  const topOther = [...others].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, c]) => [k, c / total]);
  return { total, topOther, rows: [...out].filter(([, c]) => c > 0).sort((a, b) => b[1] - a[1]).map(([name, c]) => [name, c / total]) };
}

const h = await makeHome('spl-prof-');
const dir = mkdtempSync(join(tmpdir(), 'spl-cpuprof-'));
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, SPL, 'serve', '--foreground', '--port', String(h.port), '--insecure-localhost'], { env: h.env, stdio: 'ignore' });
try {
  for (let i = 0; i < 100 && (await httpJson(h.port, 'GET', '/health').catch(() => ({ status: 0 }))).status !== 200; i++) await sleep(100);
  const r = await load(h.port, { connections: 32, warmupS: 2, measureS: Number(process.env.PROF_SECS ?? 10) });
  console.log(`load: ${Math.round(r.rps)} req/s, ${r.measured} records in the measured window`);
} finally {
  child.kill('SIGTERM');
  await new Promise((res) => child.on('exit', res));
}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
const { total, rows, topOther } = shares(JSON.parse(readFileSync(join(dir, file), 'utf8')));
const busy = rows.filter(([n]) => n !== 'idle').reduce((a, [, s]) => a + s, 0);
console.log(`${total} samples; main thread busy ${(busy * 100).toFixed(1)}%`);
console.log('part'.padEnd(44) + 'of all   of busy');
for (const [name, s] of rows) console.log(`${name.padEnd(44)}${(s * 100).toFixed(1).padStart(5)}%  ${name === 'idle' ? '' : ((s / busy) * 100).toFixed(1).padStart(6) + '%'}`);
h.cleanup();
console.log('largest in "other":');
for (const [k, v] of topOther) console.log(`  ${(v * 100).toFixed(2).padStart(5)}%  ${k}`);
