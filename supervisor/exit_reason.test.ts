import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionAfterExit, crashed, NORMAL, SHUTDOWN, summarizeReason, type ExitReason } from './exit_reason.js';
import type { RestartType } from './types.js';

const error = crashed(new Error('boom'));
const hung: ExitReason = { kind: 'hung', error: new Error('silent') };

test('the OTP restart table', () => {
  const table: [RestartType, ExitReason, string][] = [
    ['permanent', NORMAL, 'restart'],
    ['permanent', SHUTDOWN, 'restart'],
    ['permanent', error, 'restart'],
    ['transient', NORMAL, 'keep'],
    ['transient', SHUTDOWN, 'keep'],
    ['transient', error, 'restart'],
    ['temporary', NORMAL, 'delete'],
    ['temporary', SHUTDOWN, 'delete'],
    ['temporary', error, 'delete'],
  ];
  for (const [restart, reason, expected] of table) {
    assert.equal(actionAfterExit(restart, reason), expected, `${restart} after ${reason.kind}`);
  }
});

test('a hung child escalates whatever its restart type', () => {
  for (const restart of ['permanent', 'transient', 'temporary'] as const) {
    assert.equal(actionAfterExit(restart, hung), 'escalate');
  }
});

test('summaries', () => {
  assert.equal(summarizeReason(NORMAL), 'normal');
  assert.equal(summarizeReason(error), 'error: boom');
  assert.equal(summarizeReason(hung), 'hung: silent');
});
