/**
 * Presence and typing over real sockets: online / offline / last seen, the offline
 * debounce, subscription limits, hidden last seen, typing, and a 10,000-client
 * reconnect storm whose presence frames per subscriber stay within the stated bound:
 * with coalescing interval I and a storm lasting D, at most ceil(D / I) + 1 frames.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerFrame, UserPresence } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { show, sleep, syncAll, TestNode } from './harness.js';

const DEBOUNCE = 1500;
const INTERVAL = 300;

let node: TestNode;
before(async () => {
  node = await TestNode.start({
    config: { limits: { presenceOfflineDebounceMs: DEBOUNCE, presenceIntervalMs: INTERVAL, maxPresenceSubscriptions: 5, typingIntervalMs: 1000 } },
  });
});
after(async () => {
  await node.stop();
  node.cleanup();
});

const presenceFrames = (c: TestClient, from = 0): ServerFrame[] => c.frames.slice(from).filter((f) => f.kind.case === 'presence' && f.reqId === 0);
const usersOf = (f: ServerFrame): UserPresence[] => (f.kind.case === 'presence' ? f.kind.value.users : []);

async function subscribe(c: TestClient, users: string[]): Promise<UserPresence[]> {
  const f = await c.call({ kind: { case: 'presenceSubscribe', value: { users } } });
  assert.equal(f.kind.case, 'presence', show(f.kind.value));
  return usersOf(f);
}

function waitPresence(c: TestClient, user: string, pred: (p: UserPresence) => boolean, timeoutMs = 10_000): Promise<ServerFrame> {
  return c.waitFor((f) => f.kind.case === 'presence' && f.reqId === 0 && usersOf(f).some((p) => p.user === user && pred(p)), timeoutMs);
}

describe('presence', () => {
  it('online, then offline with last seen after the debounce', async () => {
    const w = await node.connect('watcher1', 'phone');
    const [initial] = await subscribe(w, ['alice1']);
    assert.deepEqual([initial.online, Number(initial.lastSeenMs)], [false, 0]);
    const alice = await node.connect('alice1', 'phone');
    await waitPresence(w, 'alice1', (p) => p.online);
    const closedAt = Date.now();
    alice.close();
    await alice.waitClose();
    const off = await waitPresence(w, 'alice1', (p) => !p.online, 10_000);
    const p = usersOf(off).find((x) => x.user === 'alice1')!;
    assert.ok(Math.abs(Number(p.lastSeenMs) - closedAt) < 1000, `last seen ${Number(p.lastSeenMs)} is when the socket closed (${closedAt})`);
    assert.equal(p.lastSeenHidden, false);
    // A new subscriber gets the stored state in the reply.
    const w2 = await node.connect('watcher1b', 'phone');
    const [again] = await subscribe(w2, ['alice1']);
    assert.deepEqual([again.online, Number(again.lastSeenMs)], [false, Number(p.lastSeenMs)]);
    w.close();
    w2.close();
  });

  it('a reconnect within the debounce is not an offline flap', async () => {
    const w = await node.connect('watcher2', 'phone');
    await subscribe(w, ['bob2']);
    const b1 = await node.connect('bob2', 'phone');
    await waitPresence(w, 'bob2', (p) => p.online);
    const mark = w.frames.length;
    b1.terminate();
    await b1.waitClose();
    const b2 = await node.connect('bob2', 'phone');
    await sleep(DEBOUNCE + 3 * INTERVAL + 500);
    assert.deepEqual(presenceFrames(w, mark).map(usersOf), [], 'no presence frame for a quick reconnect');
    // And staying away past the debounce is seen.
    b2.close();
    await waitPresence(w, 'bob2', (p) => !p.online);
    w.close();
  });

  it('subscriptions are bounded and replaceable', async () => {
    const w = await node.connect('watcher3', 'phone');
    const tooMany = await w.call({ kind: { case: 'presenceSubscribe', value: { users: ['a', 'b', 'c', 'd', 'e', 'f'] } } });
    assert.equal(tooMany.kind.case === 'error' && tooMany.kind.value.code, 'limit_exceeded', show(tooMany.kind.value));
    const bad = await w.call({ kind: { case: 'presenceSubscribe', value: { users: ['not ok'] } } });
    assert.equal(bad.kind.case === 'error' && bad.kind.value.code, 'invalid_argument');
    assert.equal((await subscribe(w, ['a3', 'b3', 'c3', 'd3', 'e3'])).length, 5);
    // Replacing the set: changes of users no longer watched are not pushed.
    await subscribe(w, ['e3']);
    const mark = w.frames.length;
    const a = await node.connect('a3', 'phone');
    const e = await node.connect('e3', 'phone');
    await waitPresence(w, 'e3', (p) => p.online);
    assert.ok(presenceFrames(w, mark).every((f) => usersOf(f).every((p) => p.user === 'e3')), 'only e3 is pushed');
    for (const c of [w, a, e]) c.close();
  });

  it('hidden last seen: online/offline stay visible, the time does not', async () => {
    const carol = await node.connect('carol4', 'phone');
    const self = await carol.call({ kind: { case: 'presenceSettings', value: { hideLastSeen: true } } });
    assert.equal(self.kind.case === 'presence' && usersOf(self)[0].lastSeenHidden, true);
    const w = await node.connect('watcher4', 'phone');
    const [now] = await subscribe(w, ['carol4']);
    assert.deepEqual([now.online, now.lastSeenHidden], [true, true]);
    carol.close();
    const off = await waitPresence(w, 'carol4', (p) => !p.online);
    const p = usersOf(off).find((x) => x.user === 'carol4')!;
    assert.deepEqual([Number(p.lastSeenMs), p.lastSeenHidden], [0, true]);
    w.close();
  });

  it('typing reaches the other members, expires on its own, and is rate limited', async () => {
    const a = await node.connect('typer5', 'phone');
    const b = await node.connect('reader5', 'phone');
    const f = await a.call({ kind: { case: 'openDirect', value: { peer: 'reader5' } } });
    const conv = f.kind.case === 'directOpened' ? f.kind.value.conversation : '';
    await syncAll(b);
    const sent = Date.now();
    for (let i = 0; i < 5; i++) a.send({ kind: { case: 'typing', value: { conversation: conv } } });
    const t = await b.waitFor((x) => x.kind.case === 'typing');
    assert.equal(t.kind.case === 'typing' && t.kind.value.user, 'typer5');
    const until = t.kind.case === 'typing' ? Number(t.kind.value.untilMs) : 0;
    assert.ok(until > sent, 'until_ms lies in the future');
    await sleep(500);
    assert.equal(b.frames.filter((x) => x.kind.case === 'typing').length, 1, 'five notices within the interval relay once');
    assert.equal(a.frames.filter((x) => x.kind.case === 'typing').length, 0, 'the typer does not see itself');
    const stranger = await node.connect('stranger5', 'phone');
    const denied = await stranger.call({ kind: { case: 'typing', value: { conversation: conv } } });
    assert.equal(denied.kind.case === 'error' && denied.kind.value.code, 'not_member');
    for (const c of [a, b, stranger]) c.close();
  });
});

describe('presence storm', () => {
  const CLIENTS = 10_000;
  const SUBSCRIBERS = 20;
  const WATCH = 256;
  const I = 1000;
  let storm: TestNode;
  before(async () => {
    storm = await TestNode.start({ config: { limits: { presenceOfflineDebounceMs: 15_000, presenceIntervalMs: I, maxPresenceSubscriptions: WATCH } } });
  });
  after(async () => {
    await storm.stop();
    storm.cleanup();
  });

  async function connectAll(users: string[]): Promise<TestClient[]> {
    const out: TestClient[] = [];
    for (let i = 0; i < users.length; i += 500) {
      out.push(...(await Promise.all(users.slice(i, i + 500).map((u) => storm.connect(u, 'phone', { encoding: 'proto' })))));
    }
    return out;
  }

  it(`${CLIENTS} clients connecting and reconnecting at once: <= ceil(D/I)+1 presence frames per subscriber`, { timeout: 180_000 }, async () => {
    const users = Array.from({ length: CLIENTS }, (_, i) => `s${i}`);
    const subs = await Promise.all(Array.from({ length: SUBSCRIBERS }, (_, i) => storm.connect(`sub${i}`, 'phone', { encoding: 'proto' })));
    // Each subscriber watches 256 users spread over the whole population.
    const watched = subs.map((_, i) => Array.from({ length: WATCH }, (_, j) => users[(i * 397 + j * 39) % CLIENTS]));
    await Promise.all(subs.map((s, i) => subscribe(s, watched[i])));

    const converged = (online: boolean) =>
      Promise.all(
        subs.map((s, i) => {
          const state = new Map<string, boolean>();
          const check = (): boolean => {
            for (const f of presenceFrames(s)) for (const p of usersOf(f)) state.set(p.user, p.online);
            return watched[i].every((u) => state.get(u) === online);
          };
          return s.waitFor(() => check(), 120_000).catch(() => assert.ok(check(), `subscriber ${i} did not converge`));
        }),
      );

    // Phase 1: everyone comes online at once.
    const mark1 = subs.map((s) => s.frames.length);
    const t1 = Date.now();
    let clients = await connectAll(users);
    await converged(true);
    const d1 = Date.now() - t1;
    const bound1 = Math.ceil(d1 / I) + 1;
    const counts1 = subs.map((s, i) => presenceFrames(s, mark1[i]).length);
    assert.ok(Math.max(...counts1) <= bound1, `phase 1: frames per subscriber ${show(counts1)} > ceil(${d1}/${I})+1 = ${bound1}`);
    assert.ok(Math.max(...counts1) < WATCH / 4, 'coalescing batched the 256 changes');

    // Phase 2: every client drops and reconnects at once (within the debounce): nobody flaps.
    const mark2 = subs.map((s) => s.frames.length);
    for (const c of clients) c.terminate();
    await Promise.all(clients.map((c) => c.waitClose()));
    clients = await connectAll(users);
    await sleep(3 * I);
    const counts2 = subs.map((s, i) => presenceFrames(s, mark2[i]).length);
    assert.deepEqual(counts2, subs.map(() => 0), 'a reconnect storm inside the debounce produces no presence frames');

    process.stderr.write(`presence storm: ${CLIENTS} clients, connect phase D=${d1} ms, I=${I} ms, frames per subscriber max ${Math.max(...counts1)} (bound ${bound1}); reconnect phase: 0\n`);
    for (const c of [...clients, ...subs]) c.terminate();
  });
});
