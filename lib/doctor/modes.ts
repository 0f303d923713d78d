// File modes and ownership: which paths are looser than they must be, and the one chmod line that fixes them.

import { lstatSync, statSync } from 'node:fs';
import { shellQuote } from '../kernel/text.js';
import { formatMode } from './format.js';

export { shellQuote };

export interface ModeProblem {
  path: string;
  mode: number;
  want: number;
}

/**
 * The path's problem when it grants anything beyond `want` (e.g. 0o600); undefined when tight or absent.
 * Symlinks are followed: what matters is the mode of what they point at.
 */
export function looserThan(path: string, want: number): ModeProblem | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  return (mode & ~want) !== 0 ? { path, mode, want } : undefined;
}

/** True when a problem lets users other than the owner and group in (world bits). */
export function worldAccessible(p: ModeProblem): boolean {
  return (p.mode & 0o007) !== 0;
}

export function describeProblems(problems: ModeProblem[]): string {
  return problems.map((p) => `${p.path} is ${formatMode(p.mode)} (want ${formatMode(p.want)})`).join('; ');
}

export function chmodFix(problems: ModeProblem[]): string {
  const byMode = new Map<number, string[]>();
  for (const p of problems) byMode.set(p.want, [...(byMode.get(p.want) ?? []), shellQuote(p.path)]);
  return [...byMode].map(([want, files]) => `chmod ${want.toString(8)} ${files.join(' ')}`).join(' && ');
}

/** Paths owned by someone other than `uid` (the home's owner): left behind by e.g. a `sudo spl …`, unusable by the service. */
export function ownedByOthers(paths: string[], uid: number): string[] {
  return paths.filter((p) => {
    try {
      return lstatSync(p).uid !== uid;
    } catch {
      return false;
    }
  });
}
