// Structured queries: operator names are looked up as data, never as object properties.

import t from 'tap';
import { compileQuery } from '../../lib/store/query.js';

t.test('range operators named after built-in properties are unknown operators, not SQL', async (t) => {
  for (const op of ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf']) {
    for (const field of ['sequence', 'clock', 'body.n']) {
      const where = JSON.parse(`{"${field}": {"${op}": 1}}`);
      t.throws(() => compileQuery({ where }), { code: 'INVALID_QUERY', field: `where.${field}.${op}`, message: /unknown operator \(use gt, gte, lt, lte\)/ }, `${field}.${op}`);
    }
  }
  const ok = compileQuery({ where: { sequence: { gt: 1, lte: 9 } } });
  t.equal(ok.where, 'sequence > ? AND sequence <= ?');
  t.same(ok.params, [1, 9]);
});
