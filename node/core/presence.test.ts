import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newPresence, step, view, type PresenceConfig, type PresenceEffect, type PresenceEvent, type PresenceState } from './presence.js';

const CFG: PresenceConfig = { debounceMs: 5000, intervalMs: 1000 };

function run(s: PresenceState, events: Array<[number, PresenceEvent]>, cfg = CFG): PresenceEffect[] {
  return events.flatMap(([now, e]) => step(s, e, now, cfg));
}
const pushes = (effs: PresenceEffect[]) => effs.filter((e): e is Extract<PresenceEffect, { t: 'push' }> => e.t === 'push');

describe('presence state machine', () => {
  it('online on first open; offline with last seen = close time, only after the debounce', () => {
    const s = newPresence();
    step(s, { t: 'subscribe', sub: 'w', users: ['alice'] }, 0, CFG);
    assert.deepEqual(pushes(run(s, [[10, { t: 'open', user: 'alice' }], [20, { t: 'tick' }]])), [
      { t: 'push', sub: 'w', users: [{ user: 'alice', online: true, lastSeenMs: 0, lastSeenHidden: false }] },
    ]);
    const closing = run(s, [[1000, { t: 'close', user: 'alice' }], [5999, { t: 'tick' }]]);
    assert.deepEqual(closing, [], 'nothing before the debounce ends');
    assert.equal(view(s, 'alice').online, true);
    const after = run(s, [[6000, { t: 'tick' }]]);
    assert.deepEqual(after, [
      { t: 'persist', user: 'alice', lastSeenAt: 1000, hidden: null },
      { t: 'push', sub: 'w', users: [{ user: 'alice', online: false, lastSeenMs: 1000, lastSeenHidden: false }] },
    ]);
  });

  it('a reconnect within the debounce is no flap: no push, no write', () => {
    const s = newPresence();
    step(s, { t: 'subscribe', sub: 'w', users: ['bob'] }, 0, CFG);
    run(s, [[0, { t: 'open', user: 'bob' }], [0, { t: 'tick' }]]);
    const effs = run(s, [[100, { t: 'close', user: 'bob' }], [3000, { t: 'open', user: 'bob' }], [9000, { t: 'tick' }], [20000, { t: 'tick' }]]);
    assert.deepEqual(effs, []);
    assert.equal(view(s, 'bob').online, true);
  });

  it('stays online while any device is connected', () => {
    const s = newPresence();
    step(s, { t: 'subscribe', sub: 'w', users: ['u'] }, 0, CFG);
    run(s, [[0, { t: 'open', user: 'u' }], [0, { t: 'open', user: 'u' }], [10, { t: 'close', user: 'u' }], [60_000, { t: 'tick' }]]);
    assert.equal(view(s, 'u').online, true);
    run(s, [[60_001, { t: 'close', user: 'u' }], [70_000, { t: 'tick' }]]);
    assert.deepEqual(view(s, 'u'), { user: 'u', online: false, lastSeenMs: 60_001, lastSeenHidden: false });
  });

  it('coalesces many users into one frame per interval per subscriber', () => {
    const s = newPresence();
    const users = Array.from({ length: 100 }, (_, i) => `u${i}`);
    step(s, { t: 'subscribe', sub: 'w', users }, 0, CFG);
    const effs: PresenceEffect[] = [];
    for (let i = 0; i < 100; i++) {
      effs.push(...step(s, { t: 'open', user: users[i] }, i * 10, CFG));
      effs.push(...step(s, { t: 'tick' }, i * 10, CFG));
    }
    effs.push(...step(s, { t: 'tick' }, 2000, CFG));
    const p = pushes(effs);
    assert.equal(p.length, 2, `100 changes over ~1 s: ${p.length} frames`);
    assert.equal(p.flatMap((x) => x.users).length, 100);
  });

  it('hidden last seen: others see online/offline but never the time', () => {
    const s = newPresence();
    step(s, { t: 'subscribe', sub: 'w', users: ['h'] }, 0, CFG);
    const effs = run(s, [[0, { t: 'hide', user: 'h', hidden: true }], [1, { t: 'open', user: 'h' }], [2, { t: 'close', user: 'h' }], [10_000, { t: 'tick' }]]);
    assert.deepEqual(effs.filter((e) => e.t === 'persist'), [
      { t: 'persist', user: 'h', lastSeenAt: null, hidden: true },
      { t: 'persist', user: 'h', lastSeenAt: 2, hidden: null },
    ]);
    assert.deepEqual(view(s, 'h'), { user: 'h', online: false, lastSeenMs: 0, lastSeenHidden: true });
    run(s, [[10_001, { t: 'hide', user: 'h', hidden: false }]]);
    assert.equal(view(s, 'h').lastSeenMs, 2);
  });

  it('stored presence fills only users it knows nothing newer about', () => {
    const s = newPresence();
    step(s, { t: 'subscribe', sub: 'w', users: ['a', 'b'] }, 0, CFG);
    run(s, [[0, { t: 'open', user: 'b' }], [1, { t: 'known', user: 'a', lastSeen: 77, hidden: false }], [1, { t: 'known', user: 'b', lastSeen: 5, hidden: false }]]);
    assert.equal(view(s, 'a').lastSeenMs, 77);
    assert.equal(view(s, 'b').online, true);
  });

  it('unsubscribing and dropping stop pushes and free unwatched offline users', () => {
    const s = newPresence();
    step(s, { t: 'subscribe', sub: 'w', users: ['a', 'b'] }, 0, CFG);
    step(s, { t: 'subscribe', sub: 'w', users: ['b'] }, 0, CFG);
    assert.deepEqual(pushes(run(s, [[1, { t: 'open', user: 'a' }], [2000, { t: 'tick' }]])), []);
    step(s, { t: 'drop', sub: 'w' }, 3000, CFG);
    assert.deepEqual(pushes(run(s, [[3001, { t: 'open', user: 'b' }], [5000, { t: 'tick' }]])), []);
    assert.equal(s.subs.size, 0);
    assert.equal(s.watchers.size, 0);
    assert.deepEqual([...s.users.keys()].sort(), ['a', 'b'], 'online users stay; offline unwatched ones are forgotten');
  });
});

describe('presence properties', () => {
  const USERS = ['u0', 'u1', 'u2', 'u3', 'u4'];
  const ev = fc.oneof(
    fc.record({ t: fc.constant('open' as const), user: fc.constantFrom(...USERS) }),
    fc.record({ t: fc.constant('close' as const), user: fc.constantFrom(...USERS) }),
    fc.record({ t: fc.constant('hide' as const), user: fc.constantFrom(...USERS), hidden: fc.boolean() }),
    fc.record({ t: fc.constant('tick' as const) }),
  );
  const script = fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), ev), { maxLength: 200 });

  it('pushes to one subscriber are >= intervalMs apart, and the view converges to the truth', () => {
    fc.assert(
      fc.property(script, (steps) => {
        const s = newPresence();
        step(s, { t: 'subscribe', sub: 'w', users: USERS }, 0, CFG);
        const seen = new Map(USERS.map((u) => [u, view(s, u)]));
        const conns = new Map<string, number>();
        let now = 0;
        let lastPush = -Infinity;
        const apply = (effs: PresenceEffect[]) => {
          for (const e of effs) {
            if (e.t !== 'push') continue;
            assert.ok(now - lastPush >= CFG.intervalMs, `pushes ${lastPush} and ${now} closer than the interval`);
            lastPush = now;
            for (const v of e.users) seen.set(v.user, v);
          }
        };
        for (const [dt, e] of steps) {
          now += dt;
          if (e.t === 'open') conns.set(e.user, (conns.get(e.user) ?? 0) + 1);
          if (e.t === 'close') {
            if ((conns.get(e.user) ?? 0) === 0) continue; // a close always follows an open
            conns.set(e.user, conns.get(e.user)! - 1);
          }
          apply(step(s, e, now, CFG));
        }
        // Quiet: past the debounce and one interval, everything has been told.
        now += CFG.debounceMs + 1;
        apply(step(s, { t: 'tick' }, now, CFG));
        now += CFG.intervalMs;
        apply(step(s, { t: 'tick' }, now, CFG));
        for (const u of USERS) {
          assert.equal(seen.get(u)!.online, (conns.get(u) ?? 0) > 0, `${u}: subscriber view vs connections`);
          assert.deepEqual(seen.get(u), view(s, u));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a close followed by an open within the debounce never produces a push', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: CFG.debounceMs - 1 }), fc.integer({ min: 1, max: 5 }), (gap, devices) => {
        const s = newPresence();
        step(s, { t: 'subscribe', sub: 'w', users: ['x'] }, 0, CFG);
        for (let i = 0; i < devices; i++) step(s, { t: 'open', user: 'x' }, 0, CFG);
        step(s, { t: 'tick' }, 0, CFG);
        const effs: PresenceEffect[] = [];
        for (let i = 0; i < devices; i++) effs.push(...step(s, { t: 'close', user: 'x' }, 100, CFG));
        for (let i = 0; i < devices; i++) effs.push(...step(s, { t: 'open', user: 'x' }, 100 + gap, CFG));
        effs.push(...step(s, { t: 'tick' }, 100 + gap + 10 * CFG.debounceMs, CFG));
        assert.deepEqual(effs, []);
      }),
    );
  });
});
