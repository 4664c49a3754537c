/**
 * The shared conformance suite for the ChildHandle contract (child_handle.ts). Every
 * adapter runs it through child_handle_conformance.test.ts; a new adapter should too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildHandle, StartContext, StartFn } from './child_handle.js';
import { systemClock } from './clock.js';

export interface ConformanceSubject {
  /** A start function for a child that runs until stopped. */
  readonly start: StartFn;
  /** Make the running child crash on its own. */
  crash(handle: ChildHandle): void;
}

const ctx: StartContext = { supervisor: 'conformance', childId: 'subject', clock: systemClock, report: () => {} };

export function childHandleConformance(name: string, makeSubject: () => ConformanceSubject): void {
  test(`${name}: requestStop ends the child with reason shutdown`, async () => {
    const subject = makeSubject();
    const handle = await subject.start(ctx);
    handle.requestStop(5_000);
    assert.deepEqual(await handle.exited, { kind: 'shutdown' });
  });

  test(`${name}: kill ends the child with reason shutdown`, async () => {
    const subject = makeSubject();
    const handle = await subject.start(ctx);
    handle.kill();
    assert.deepEqual(await handle.exited, { kind: 'shutdown' });
  });

  test(`${name}: a crash ends the child with reason error carrying an Error`, async () => {
    const subject = makeSubject();
    const handle = await subject.start(ctx);
    subject.crash(handle);
    const reason = await handle.exited;
    assert.equal(reason.kind, 'error');
    assert.ok(reason.kind === 'error' && reason.error instanceof Error);
  });

  test(`${name}: stop and kill after the end are harmless, and exited stays settled`, async () => {
    const subject = makeSubject();
    const handle = await subject.start(ctx);
    subject.crash(handle);
    const first = await handle.exited;
    assert.doesNotThrow(() => handle.requestStop(100));
    assert.doesNotThrow(() => handle.kill());
    assert.equal(await handle.exited, first);
  });
}
