/** The pure push rules (rules.ts) and burst collapsing / retry timing (collapse.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { previewOf, pushTargets, systemMessageWakes, unreadCount, PREVIEW_CHARS, type RuleInput } from './rules.js';
import { emptySlot, offer, pushed, retryDelay, type SlotState } from './collapse.js';
import type { PushRegistration } from './types.js';

const reg = (user: string, device: string, mode: 'wake' | 'preview' = 'wake'): PushRegistration => ({ user, device, platform: 'apns', token: `t-${user}-${device}`, appId: 'app', mode, updatedAt: 0 });

function input(over: Partial<RuleInput> = {}): RuleInput {
  return {
    message: { sender: 'alice', senderDevice: 'phone', meta: {} },
    members: ['alice', 'bob', 'carol'],
    devices: [reg('alice', 'phone'), reg('alice', 'tablet'), reg('bob', 'phone'), reg('bob', 'laptop'), reg('carol', 'phone')],
    online: () => false,
    mutedUntil: new Map(),
    now: 10_000,
    ackWaitMs: 3_000,
    ...over,
  };
}
const who = (l: ReturnType<typeof pushTargets>) => l.map((t) => `${t.reg.user}/${t.reg.device}`).sort();

describe('who gets a push', () => {
  it('every device of every other member, never the sender\'s own devices', () => {
    assert.deepEqual(who(pushTargets(input())), ['bob/laptop', 'bob/phone', 'carol/phone']);
  });

  it('an offline device at once; an online one only after ackWaitMs and only unless it acked', () => {
    const t = pushTargets(input({ online: (u, d) => u === 'bob' && d === 'laptop' }));
    const byKey = new Map(t.map((x) => [`${x.reg.user}/${x.reg.device}`, x]));
    assert.deepEqual({ ...byKey.get('bob/laptop'), reg: undefined }, { reg: undefined, readyAt: 13_000, unlessAcked: true });
    assert.deepEqual({ ...byKey.get('bob/phone'), reg: undefined }, { reg: undefined, readyAt: 10_000, unlessAcked: false });
  });

  it('not to users who are not members (left, removed) even with registrations', () => {
    assert.deepEqual(who(pushTargets(input({ members: ['alice', 'bob'] }))), ['bob/laptop', 'bob/phone']);
  });

  it('not while the conversation is muted; again once the mute ended', () => {
    assert.deepEqual(who(pushTargets(input({ mutedUntil: new Map([['bob', 10_001]]) }))), ['carol/phone']);
    assert.deepEqual(who(pushTargets(input({ mutedUntil: new Map([['bob', 10_000]]) }))), ['bob/laptop', 'bob/phone', 'carol/phone']);
  });

  it('system messages wake only a user who was added', () => {
    assert.equal(systemMessageWakes({ system: 'group_created', by: 'alice', subject: 'x' }, 'bob'), true);
    assert.equal(systemMessageWakes({ system: 'member_added', users: 'bob,dave', by: 'alice' }, 'bob'), true);
    assert.equal(systemMessageWakes({ system: 'member_added', users: 'bobby', by: 'alice' }, 'bob'), false);
    for (const system of ['member_removed', 'member_left', 'subject_changed']) assert.equal(systemMessageWakes({ system, users: 'bob' }, 'bob'), false, system);
    assert.deepEqual(who(pushTargets(input({ message: { sender: 'alice', senderDevice: 'phone', meta: { system: 'member_added', users: 'carol', by: 'alice' } } }))), ['carol/phone']);
    assert.deepEqual(who(pushTargets(input({ message: { sender: 'alice', senderDevice: 'phone', meta: { system: 'subject_changed', subject: 'x' } } }))), []);
  });

  it('a preview only where the user opted in, never for system messages, cut to PREVIEW_CHARS', () => {
    const m = { sender: 'alice', senderDevice: 'p', meta: {}, body: 'hello bob' };
    assert.equal(previewOf('wake', m), null);
    assert.deepEqual(previewOf('preview', m), { sender: 'alice', body: 'hello bob' });
    assert.equal(previewOf('preview', { ...m, meta: { system: 'member_added' } }), null);
    const long = previewOf('preview', { ...m, body: '👋'.repeat(500) })!;
    assert.equal([...long.body].length, PREVIEW_CHARS);
    assert.ok(long.body.endsWith('…'));
  });

  it('unread count is what lies above the furthest read watermark, at least 1', () => {
    assert.equal(unreadCount(12, [3, 7]), 5);
    assert.equal(unreadCount(12, []), 12);
    assert.equal(unreadCount(12, [12]), 1);
  });
});

describe('burst collapsing', () => {
  const W = 2_500;
  /** Drive a slot like the outbox does: fire the pending push when due. */
  function simulate(arrivals: number[], windowMs = W): Array<{ at: number; seq: number }> {
    let s: SlotState = emptySlot();
    const pushes: Array<{ at: number; seq: number }> = [];
    const fireUntil = (t: number) => {
      while (s.pending && s.pending.dueAt <= t) {
        pushes.push({ at: s.pending.dueAt, seq: s.pending.seq });
        s = pushed(s, s.pending.dueAt, true);
      }
    };
    arrivals.forEach((at, i) => {
      fireUntil(at);
      s = offer(s, i + 1, at, false, windowMs);
      fireUntil(at);
    });
    fireUntil(Number.MAX_SAFE_INTEGER);
    return pushes;
  }

  it('20 messages in 2 s are 2 pushes: the first at once, the rest as one at the end of the window with the newest seq', () => {
    const arrivals = Array.from({ length: 20 }, (_, i) => 1_000 + i * 100);
    assert.deepEqual(simulate(arrivals), [
      { at: 1_000, seq: 1 },
      { at: 3_500, seq: 20 },
    ]);
  });

  it('messages further apart than the window each get a push', () => {
    assert.deepEqual(simulate([0, 3_000, 6_000]), [
      { at: 0, seq: 1 },
      { at: 3_000, seq: 2 },
      { at: 6_000, seq: 3 },
    ]);
  });

  it('a later message does not postpone a pending push; an ack-wait push stays conditional only while all were', () => {
    let s = offer(emptySlot(), 1, 5_000, true, W);
    s = offer(s, 2, 4_000, false, W);
    assert.deepEqual(s.pending, { seq: 2, dueAt: 4_000, unlessAcked: false });
    s = offer(s, 3, 9_000, true, W);
    assert.deepEqual(s.pending, { seq: 3, dueAt: 4_000, unlessAcked: false });
  });

  it('a push settled without a send does not start a window', () => {
    let s = offer(emptySlot(), 1, 0, true, W);
    s = pushed(s, 100, false);
    assert.equal(s.lastPushAt, null);
    assert.equal(offer(s, 2, 200, false, W).pending!.dueAt, 200);
  });
});

describe('retry timing', () => {
  it('full jitter under an exponential cap that stops at maxMs', () => {
    assert.equal(retryDelay(1, 1_000, 60_000, null, () => 0.999999), 999);
    assert.equal(retryDelay(3, 1_000, 60_000, null, () => 0.5), 2_000);
    assert.equal(retryDelay(40, 1_000, 60_000, null, () => 0.999999), 59_999);
    assert.equal(retryDelay(5, 1_000, 60_000, null, () => 0), 0);
  });

  it('never sooner than Retry-After', () => {
    assert.equal(retryDelay(1, 1_000, 60_000, 30_000, () => 0.1), 30_000);
    assert.equal(retryDelay(8, 1_000, 60_000, 5_000, () => 0.5), 30_000);
  });
});
