import { test } from 'node:test';
import assert from 'node:assert/strict';
import { restartGroup } from './strategy.js';

const order = ['a', 'b', 'c', 'd'];

test('one_for_one restarts only the dead child', () => {
  assert.deepEqual(restartGroup('one_for_one', order, 'b'), ['b']);
});

test('one_for_all restarts every child, in start order', () => {
  assert.deepEqual(restartGroup('one_for_all', order, 'c'), ['a', 'b', 'c', 'd']);
});

test('rest_for_one restarts the dead child and every later one', () => {
  assert.deepEqual(restartGroup('rest_for_one', order, 'b'), ['b', 'c', 'd']);
  assert.deepEqual(restartGroup('rest_for_one', order, 'd'), ['d']);
  assert.deepEqual(restartGroup('rest_for_one', order, 'a'), order);
});

test('an id not in the order is a bug and says so', () => {
  assert.throws(() => restartGroup('one_for_one', order, 'z'), /'z' is not in the child order/);
});
