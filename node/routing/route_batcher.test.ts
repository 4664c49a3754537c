import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteBatcher } from './route_batcher.js';

test('a connect and disconnect between flushes cost nothing', () => {
  const b = new RouteBatcher(10);
  b.register('a');
  b.unregister('a');
  assert.deepEqual(b.take(10), []);
});

test('counted connections: the route stays until the last one goes', () => {
  const b = new RouteBatcher(10);
  b.register('a');
  b.register('a');
  b.applied(b.take(10));
  assert.equal(b.unregister('a'), false);
  assert.deepEqual(b.take(10), []);
  assert.equal(b.unregister('a'), true);
  assert.deepEqual(b.take(10), [{ key: 'a', put: false }]);
});

test('failed ops are retried; lostAll rewrites every local key', () => {
  const b = new RouteBatcher(10);
  b.register('a');
  b.register('b');
  const ops = b.take(1);
  assert.equal(ops.length, 1);
  b.failed(ops);
  assert.equal(b.take(10).length, 2);
  b.applied([{ key: 'a', put: true }, { key: 'b', put: true }]);
  b.lostAll();
  assert.deepEqual(b.take(10).map((o) => o.put), [true, true]);
});

test('registrations beyond maxPending are refused, unregistrations never', () => {
  const b = new RouteBatcher(2);
  assert.equal(b.register('a'), true);
  assert.equal(b.register('b'), true);
  assert.equal(b.register('c'), false);
  assert.equal(b.register('a'), true, 'an already dirty key is not new work');
  b.applied(b.take(10));
  assert.equal(b.register('c'), true);
  b.unregister('a');
  b.unregister('a');
  b.unregister('b');
  assert.equal(b.pending, 3);
});

test('clearDesired deletes everything committed', () => {
  const b = new RouteBatcher(10);
  b.register('a');
  b.register('b');
  b.applied(b.take(10));
  b.clearDesired();
  assert.deepEqual(b.take(10).sort((x, y) => x.key.localeCompare(y.key)), [
    { key: 'a', put: false },
    { key: 'b', put: false },
  ]);
});
