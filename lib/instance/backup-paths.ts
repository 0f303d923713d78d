// Where an instance's startup backups live (SPEC §1): outside the home, so `rm -rf ~/.syncro` cannot take
// them with it — ${XDG_DATA_HOME:-~/.local/share}/syncropel/backups/<instance-key>/.

import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { userHome, type Env } from './home.js';

/** `${XDG_DATA_HOME:-$HOME/.local/share}/syncropel/backups` (a relative XDG_DATA_HOME is ignored, as the XDG spec says). */
function backupsRoot(env: Env = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  const dataHome = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(userHome(env), '.local', 'share');
  return join(dataHome, 'syncropel', 'backups');
}

/**
 * `instance-<16 hex of the instance DID>` once the instance has a DID; before that,
 * `home-<first 8 hex of sha256(home)>` so two homes on one machine never share a directory.
 */
function instanceBackupKey(home: string, instanceDid: string | undefined): string {
  if (instanceDid !== undefined) return `instance-${instanceDid.slice(instanceDid.lastIndexOf(':') + 1)}`;
  return `home-${createHash('sha256').update(home, 'utf8').digest('hex').slice(0, 8)}`;
}

/** The directory holding this instance's `hub.db.bak` and its kept generations. */
export function startupBackupDir(home: string, instanceDid: string | undefined, env: Env = process.env): string {
  return join(backupsRoot(env), instanceBackupKey(home, instanceDid));
}
