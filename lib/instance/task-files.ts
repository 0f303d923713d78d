// Task content beside the home (SPEC §1): `<home>-data/tasks/<ALIAS>.md`, written atomically by the instance
// (temporary file, fsync, rename, fsync of the directory) with its sha256 kept in the record log, and checked
// against that hash on every read — a file deleted or edited outside spl is reported, never served silently.
// `aliases.toml` beside it mirrors the alias map, so the runbook's backup tar holds it; the records stay the
// authority and spl never reads the mirror back.

import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TaskContent, TasksState } from '../engine/folds/tasks.js';
import { tasksFold } from '../engine/folds/tasks.js';
import type { TaskContentState } from '../kernel/wire.js';
import { temporaryName } from '../store/backup-names.js';
import type { HomePaths } from './home.js';
import type { Service } from './services.js';

interface WrittenContent {
  path: string;
  sha256: string;
  bytes: number;
}

const RESTORE = 'restore the data directory from your off-host backup (the runbook\'s syncro-data.<date>.tar.gz, or spl backup restore for the store)';

/** The file a task's brief is written to, relative to the data directory. */
function contentPath(alias: string): string {
  return `tasks/${alias}.md`;
}

/** The file: front matter naming the task, then the brief as given. */
function renderContent(front: { alias: string; thread: string; title: string }, brief: string): string {
  const body = brief.endsWith('\n') || brief === '' ? brief : brief + '\n';
  return `---\nalias: ${front.alias}\nthread: ${front.thread}\ntitle: ${JSON.stringify(front.title)}\n---\n\n${body}`;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `text` to `file` so that a crash leaves either the old file or the new one, never a torn one. */
function writeAtomically(file: string, text: string): void {
  const tmp = temporaryName(file);
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dirname(file));
}

/** aliases.toml: a header, then one `"ALIAS" = "th_…"` line per task, in alias order. */
function renderAliases(state: TasksState): string {
  const lines = [...state.byAlias].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([alias, thread]) => `"${alias}" = "${thread}"\n`);
  return `# Task alias → thread id, mirrored by spl from the record log (the records are the authority; this copy is\n# for backups and for people). spl rewrites it whenever a task is added; edits here are not read.\n${lines.join('')}`;
}

export class TaskFiles {
  constructor(private readonly paths: Pick<HomePaths, 'dataDir' | 'tasksDir' | 'aliasesFile'>) {}

  /** Writes a task's content file and returns what its record keeps: the relative path, sha256 and size. */
  write(front: { alias: string; thread: string; title: string }, brief: string): WrittenContent {
    const text = renderContent(front, brief);
    const path = contentPath(front.alias);
    writeAtomically(join(this.paths.dataDir, path), text);
    return { path, sha256: sha256(text), bytes: Buffer.byteLength(text) };
  }

  /** A content file as it is, for a remote dispatch that carries it to a worker (undefined when unreadable). */
  raw(content: TaskContent): string | undefined {
    try {
      return readFileSync(join(this.paths.dataDir, content.path), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Writes a content file a coordinator sent, after checking it is the one its record names (path and sha256). */
  importFile(path: string, text: string, expectedSha256: string): void {
    if (!/^tasks\/[A-Z][A-Z0-9]{0,7}-[0-9]{1,6}\.md$/.test(path)) throw new Error(`content path ${path} is not a task content path`);
    const actual = sha256(text);
    if (actual !== expectedSha256) throw new Error(`content of ${path} has sha256 ${actual.slice(0, 12)}…, its record says ${expectedSha256.slice(0, 12)}…`);
    writeAtomically(join(this.paths.dataDir, path), text);
  }

  /** Removes a content file whose record could not be written (nothing refers to it). */
  discard(path: string): void {
    rmSync(join(this.paths.dataDir, path), { force: true });
  }

  /** The file's brief (what follows the front matter), for a rewrite that changes only the title. */
  brief(content: TaskContent): string | undefined {
    try {
      const text = readFileSync(join(this.paths.dataDir, content.path), 'utf8');
      const m = /^---\n[\s\S]*?\n---\n\n?/.exec(text);
      return m ? text.slice(m[0].length) : text;
    } catch {
      return undefined;
    }
  }

  /** Whether the content file is what the records say it is. */
  check(content: TaskContent | null): TaskContentState {
    if (content === null) return { path: '', sha256: '', bytes: 0, state: 'none', detail: 'the task has no content record' };
    const file = join(this.paths.dataDir, content.path);
    const base = { path: file, sha256: content.sha256, bytes: content.bytes };
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ...base, state: 'missing', detail: `${file} is missing: ${RESTORE}` };
      return { ...base, state: 'unreadable', detail: `${file} cannot be read (${code ?? (err as Error).message})` };
    }
    const actual = sha256(data);
    if (actual === content.sha256) return { ...base, state: 'ok' };
    return { ...base, state: 'changed', actual_sha256: actual, detail: `content changed outside spl: ${file} has sha256 ${actual.slice(0, 12)}…, the record ${content.record.slice(0, 12)}… says ${content.sha256.slice(0, 12)}…; record the new text with spl task edit, or ${RESTORE}` };
  }

  /** Whether aliases.toml holds exactly the alias map the records give. */
  aliasesMirrored(state: TasksState): boolean {
    try {
      return readFileSync(this.paths.aliasesFile, 'utf8') === renderAliases(state);
    } catch {
      return false;
    }
  }

  /** Rewrites aliases.toml from the alias map when it differs; returns whether it did. */
  mirrorAliases(state: TasksState): boolean {
    if (this.aliasesMirrored(state)) return false;
    writeAtomically(this.paths.aliasesFile, renderAliases(state));
    return true;
  }
}

/**
 * Keeps aliases.toml in step with the record log: written once the instance serves, then after every committed
 * group that opens a task (a reactor, so the commit path never waits on the file).
 */
export function aliasMirrorService(files: TaskFiles): Service {
  return {
    name: 'task-alias-mirror',
    start(ctx) {
      const log = ctx.logger.child({ target: 'syncropel_engine::tasks' });
      const mirror = (): void => {
        try {
          if (files.mirrorAliases(ctx.engine.state(tasksFold))) log.debug('aliases.toml rewritten');
        } catch (err) {
          log.warn({ err: (err as Error).message }, `cannot write aliases.toml: ${(err as Error).message}; the alias map is intact in the record log`);
        }
      };
      mirror();
      ctx.engine.react('task-alias-mirror', (records) => {
        if (records.some((r) => r.act === 'INTEND' && r.body.task === true)) mirror();
      });
    },
    stop() {},
  };
}
