// Who holds a TCP port: /proc/net/tcp maps the listener to a socket inode, and
// /proc/<pid>/fd links map the inode to a process. Processes of other users may be invisible to us.

import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { commandLine } from './pidfile.js';

export interface Holder {
  pid: number;
  command: string;
}

function listeningTcpInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = f[1]!;
      if (f[3] === '0A' && local.endsWith(':' + hexPort)) inodes.add(f[9]!);
    }
  }
  return inodes;
}

function holderOfInodes(inodes: Set<string>): Holder | undefined {
  if (inodes.size === 0) return undefined;
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (wanted.has(target)) {
        const pid = Number(entry);
        return { pid, command: commandLine(pid) ?? '?' };
      }
    }
  }
  return undefined;
}

/** The process listening on TCP `port` (any address), when it can be seen. */
export function tcpPortHolder(port: number): Holder | undefined {
  return holderOfInodes(listeningTcpInodes(port));
}

export function describeHolder(h: Holder | undefined): string {
  return h ? `held by pid ${h.pid} (${h.command})` : 'held by a process this user cannot see';
}

/** True when `pid` has `path` open: the home lock file tells which home an instance serves. */
export function holdsFile(pid: number, path: string): boolean {
  let fds: string[];
  let real: string;
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
    real = realpathSync(path);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === real;
    } catch {
      return false;
    }
  });
}
