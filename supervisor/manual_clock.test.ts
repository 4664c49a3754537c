import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './manual_clock.js';

test('timers fire in due order at their due time, only when advanced past', () => {
  const clock = new ManualClock(100);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  const c = clock.setTimeout(() => fired.push('c'), 15);
  clock.clearTimeout(c);
  clock.advance(9);
  assert.deepEqual(fired, []);
  clock.advance(20);
  assert.deepEqual(fired, ['a@110', 'b@120']);
  assert.equal(clock.now(), 129);
  assert.equal(clock.pending(), 0);
});

test('a timer set by a firing timer fires in the same advance if it is due', () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  clock.setTimeout(() => {
    fired.push(clock.now());
    clock.setTimeout(() => fired.push(clock.now()), 5);
  }, 5);
  clock.advance(10);
  assert.deepEqual(fired, [5, 10]);
});
