// `instanceof SplError` across copies of kernel/errors.js: the CLI's bundles (dist/cjs/) carry their own copy and
// load modules from dist/ that throw with theirs. A subclass keeps the ordinary prototype check.

import t from 'tap';
import { CelCostError } from '../../lib/engine/cel-limits.js';
import { isSplError, SplError } from '../../lib/kernel/errors.js';

t.test('an SplError is one, whichever copy of the class made it', async (t) => {
  const mine = new SplError('NOT_RUNNING', 'nothing here', { fix: 'spl serve' });
  t.ok(mine instanceof SplError);
  t.ok(isSplError(mine));
  t.equal(mine.exitCode, 3);

  // What another copy's SplError looks like from here: its own prototype chain, and the shared mark.
  const foreign = new SplError('USAGE', 'bad flag');
  Object.setPrototypeOf(foreign, Error.prototype);
  t.ok(foreign instanceof SplError, 'marked by another copy: still an SplError');
  t.ok(isSplError(foreign));

  t.notOk(new Error('plain') instanceof SplError, 'a plain Error is not');
  t.notOk(Object.assign(new Error('look-alike'), { name: 'SplError', code: 'USAGE', exitCode: 2 }) instanceof SplError, 'a look-alike without the mark is not');
  t.notOk((null as unknown) instanceof SplError);
  t.notOk(('SplError' as unknown) instanceof SplError);
});

t.test('two real copies: lib/ (as the tests load it) and dist/ (as the build emits it)', async (t) => {
  const distPath: string = new URL('../../dist/kernel/errors.js', import.meta.url).href;
  const other = (await import(distPath)) as typeof import('../../lib/kernel/errors.js');
  t.not(other.SplError, SplError, 'two distinct classes');
  const theirs = new other.SplError('NOT_RUNNING', 'from the other copy');
  t.ok(theirs instanceof SplError, "the other copy's error is an SplError here");
  t.ok(isSplError(theirs));
  t.ok(new SplError('USAGE', 'mine') instanceof other.SplError, 'and the other way round');
  t.notOk(new Error('plain') instanceof other.SplError);
});

t.test('a subclass keeps the prototype check', async (t) => {
  const cost = new CelCostError('iterations', 'over budget');
  t.ok(cost instanceof CelCostError);
  t.ok(cost instanceof SplError, 'a CelCostError is an SplError');
  t.notOk(new SplError('USAGE', 'x') instanceof CelCostError, 'an SplError is not a CelCostError');
});
