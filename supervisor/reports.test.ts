import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorInfo, formatReportLine, isProgress, reasonInfo } from './reports.js';
import { ProcessExitError } from './errors.js';

test('errorInfo keeps name, message, code, extra fields and the cause chain', () => {
  const inner = new ProcessExitError(3, null, 42);
  const outer = new Error('wrapper', { cause: inner });
  const info = errorInfo(outer);
  assert.equal(info.message, 'wrapper');
  assert.ok(typeof info.cause === 'object');
  assert.equal(info.cause.name, 'ProcessExitError');
  assert.equal(info.cause.code, 'process_exit');
  assert.deepEqual(info.cause.details, { exitCode: 3, signal: null, pid: 42 });
});

test('errorInfo survives a cause cycle and non-Error values', () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b;
  assert.doesNotThrow(() => JSON.stringify(errorInfo(a)));
  assert.deepEqual(errorInfo('plain string'), { name: 'NonError', message: 'plain string' });
});

test('a report is one tagged JSON line', () => {
  const report = {
    kind: 'child_exited' as const,
    at: 5,
    supervisor: 'host/shards',
    child: 'shard-0',
    reason: reasonInfo({ kind: 'error', error: new Error('multi\nline') }),
    restarts: 2,
    action: 'restart' as const,
  };
  const line = formatReportLine(report);
  assert.ok(!line.includes('\n'));
  assert.deepEqual(JSON.parse(line).log, 'supervisor');
  assert.equal(isProgress(report), false);
  assert.equal(isProgress({ kind: 'child_started', at: 0, supervisor: 'h', child: 'c', restarts: 0 }), true);
  const normal = { ...report, reason: reasonInfo({ kind: 'normal' }) };
  assert.equal(isProgress({ ...normal, action: 'delete' }), true, 'a temporary child that finished is routine');
  assert.equal(isProgress({ ...normal, action: 'restart' }), false, 'a permanent child that ended is not');
});
