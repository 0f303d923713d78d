// firstInvalidUtf8 agrees with Node's own UTF-8 validator on any bytes, and names the first bad byte.

import t from 'tap';
import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { firstInvalidUtf8 } from '../../lib/http/body.js';

t.test('agrees with buffer.isUtf8; the bytes before the offending character are valid, and the offset is where it breaks', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 24 }), fc.string({ unit: 'binary' }).map((s) => new Uint8Array(Buffer.from(s)))), (bytes) => {
      const at = firstInvalidUtf8(bytes);
      if (isUtf8(bytes)) return at === -1;
      const startOfChar = [0, 1, 2, 3].some((back) => at - back >= 0 && isUtf8(bytes.subarray(0, at - back)));
      return at >= 0 && at < bytes.length && startOfChar && !isUtf8(bytes.subarray(0, at + 1));
    }),
    { numRuns: 5000 },
  );
  t.pass('5000 byte strings checked');
});

t.test('the offsets an operator sees', async (t) => {
  t.equal(firstInvalidUtf8(Buffer.from([0x61, 0xff, 0xfe, 0x62])), 1, 'a stray 0xff');
  t.equal(firstInvalidUtf8(Buffer.from([0x61, 0xc3])), 1, 'a character cut off by the end');
  t.equal(firstInvalidUtf8(Buffer.from([0xe2, 0x82, 0x41])), 2, 'a bad continuation byte is named itself');
  t.equal(firstInvalidUtf8(Buffer.from([0xc0, 0xaf])), 0, 'an overlong form');
  t.equal(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80])), 1, 'a UTF-16 surrogate');
  t.equal(firstInvalidUtf8(Buffer.from('grüße 🌍')), -1);
});
