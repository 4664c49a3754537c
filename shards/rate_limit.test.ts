import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newBucket, take } from './rate_limit.js';

describe('token bucket', () => {
  it('grants a full burst at once, then refuses with the wait until the next token', () => {
    const b = newBucket(3, 1000);
    assert.deepEqual([take(b, 10, 3, 1000), take(b, 10, 3, 1000), take(b, 10, 3, 1000)], [0, 0, 0]);
    // 10/s: one token every 100 ms.
    assert.equal(take(b, 10, 3, 1000), 100);
  });

  it('refills by elapsed time, never above the burst', () => {
    const b = newBucket(2, 0);
    take(b, 10, 2, 0);
    take(b, 10, 2, 0);
    assert.equal(take(b, 10, 2, 50), 50, 'half a token after 50 ms: wait 50 ms more');
    assert.equal(take(b, 10, 2, 100), 0, 'a whole token after 100 ms');
    // A long pause refills to the burst, not beyond it.
    const granted = [0, 0, 0].map(() => take(b, 10, 2, 1_000_000));
    assert.deepEqual(granted.map((w) => w === 0), [true, true, false]);
  });

  it('waiting retry_after_ms is always enough for the next take', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 60 }),
        (rate, burst, gaps) => {
          let now = 0;
          const b = newBucket(burst, now);
          for (const g of gaps) {
            now += g;
            const wait = take(b, rate, burst, now);
            if (wait > 0) {
              now += wait;
              assert.equal(take(b, rate, burst, now), 0, `after waiting ${wait} ms`);
            }
          }
        },
      ),
    );
  });

  it('never grants more than burst + rate * elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 300 }),
        (rate, burst, gaps) => {
          let now = 5_000;
          const start = now;
          const b = newBucket(burst, now);
          let granted = 0;
          for (const g of gaps) {
            now += g;
            if (take(b, rate, burst, now) === 0) granted++;
            const allowed = burst + (rate * (now - start)) / 1000;
            assert.ok(granted <= allowed + 1e-9, `granted ${granted} > ${allowed}`);
          }
        },
      ),
    );
  });
});
