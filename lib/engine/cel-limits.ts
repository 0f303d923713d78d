// What a CEL expression may cost: limits checked when it compiles (size and shape of the tree) and the
// budget an evaluation may spend (comprehension iterations and time), with the tree rewrite that lets the
// budget be enforced. The library evaluates comprehensions in a plain loop with no hook, so every loop
// condition is wrapped in an internal call the budget answers; source text cannot name it.

import type { parse } from '@bufbuild/cel';
import { SplError } from '../kernel/errors.js';

type ParsedExpr = ReturnType<typeof parse>;
type Expr = ParsedExpr['expr'];

// ---------------------------------------------------------------------------------------------
// Compile-time limits

/**
 * Most tree nodes (after macros expand; each macro adds about six). A rule of a line or two is under 100
 * nodes; 1000 leaves room for an allow-list of a few hundred DIDs while bounding the work one loop
 * iteration can do and the size of a planned program.
 */
export const MAX_AST_NODES = 1000;

/**
 * Deepest nesting of the tree. Real rules nest under 15 (a macro adds 2–3); 64 allows long
 * left-associative chains such as `a + b + … ` while keeping the recursive planner and evaluator far
 * from the stack limit.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * Most comprehensions (all, exists, exists_one, map, filter) nested inside one another's loop body.
 * Cost multiplies with each level (n³ for three loops over n items); rules need one, occasionally two
 * (`items.all(i, i.tags.exists(t, …))`). Chained calls (`xs.filter(…).map(…)`) do not nest.
 */
export const MAX_COMPREHENSION_NESTING = 3;

// ---------------------------------------------------------------------------------------------
// Evaluation budgets

export interface CelBudget {
  /** Comprehension iterations, summed over every loop of one evaluation. */
  iterations: number;
  /** Time from the first comprehension iteration, checked every CLOCK_EVERY iterations. */
  timeMs: number;
}

/**
 * Stored rules (permission and health) run on the request path, every request, in the server's thread:
 * a realistic rule costs microseconds and iterates over at most a record's lists. 10 000 iterations is
 * about 5–10 ms; a rule over either budget is skipped as not matching.
 */
export const RULE_BUDGET: Readonly<CelBudget> = Object.freeze({ iterations: 10_000, timeMs: 10 });

/**
 * Expressions sent to POST /v1/engine/expr (any caller, any text), evaluated in a separate thread: a
 * runaway evaluation stops within 100 ms.
 */
export const UNTRUSTED_BUDGET: Readonly<CelBudget> = Object.freeze({ iterations: 100_000, timeMs: 100 });

// ---------------------------------------------------------------------------------------------
// Cost failures

/** Which limit an expression exceeded. */
export type CelLimit = 'ast_nodes' | 'nesting_depth' | 'comprehension_nesting' | 'iterations' | 'time' | 'memory';

const SIMPLIFY = 'simplify the expression: fewer nested macros (all, exists, map, filter), shorter lists';

/** An expression over a cost limit: SplError EXPRESSION_TOO_COSTLY (HTTP 422) naming the limit. */
export class CelCostError extends SplError {
  constructor(readonly limit: CelLimit, message: string) {
    super('EXPRESSION_TOO_COSTLY', message, { field: 'expression', fix: SIMPLIFY });
    this.name = 'CelCostError';
  }
}

export function isCelCostError(err: unknown): err is CelCostError {
  return err instanceof CelCostError;
}

// ---------------------------------------------------------------------------------------------
// Measuring the tree

interface TreeShape {
  nodes: number;
  depth: number;
  /** Deepest chain of comprehensions each inside the previous one's loop body. */
  comprehensionNesting: number;
}

/** Children of a node, each with whether it is inside the node's loop body (only for comprehensions). */
function children(e: Expr, visit: (child: Expr | undefined, inLoop: boolean) => void): void {
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      visit(k.value.operand, false);
      return;
    case 'callExpr':
      visit(k.value.target, false);
      for (const a of k.value.args) visit(a, false);
      return;
    case 'listExpr':
      for (const x of k.value.elements) visit(x, false);
      return;
    case 'structExpr':
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') visit(entry.keyKind.value, false);
        visit(entry.value, false);
      }
      return;
    case 'comprehensionExpr':
      // The range, initial value and result run once per run of the comprehension; the condition and
      // step run once per item, so what they contain multiplies.
      visit(k.value.iterRange, false);
      visit(k.value.accuInit, false);
      visit(k.value.loopCondition, true);
      visit(k.value.loopStep, true);
      visit(k.value.result, false);
      return;
    default:
      return;
  }
}

/** Counts nodes, depth and comprehension nesting; stops early once a limit is passed. Iterative, so a deep tree cannot exhaust the stack here. */
export function measure(root: Expr): TreeShape {
  const shape: TreeShape = { nodes: 0, depth: 0, comprehensionNesting: 0 };
  const stack: Array<{ e: Expr; depth: number; loops: number }> = [{ e: root, depth: 1, loops: 0 }];
  while (stack.length > 0) {
    const { e, depth, loops } = stack.pop()!;
    shape.nodes++;
    if (depth > shape.depth) shape.depth = depth;
    const isLoop = e.exprKind.case === 'comprehensionExpr';
    if (isLoop && loops + 1 > shape.comprehensionNesting) shape.comprehensionNesting = loops + 1;
    if (shape.nodes > MAX_AST_NODES * 4) break; // far past the limit: the count is only reported
    children(e, (child, inLoop) => {
      if (child) stack.push({ e: child, depth: depth + 1, loops: loops + (isLoop && inLoop ? 1 : 0) });
    });
  }
  return shape;
}

/** Throws CelCostError for the first compile-time limit the tree exceeds. */
export function checkShape(root: Expr): void {
  const s = measure(root);
  if (s.comprehensionNesting > MAX_COMPREHENSION_NESTING) {
    throw new CelCostError('comprehension_nesting', `comprehensions nest ${s.comprehensionNesting} deep; the limit is ${MAX_COMPREHENSION_NESTING} (MAX_COMPREHENSION_NESTING): each level multiplies the work`);
  }
  if (s.nodes > MAX_AST_NODES) {
    const n = s.nodes > MAX_AST_NODES * 4 ? `more than ${MAX_AST_NODES * 4}` : String(s.nodes);
    throw new CelCostError('ast_nodes', `the expression has ${n} nodes; the limit is ${MAX_AST_NODES} (MAX_AST_NODES)`);
  }
  if (s.depth > MAX_NESTING_DEPTH) {
    throw new CelCostError('nesting_depth', `the expression nests ${s.depth} deep; the limit is ${MAX_NESTING_DEPTH} (MAX_NESTING_DEPTH)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Instrumenting the tree

/** Wraps every comprehension's loop condition; answers the condition, or an error once the budget is spent. */
export const LOOP_FUNCTION = '@budget_loop';
/** Replaces the `@result + [x]` step of map and filter: appends in place instead of nesting lazy concatenations. */
export const APPEND_FUNCTION = '@budget_append';
/** Functions source text may never call (the parser cannot produce names starting with @; the reference check refuses them too). */
export const INTERNAL_FUNCTIONS: ReadonlySet<string> = new Set([LOOP_FUNCTION, APPEND_FUNCTION]);

function call(id: bigint, fn: string, args: Expr[]): Expr {
  return {
    $typeName: 'cel.expr.Expr', id,
    exprKind: { case: 'callExpr', value: { $typeName: 'cel.expr.Expr.Call', function: fn, args } },
  } as Expr;
}

/** `accu + [x]` as the macros write it: rewritten to the in-place append. */
function rewriteAppend(e: Expr | undefined, accuVar: string): void {
  if (e?.exprKind.case !== 'callExpr') return;
  const c = e.exprKind.value;
  if (c.function === '_?_:_' && c.args.length === 3) {
    rewriteAppend(c.args[1], accuVar);
    return;
  }
  const [a, b] = c.args;
  if (c.function === '_+_' && c.target === undefined && c.args.length === 2 && a?.exprKind.case === 'identExpr' && a.exprKind.value.name === accuVar && b?.exprKind.case === 'listExpr') {
    c.function = APPEND_FUNCTION;
  }
}

/**
 * Rewrites a parsed (and already checked) tree in place: each comprehension's loop condition c becomes
 * @budget_loop(c), and map/filter steps append in place. Map builds its result as `@result + [x]`, which
 * in this library nests one lazy concatenation per item: reading a 5000-item result then overflows the
 * stack and costs n² — work no loop condition would see.
 */
export function instrument(root: Expr): void {
  const stack: Expr[] = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    if (e.exprKind.case === 'comprehensionExpr') {
      const c = e.exprKind.value;
      if (c.loopCondition) c.loopCondition = call(e.id, LOOP_FUNCTION, [c.loopCondition]);
      rewriteAppend(c.loopStep, c.accuVar);
    }
    children(e, (child) => {
      if (child) stack.push(child);
    });
  }
}
