import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_WORKER_SHUTDOWN_MS, validateChildSpec, validateChildSpecs } from './child_spec.js';
import { ChildSpecError } from './errors.js';
import { FakeWorld } from './fake_child.js';

const start = new FakeWorld().start('x');

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ChildSpecError, `expected ChildSpecError, got ${String(error)}`);
    assert.equal(error.code, 'invalid_child_spec');
    return error.field;
  }
  assert.fail('expected a ChildSpecError');
}

test('defaults are filled in for a worker', () => {
  const spec = validateChildSpec({ id: 'a', start });
  assert.equal(spec.restart, 'permanent');
  assert.equal(spec.type, 'worker');
  assert.equal(spec.shutdown, DEFAULT_WORKER_SHUTDOWN_MS);
  assert.equal(spec.start, start);
});

test("a supervisor child defaults to shutdown 'infinity'", () => {
  assert.equal(validateChildSpec({ id: 's', start, type: 'supervisor' }).shutdown, 'infinity');
});

test('given fields are kept', () => {
  const spec = validateChildSpec({ id: 'a', start, restart: 'temporary', shutdown: 'brutal_kill' });
  assert.equal(spec.restart, 'temporary');
  assert.equal(spec.shutdown, 'brutal_kill');
  assert.equal(validateChildSpec({ id: 'a', start, shutdown: 0 }).shutdown, 0);
});

test('each bad field is named', () => {
  assert.equal(fieldOf(() => validateChildSpec(null)), 'spec');
  assert.equal(fieldOf(() => validateChildSpec({ start })), 'id');
  assert.equal(fieldOf(() => validateChildSpec({ id: '', start })), 'id');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a/b', start })), 'id');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a' })), 'start');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a', start: 'node x.js' })), 'start');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a', start, restart: 'always' })), 'restart');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a', start, type: 'thread' })), 'type');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a', start, shutdown: -1 })), 'shutdown');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a', start, shutdown: 1.5 })), 'shutdown');
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a', start, shutdown: 'never' })), 'shutdown');
});

test('an unknown field (a typo) is named rather than ignored', () => {
  assert.equal(fieldOf(() => validateChildSpec({ id: 'a', start, restrat: 'temporary' })), 'restrat');
});

test('the error message names the child and the field', () => {
  assert.throws(
    () => validateChildSpec({ id: 'store', start, restart: 'sometimes' }),
    (error: unknown) =>
      error instanceof ChildSpecError &&
      error.childId === 'store' &&
      error.message.includes("'store'") &&
      error.message.includes('restart') &&
      error.message.includes('"sometimes"'),
  );
});

test('a child list must be an array with unique ids', () => {
  assert.equal(fieldOf(() => validateChildSpecs({ id: 'a', start })), 'children');
  assert.equal(fieldOf(() => validateChildSpecs([{ id: 'a', start }, { id: 'a', start }])), 'id');
  assert.deepEqual(
    validateChildSpecs([{ id: 'a', start }, { id: 'b', start }]).map((s) => s.id),
    ['a', 'b'],
  );
});
