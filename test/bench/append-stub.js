// Preloaded into a real `spl serve` (NODE_OPTIONS=--import=…/append-stub.js) by http-ingest's "stubbed"
// side: RecordLog#append answers without touching the store. Each draft is still sealed (its clock taken from
// a per-(thread, actor) counter, its content id computed) and numbered, so the route, validation, the content
// id and the reply cost what they cost in the real run; what is left out is the group commit: the heads
// lookup, the INSERT, its fsync and the folds' apply. The stubbed records are not in the store, so this side
// is measured for its rate only. A benchmark tool, never loaded by the product.

import { sealRecord } from '../../dist/kernel/id.js';
import { RecordLog } from '../../dist/store/record-log.js';

const clocks = new Map();
let sequence = 0;
RecordLog.prototype.append = function stubbedAppend(drafts) {
  const outcomes = drafts.map((d) => {
    const key = `${d.thread}\u0000${d.actor}`;
    const clock = d.clock ?? (clocks.get(key) ?? 0) + 1;
    clocks.set(key, clock);
    const record = { ...sealRecord(d, clock), sequence: ++sequence, created_at: new Date().toISOString() };
    return { record, created: true };
  });
  // Resolved on the next turn, as a real commit would be: the route awaits it the same way.
  return new Promise((resolve) => setImmediate(() => resolve(outcomes)));
};
