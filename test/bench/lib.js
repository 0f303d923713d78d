// Shared helpers for the benchmark suite: temp homes, free ports, the real CLI, tiny HTTP client, stats.
// Plain ESM JavaScript so `npm run bench` needs no TypeScript loader; product code comes from ../../dist.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SPL = join(ROOT, 'bin', 'spl');

/** A clean environment: nothing inherited that would change spl's behaviour. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SPL_') || k.startsWith('SYNCROPEL_')) continue;
    if (['XDG_DATA_HOME', 'NOTIFY_SOCKET', 'INVOCATION_ID', 'JOURNAL_STREAM', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A temporary directory that is both HOME and (under .syncro) SYNCROPEL_HOME. */
export async function makeHome(prefix = 'spl-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const home = join(dir, '.syncro');
  return {
    dir,
    home,
    port: await freePort(),
    env: cleanEnv({ HOME: dir, SYNCROPEL_HOME: home }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function runSpl(args, env, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SPL, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`spl ${args.join(' ')} timed out\n${stdout}${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * One request with a fresh connection; resolves with status and parsed JSON (or undefined). `to` is a loopback
 * TCP port or `{ socketPath }` (the instance's unix socket, which may name any actor without a token).
 */
export function httpJson(to, method, path, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { connection: 'close' };
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) });
    const target = typeof to === 'object' ? { socketPath: to.socketPath } : { host: '127.0.0.1', port: to };
    const req = request({ ...target, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, body: json, text });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const fmt = (n, digits = 0) =>
  Number(n).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
