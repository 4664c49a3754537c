import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  admitConversation,
  admitUser,
  limiterStats,
  newLimiterState,
  SendLimiter,
  settle,
  userRule,
  type Decision,
  type SendLimitRules,
} from './send_limits.js';

const RULES: SendLimitRules = {
  user: { ratePerSec: 10, burst: 20 },
  conversation: { ratePerSec: 5, burst: 8 },
  sender: { ratePerSec: 2, burst: 4 },
  maxEntries: 1000,
};

function granted(d: Decision): Extract<Decision, { ok: true }> {
  assert.ok(d.ok, `expected a grant, got ${JSON.stringify(d)}`);
  return d;
}

function refused(d: Decision): Extract<Decision, { ok: false }> {
  assert.ok(!d.ok, 'expected a refusal');
  return d;
}

describe('per-user bucket', () => {
  it('grants the burst over all of a user, then refuses with the wait for the next token, then refills', () => {
    const s = newLimiterState();
    for (let i = 0; i < 20; i++) granted(admitUser(s, RULES, { user: 'alice', nodes: 1 }, 0));
    const r = refused(admitUser(s, RULES, { user: 'alice', nodes: 1 }, 0));
    assert.equal(r.scope, 'user');
    assert.equal(r.retryAfterMs, 100, '10/s: one token every 100 ms');
    // Another user is not affected.
    granted(admitUser(s, RULES, { user: 'bob', nodes: 1 }, 0));
    refused(admitUser(s, RULES, { user: 'alice', nodes: 1 }, 99));
    granted(admitUser(s, RULES, { user: 'alice', nodes: 1 }, 100));
  });

  it('on k nodes each node grants rate/k and burst/k, so the cell grants one burst in all', () => {
    const nodes = [newLimiterState(), newLimiterState(), newLimiterState()];
    let n = 0;
    for (const s of nodes) while (admitUser(s, RULES, { user: 'alice', nodes: 3 }, 0).ok) n++;
    // burst 20 / 3 nodes: 6.67 each, so 6 whole tokens per node.
    assert.equal(n, 18);
    assert.ok(n <= RULES.user.burst);
    // Each node has 2/3 of a token left and refills at 10/3 per second: 100 ms to the next.
    assert.equal(refused(admitUser(nodes[0], RULES, { user: 'alice', nodes: 3 }, 0)).retryAfterMs, 100);
    // Over the next 300 ms the cell as a whole refills rate x 0.3 s = 3 tokens, not 3 x 3.
    let more = 0;
    for (const s of nodes) while (admitUser(s, RULES, { user: 'alice', nodes: 3 }, 300).ok) more++;
    assert.equal(more, 3);
  });

  it('never hands out less than one token of burst, however many nodes', () => {
    assert.equal(userRule(RULES, 50).burst, 1);
    granted(admitUser(newLimiterState(), RULES, { user: 'alice', nodes: 50 }, 0));
  });

  it('a node that learns of a second node shrinks the user to half a bucket at once', () => {
    const s = newLimiterState();
    granted(admitUser(s, RULES, { user: 'alice', nodes: 1 }, 0));
    let n = 0;
    while (admitUser(s, RULES, { user: 'alice', nodes: 2 }, 0).ok) n++;
    assert.equal(n, 10, 'clamped to burst/2 = 10 tokens');
  });
});

describe('per-conversation buckets', () => {
  it('one sender is held to the sender bucket; the others still get through', () => {
    const s = newLimiterState();
    for (let i = 0; i < 4; i++) granted(admitConversation(s, RULES, { conversation: 'g', sender: 'spammer' }, 0));
    const r = refused(admitConversation(s, RULES, { conversation: 'g', sender: 'spammer' }, 0));
    assert.equal(r.scope, 'sender');
    assert.equal(r.retryAfterMs, 500, '2/s');
    granted(admitConversation(s, RULES, { conversation: 'g', sender: 'bob' }, 0));
  });

  it('all senders together are held to the conversation bucket', () => {
    const s = newLimiterState();
    let n = 0;
    for (let u = 0; u < 10; u++) for (let i = 0; i < 4; i++) if (admitConversation(s, RULES, { conversation: 'g', sender: `u${u}` }, 0).ok) n++;
    assert.equal(n, 8, 'the conversation burst, not 10 senders x 4');
    const r = refused(admitConversation(s, RULES, { conversation: 'g', sender: 'fresh' }, 0));
    assert.equal(r.scope, 'conversation');
    assert.equal(r.retryAfterMs, 200, '5/s');
    // Another conversation is not affected.
    granted(admitConversation(s, RULES, { conversation: 'h', sender: 'u0' }, 0));
  });

  it('a refused send takes no token from the bucket that had one', () => {
    const s = newLimiterState();
    for (let i = 0; i < 4; i++) granted(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
    for (let i = 0; i < 50; i++) refused(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
    // The conversation lost only a's 4: 4 of its 8 are left for the others.
    let n = 0;
    for (let u = 0; u < 8; u++) if (admitConversation(s, RULES, { conversation: 'g', sender: `b${u}` }, 0).ok) n++;
    assert.equal(n, 4);
  });

  it('the wait is for the emptiest bucket the send needs', () => {
    const s = newLimiterState();
    for (let u = 0; u < 8; u++) granted(admitConversation(s, RULES, { conversation: 'g', sender: u < 4 ? 'a' : 'b' }, 0));
    // a's sender bucket is empty (500 ms to a token) and so is the conversation (200 ms).
    const r = refused(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
    assert.deepEqual([r.scope, r.retryAfterMs], ['sender', 500]);
    // Waiting what it said is enough.
    granted(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 500));
  });
});

describe('settling', () => {
  it('a send that was not stored (a duplicate, an error) gives its tokens back', () => {
    const s = newLimiterState();
    const d = granted(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
    for (let i = 0; i < 3; i++) granted(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
    refused(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
    settle(s, d.charge, false, 0);
    granted(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
  });

  it('a stored send keeps its tokens', () => {
    const s = newLimiterState();
    const charges = [0, 1, 2, 3].map(() => granted(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0)).charge);
    for (const c of charges) settle(s, c, true, 0);
    refused(admitConversation(s, RULES, { conversation: 'g', sender: 'a' }, 0));
  });

  it('sends into conversations the caller cannot use leave no buckets behind', () => {
    const s = newLimiterState();
    for (let i = 0; i < 500; i++) settle(s, granted(admitConversation(s, RULES, { conversation: `nope-${i}`, sender: 'x' }, i)).charge, false, i);
    assert.deepEqual(limiterStats(s).conversation, { entries: 0, evicted: 0 });
    assert.deepEqual(limiterStats(s).sender, { entries: 0, evicted: 0 });
  });

  it('refunds never raise a bucket above its burst', () => {
    const s = newLimiterState();
    const d = granted(admitUser(s, RULES, { user: 'a', nodes: 1 }, 0));
    settle(s, d.charge, false, 0);
    settle(s, d.charge, false, 0);
    let n = 0;
    while (admitUser(s, RULES, { user: 'a', nodes: 1 }, 0).ok) n++;
    assert.equal(n, RULES.user.burst);
  });
});

describe('memory', () => {
  it('drops buckets that have refilled, without changing any decision', () => {
    const s = newLimiterState();
    for (let i = 0; i < 100; i++) granted(admitUser(s, RULES, { user: `u${i}`, nodes: 1 }, 0));
    assert.equal(limiterStats(s).user.entries, 100);
    // burst / rate = 2 s: after that every one of them is full, i.e. as good as absent.
    for (let t = 0; t < 40; t++) granted(admitUser(s, RULES, { user: 'active', nodes: 1 }, 2_000 + t * 100));
    assert.equal(limiterStats(s).user.entries, 1);
    assert.equal(limiterStats(s).user.evicted, 0);
  });

  it('holds at most maxEntries per scope, dropping the least recently used', () => {
    const rules = { ...RULES, maxEntries: 50 };
    const s = newLimiterState();
    for (let i = 0; i < 5; i++) granted(admitUser(s, rules, { user: 'busy', nodes: 1 }, 0));
    for (let i = 0; i < 200; i++) {
      granted(admitUser(s, rules, { user: `u${i}`, nodes: 1 }, 1));
      // busy keeps sending: it stays among the recently used and keeps its count.
      if (i % 10 === 0) admitUser(s, rules, { user: 'busy', nodes: 1 }, 1);
    }
    assert.equal(limiterStats(s).user.entries, 50);
    assert.ok(limiterStats(s).user.evicted >= 150);
    let n = 0;
    while (admitUser(s, rules, { user: 'busy', nodes: 1 }, 1).ok) n++;
    assert.ok(n < RULES.user.burst - 5, `busy kept its spent tokens (got ${n} more)`);
  });
});

describe('invariants (property)', () => {
  it('over any window one node grants a user at most burst + rate x window, and retry_after_ms is always enough', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.boolean()), { minLength: 1, maxLength: 200 }),
        (rate, burst, steps) => {
          const rules: SendLimitRules = { ...RULES, user: { ratePerSec: rate, burst } };
          const s = newLimiterState();
          let now = 0;
          let grants = 0;
          for (const [dt, stored] of steps) {
            now += dt;
            const d = admitUser(s, rules, { user: 'u', nodes: 1 }, now);
            if (d.ok) {
              settle(s, d.charge, stored, now);
              if (stored) grants++;
            } else {
              assert.ok(d.retryAfterMs > 0);
              // The client waits what it was told (time moves on), then retries.
              now += d.retryAfterMs;
              const again = admitUser(s, rules, { user: 'u', nodes: 1 }, now);
              assert.ok(again.ok, 'waiting retry_after_ms is enough');
              settle(s, again.charge, stored, now);
              if (stored) grants++;
            }
          }
          assert.ok(grants <= burst + (rate * now) / 1000 + 1e-9, `${grants} stored in ${now} ms`);
        },
      ),
    );
  });
});

describe('SendLimiter (the host wrapper)', () => {
  const ack = (duplicate: boolean) => ({ r: 'send_ack' as const, ack: { duplicate } });

  it('refuses with rate_limited and retry_after_ms without running the send', async () => {
    let t = 0;
    const l = new SendLimiter({ ...RULES, user: { ratePerSec: 1, burst: 1 } }, () => t);
    let runs = 0;
    const run = async () => {
      runs++;
      return ack(false);
    };
    assert.equal((await l.user('a', 1, run)).r, 'send_ack');
    const r = await l.user('a', 1, run);
    assert.deepEqual(r, { r: 'error', code: 'rate_limited', message: 'send rate limit for this user (all devices) exceeded', retryAfterMs: 1000 });
    assert.equal(runs, 1);
    t = 1000;
    assert.equal((await l.user('a', 1, run)).r, 'send_ack');
  });

  it('charges only fresh acks: duplicates, errors and throws are refunded', async () => {
    const l = new SendLimiter({ ...RULES, sender: { ratePerSec: 1, burst: 2 } }, () => 0);
    for (let i = 0; i < 5; i++) assert.equal((await l.conversation('g', 'a', async () => ack(true))).r, 'send_ack');
    for (let i = 0; i < 5; i++) await l.conversation('g', 'a', async () => ({ r: 'error' }));
    await assert.rejects(l.conversation('g', 'a', async () => Promise.reject(new Error('boom'))));
    // Still the whole burst of 2 for fresh messages.
    assert.equal((await l.conversation('g', 'a', async () => ack(false))).r, 'send_ack');
    assert.equal((await l.conversation('g', 'a', async () => ack(false))).r, 'send_ack');
    assert.equal((await l.conversation('g', 'a', async () => ack(false))).r, 'error');
  });
});
