// Git working trees of tasks: which tree a task's work is in (its worktree `<repo>-<ALIAS>` beside the repository
// when one exists, else the repository at the current directory), whether that tree is clean, and its HEAD. The
// completion gate reads this so a task is never credited with changes nobody committed.

import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SplError } from '../kernel/errors.js';

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
export function worktreePath(repo: string, alias: string): string {
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

/** The paths `git status --porcelain=v1 -z` lists. */
function dirtyPaths(out: string): string[] {
  const dirty: string[] = [];
  const parts = out.split('\0');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length < 4) continue;
    dirty.push(p.slice(3));
    // A rename or copy is followed by its source path.
    if (p[0] === 'R' || p[0] === 'C') i++;
  }
  return dirty;
}

// -z: paths exactly as they are, whatever characters they hold; untracked files listed one by one.
const STATUS = ['status', '--porcelain=v1', '-z', '--untracked-files=all'];

/** The top of the git working tree containing `dir`, or null outside one. */
export function repoTop(dir: string): string | null {
  const top = git(dir, ['rev-parse', '--show-toplevel']);
  return top.ok ? top.out.trim() : null;
}

/** The state of the git working tree containing `dir`. */
export function treeState(dir: string): TreeState {
  const top = git(dir, ['rev-parse', '--show-toplevel']);
  if (!top.ok) return { top: null, head: null, dirty: [] };
  const root = top.out.trim();
  const head = git(root, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  const status = git(root, STATUS);
  if (!status.ok) throw new Error(`git status failed in ${root}: ${status.err}`);
  return { top: root, head: head.ok ? head.out.trim() : null, dirty: dirtyPaths(status.out) };
}

// The instance's side: the same questions without blocking the event loop (a worktree add or a status in a large
// repository takes a while), and the worktree a dispatch runs in.

/** git without a shell, asynchronously; never throws for a non-zero exit (ok says). */
export function gitAsync(cwd: string, args: string[], timeoutMs = 120_000): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((resolveGit) => {
    execFile('git', args, { cwd, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0' } }, (err, out, errOut) => {
      resolveGit({ ok: err === null, out: out ?? '', err: (errOut ?? '').trim() || (err ? err.message : '') });
    });
  });
}

export interface WorktreeState extends TreeState {
  /** Commits on the task branch that the repository's HEAD does not have. */
  ahead: string[];
}

/** A task worktree's HEAD, uncommitted paths, and the commits it has that the repository's HEAD lacks. */
export async function worktreeState(worktree: string, repo: string): Promise<WorktreeState | null> {
  if (!existsSync(worktree)) return null;
  const head = await gitAsync(worktree, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  const status = await gitAsync(worktree, STATUS);
  if (!status.ok) return null;
  const base = await gitAsync(repo, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  const log = base.ok && head.ok ? await gitAsync(worktree, ['log', '--format=%h %s', `${base.out.trim()}..HEAD`]) : { ok: false, out: '' };
  return {
    top: worktree, head: head.ok ? head.out.trim() : null, dirty: dirtyPaths(status.out),
    ahead: log.ok ? log.out.split('\n').filter((l) => l !== '') : [],
  };
}

export interface PreparedWorktree {
  path: string;
  branch: string;
  /** The repository HEAD the branch was made from (or the branch's own HEAD when reused). */
  head: string;
  reused: boolean;
  /** `git log --oneline` of the branch beyond the repository's HEAD, for the resume notice. */
  prior: string[];
  /** Uncommitted paths found in a reused worktree. */
  dirty: string[];
}

function worktreeRefusal(message: string, fix: string): SplError {
  return new SplError('WORKTREE_CONFLICT', message, { fix });
}

/**
 * The worktree `<repo>-<ALIAS>` on branch `task/<ALIAS>`. Fresh: created from the repository's HEAD (an existing one
 * that holds nothing is used as it is); refused when it holds uncommitted files or commits, or the branch holds
 * commits the repository lacks. With `resume`: the
 * existing worktree as it is, or one re-created on the existing branch; nothing is ever deleted or reset.
 */
export async function prepareWorktree(repo: string, alias: string, resume: boolean): Promise<PreparedWorktree> {
  const path = worktreePath(repo, alias);
  const branch = `task/${alias}`;
  const repoHead = await gitAsync(repo, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  if (!repoHead.ok) throw new SplError('INVALID_REQUEST', `${repo} has no commits, and a worktree needs one to branch from`, { fix: `git -C ${repo} commit --allow-empty -m init` });
  const branchHead = await gitAsync(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
  if (existsSync(path)) {
    const st = await worktreeState(path, repo);
    if (st === null || st.head === null) throw worktreeRefusal(`${path} exists but is not a git worktree`, 'move it aside, then dispatch again');
    if (!resume && (st.dirty.length > 0 || st.ahead.length > 0)) {
      throw worktreeRefusal(`${path} holds an earlier attempt's work (${st.dirty.length} uncommitted file(s), ${st.ahead.length} commit(s) the repository lacks)`, `continue in it: spl task dispatch ${alias} --resume; or salvage it and remove it (git worktree remove ${path}) for a fresh start`);
    }
    // Resume: as it is. Fresh: it holds nothing, so it serves as a fresh one.
    return { path, branch, head: st.head, reused: true, prior: resume ? st.ahead : [], dirty: resume ? st.dirty : [] };
  }
  if (branchHead.ok) {
    const ahead = await gitAsync(repo, ['log', '--format=%h %s', `${repoHead.out.trim()}..${branch}`]);
    const prior = ahead.out.split('\n').filter((l) => l !== '');
    if (!resume && prior.length > 0) throw worktreeRefusal(`branch ${branch} has ${prior.length} commit(s) the repository's HEAD lacks`, `continue on it: spl task dispatch ${alias} --resume; or merge it first (git merge ${branch} --ff-only)`);
    // Resume: the branch as it is. Fresh and fully merged: move the branch to HEAD (it loses nothing).
    const args = resume ? ['worktree', 'add', path, branch] : ['worktree', 'add', '-B', branch, path, 'HEAD'];
    const added = await gitAsync(repo, args);
    if (!added.ok) throw new SplError('WORKTREE_CONFLICT', `git worktree add ${path} failed: ${added.err}`, { fix: `git -C ${repo} worktree list; git -C ${repo} worktree prune` });
    return { path, branch, head: (resume ? branchHead.out : repoHead.out).trim(), reused: false, prior: resume ? prior : [], dirty: [] };
  }
  const added = await gitAsync(repo, ['worktree', 'add', '-b', branch, path, 'HEAD']);
  if (!added.ok) throw new SplError('WORKTREE_CONFLICT', `git worktree add ${path} failed: ${added.err}`, { fix: `git -C ${repo} worktree list; git -C ${repo} worktree prune` });
  return { path, branch, head: repoHead.out.trim(), reused: false, prior: [], dirty: [] };
}
