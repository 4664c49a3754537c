import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './manual_clock.js';
import { NoReplyError, PendingCalls } from './pending_calls.js';

/** Whether a promise has settled yet, and how (microtasks only: no time passes). */
async function state<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown } | 'pending'> {
  const tag = Symbol('pending');
  const r = await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), Promise.resolve().then(() => tag)]);
  return r === tag ? 'pending' : (r as { value?: T; error?: unknown });
}

test('each call gets a fresh id and the reply with that id settles it, once', async () => {
  const calls = new PendingCalls<string>({ clock: new ManualClock() });
  const a = calls.call();
  const b = calls.call();
  assert.notEqual(a.id, b.id);
  assert.equal(calls.size, 2);
  assert.equal(calls.settle(b.id, 'for b'), true);
  assert.equal(calls.settle(b.id, 'again'), false, 'a second reply to the same call is ignored');
  assert.equal(calls.settle(999, 'nobody'), false, 'a reply nobody waits for is ignored');
  assert.deepEqual(await state(b.reply), { value: 'for b' });
  assert.equal(await state(a.reply), 'pending');
  assert.equal(calls.size, 1);
});

test('a call without a reply ends at its timeout with the caller-chosen value, and its late reply is ignored', async () => {
  const clock = new ManualClock();
  const calls = new PendingCalls<string | null>({ clock });
  const c = calls.call({ timeoutMs: 100, noReply: () => null });
  clock.advance(99);
  assert.equal(await state(c.reply), 'pending');
  clock.advance(1);
  assert.deepEqual(await state(c.reply), { value: null });
  assert.equal(calls.settle(c.id, 'late'), false);
  assert.equal(calls.size, 0);
  assert.equal(clock.pending(), 0, 'no timer left behind');
});

test('a reply before the timeout clears its timer', async () => {
  const clock = new ManualClock();
  const calls = new PendingCalls<number>({ clock });
  const c = calls.call({ timeoutMs: 50 });
  calls.settle(c.id, 7);
  assert.equal(clock.pending(), 0);
  clock.advance(100);
  assert.deepEqual(await state(c.reply), { value: 7 });
});

test('without noReply, a call that ends unanswered rejects with NoReplyError naming why', async () => {
  const clock = new ManualClock();
  const calls = new PendingCalls<number>({ clock });
  const timed = calls.call({ timeoutMs: 10 });
  const closed = calls.call();
  clock.advance(10);
  calls.close('link down');
  const t = await state(timed.reply);
  const c = await state(closed.reply);
  assert.ok(t !== 'pending' && t.error instanceof NoReplyError);
  assert.deepEqual((t.error as NoReplyError).noReply, { why: 'timeout', ms: 10 });
  assert.ok(c !== 'pending' && c.error instanceof NoReplyError);
  assert.equal((c.error as NoReplyError).message, 'closed: link down');
});

test('close ends only the calls whose tag it selects (the peer that went away)', async () => {
  const calls = new PendingCalls<string, string>({ clock: new ManualClock() });
  const noReply = (n: { why: string }) => `no reply: ${n.why}`;
  const toA = calls.call({ tag: 'a', noReply });
  const toB = calls.call({ tag: 'b', noReply });
  assert.equal(calls.close('a is down', (peer) => peer === 'a'), 1);
  assert.deepEqual(await state(toA.reply), { value: 'no reply: closed' });
  assert.equal(await state(toB.reply), 'pending');
  assert.equal(calls.close('everything'), 1);
  assert.deepEqual(await state(toB.reply), { value: 'no reply: closed' });
});

test('callAs: a newer call under the same id supersedes the open one; the reply goes to the newer', async () => {
  const clock = new ManualClock();
  const calls = new PendingCalls<string>({ clock });
  const first = calls.callAs(3, { timeoutMs: 100, noReply: (n) => n.why });
  const second = calls.callAs(3, { timeoutMs: 100, noReply: (n) => n.why });
  assert.deepEqual(await state(first), { value: 'superseded' });
  assert.equal(clock.pending(), 1, "the superseded call's timer is gone");
  calls.settle(3, 'loaded');
  assert.deepEqual(await state(second), { value: 'loaded' });
});

test('a noReply that throws rejects the call instead of leaving it open', async () => {
  const calls = new PendingCalls<number>({ clock: new ManualClock() });
  const c = calls.call({
    noReply: () => {
      throw new Error('boom');
    },
  });
  calls.close('bye');
  const s = await state(c.reply);
  assert.ok(s !== 'pending' && (s.error as Error).message === 'boom');
  assert.equal(calls.size, 0);
});

test("the table's noReply answers calls without their own, with the call's tag", async () => {
  const clock = new ManualClock();
  const calls = new PendingCalls<string, { peer: string }>({ clock, noReply: (n, tag) => `${n.why} at ${tag?.peer}` });
  const a = calls.call({ tag: { peer: 'n2' }, timeoutMs: 5 });
  const b = calls.call({ tag: { peer: 'n3' } });
  const own = calls.call({ tag: { peer: 'n3' }, noReply: () => 'mine' });
  clock.advance(5);
  calls.close('n3 down', (t) => t?.peer === 'n3');
  assert.deepEqual(await state(a.reply), { value: 'timeout at n2' });
  assert.deepEqual(await state(b.reply), { value: 'closed at n3' });
  assert.deepEqual(await state(own.reply), { value: 'mine' });
});
