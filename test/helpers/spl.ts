// Test helpers: a temporary home per test, a free port, and the real bin/spl run as a subprocess.
// Nothing here touches the real ~: HOME and SYNCROPEL_HOME both point into the temporary directory.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SPL = fileURLToPath(new URL('../../bin/spl', import.meta.url));

export interface Home {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  port: number;
  cleanup(): void;
}

/** A clean environment: nothing inherited that would change spl's behaviour (systemd, SPL_* variables). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SPL_') || k.startsWith('SYNCROPEL_') || ['XDG_DATA_HOME', 'NOTIFY_SOCKET', 'INVOCATION_ID', 'JOURNAL_STREAM', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'TAP', 'TAP_CHILD_ID'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function makeHome(): Promise<Home> {
  const dir = mkdtempSync(join(tmpdir(), 'spl-'));
  const home = join(dir, '.syncro');
  const port = await freePort();
  return {
    dir,
    home,
    port,
    env: cleanEnv({ HOME: dir, SYNCROPEL_HOME: home }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/spl; `wrapper` (e.g. setpriv … --) runs it as another user. */
export function runSpl(args: string[], env: NodeJS.ProcessEnv, opts: { timeoutMs?: number; input?: string; cwd?: string } = {}, wrapper: string[] = []): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const argv = [...wrapper, process.execPath, SPL, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`spl ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Starts a background instance on the home's port and returns its pid. Tests talk plain HTTP to the port,
 * so TCP authentication is off unless `auth` is set (the auth tests cover the default).
 */
export async function serve(h: Home, extra: string[] = [], opts: { auth?: boolean } = {}): Promise<number> {
  const r = await runSpl(['serve', '--port', String(h.port), ...(opts.auth ? [] : ['--insecure-localhost']), ...extra], h.env);
  if (r.code !== 0) throw new Error(`spl serve failed (${r.code}): ${r.stderr}${r.stdout}`);
  return Number(readFileSync(join(h.home, 'run', 'spl.pid'), 'utf8').trim());
}

export async function stop(h: Home): Promise<RunResult> {
  return runSpl(['stop', '--port', String(h.port)], h.env);
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** A raw HTTP request to the instance's TCP port (keep-alive off so tests leave no sockets behind). */
export function http(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpVia({ host: '127.0.0.1', port }, method, path, body, headers);
}

/** The same request to any target: a TCP host and port, or a unix socket path. */
export function httpVia(target: { host: string; port: number; localAddress?: string } | { socketPath: string }, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function postJson(port: number, path: string, value: unknown): Promise<HttpResult> {
  return http(port, 'POST', path, JSON.stringify(value), { 'content-type': 'application/json' });
}

export const ALICE = 'did:sync:user:alice';
export const THREAD = 'th_' + 'a'.repeat(64);

/** An initialised home whose admin actor is `actor` (`[identity] actor` in config.toml, as an operator sets it). */
export async function adminHome(actor = 'did:sync:user:admin'): Promise<Home> {
  const h = await makeHome();
  await runSpl(['init'], h.env);
  const file = join(h.home, 'config.toml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('# actor = "did:sync:user:alice"', `actor = "${actor}"`));
  return h;
}
