// Shape rules for lib/ that keep the seams open: no function so long that the next subsystem has to be wired
// into the middle of it, and no process supervision in the CLI layer (it parses and prints; lib/instance runs
// the process). Read from the TypeScript sources with the compiler's own parser.

import t from 'tap';
import ts from 'typescript';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));
const MAX_FUNCTION_LINES = 69;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

interface FunctionSpan {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function functionsOf(file: string): FunctionSpan[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: FunctionSpan[] = [];
  const lineOf = (pos: number): number => src.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const named = (n as { name?: ts.Node }).name ?? (n.parent as { name?: ts.Node }).name;
      const start = lineOf(n.getStart(src));
      found.push({ file: relative(LIB, file), name: named ? named.getText(src) : '<anonymous>', line: start, lines: lineOf(n.end) - start + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return found;
}

t.test(`no function in lib/ is longer than ${MAX_FUNCTION_LINES} lines`, async (t) => {
  const all = sources(LIB).flatMap(functionsOf);
  t.ok(all.length > 300, `the walk finds the functions (${all.length})`);
  const long = all.filter((f) => f.lines > MAX_FUNCTION_LINES).sort((a, b) => b.lines - a.lines);
  t.same(long.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`), [], 'split these into named steps');
});

t.test('lib/cli holds no process supervision', async (t) => {
  const files = sources(join(LIB, 'cli'));
  t.ok(files.length > 5);
  // Signal handlers, crash handlers and child processes belong to lib/instance (supervisor.ts, supervision.ts, daemon.ts).
  const forbidden = [/process\.(on|once|addListener)\(\s*['"](SIG\w+|uncaughtException|unhandledRejection|exit)['"]/, /from ['"]node:child_process['"]|import\(['"]node:child_process['"]\)/, /\bsd_notify|notifyReady\b/];
  const hits = files.flatMap((f) => {
    const text = readFileSync(f, 'utf8');
    return forbidden.filter((re) => re.test(text)).map((re) => `${relative(LIB, f)} matches ${re}`);
  });
  t.same(hits, []);
});
