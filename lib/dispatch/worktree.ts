// Git working trees of tasks: which tree a task's work is in (its worktree `<repo>-<ALIAS>` beside the repository
// when one exists, else the repository at the current directory), whether that tree is clean, and its HEAD. The
// completion gate reads this so a task is never credited with changes nobody committed.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

interface TreeState {
  /** The top of the working tree, or null when the directory is in no git repository. */
  top: string | null;
  head: string | null;
  /** Modified, staged, deleted and untracked paths (`git status --porcelain`), relative to the top. */
  dirty: string[];
}

function git(cwd: string, args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 30_000, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } });
  if (r.error) throw new Error(`git ${args[0]} could not run: ${r.error.message}`);
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() };
}

/** A task's worktree: `<repo>-<ALIAS>` in the repository's parent directory. */
function worktreePath(repo: string, alias: string): string {
  const top = resolve(repo);
  return join(dirname(top), `${basename(top)}-${alias}`);
}

/** The tree a task's work is judged in: its worktree when it exists, else `cwd`. */
export function taskTree(repo: string | null, alias: string, cwd: string): string {
  if (repo !== null) {
    const wt = worktreePath(repo, alias);
    if (existsSync(wt)) return wt;
  }
  return cwd;
}

/** The state of the git working tree containing `dir`. */
export function treeState(dir: string): TreeState {
  const top = git(dir, ['rev-parse', '--show-toplevel']);
  if (!top.ok) return { top: null, head: null, dirty: [] };
  const root = top.out.trim();
  const head = git(root, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  // -z: paths exactly as they are, whatever characters they hold; untracked files listed one by one.
  const status = git(root, ['status', '--porcelain=v1', '-z', '--untracked-files=all']);
  if (!status.ok) throw new Error(`git status failed in ${root}: ${status.err}`);
  const dirty: string[] = [];
  const parts = status.out.split('\0');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length < 4) continue;
    dirty.push(p.slice(3));
    // A rename or copy is followed by its source path.
    if (p[0] === 'R' || p[0] === 'C') i++;
  }
  return { top: root, head: head.ok ? head.out.trim() : null, dirty };
}
