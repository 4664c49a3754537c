import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../store/sqlite_store.js';
import { BatchWriter } from '../store/batch_writer.js';
import type { MessageStore } from '../store/store.js';
import type { Conversation, StoredMessage, WriteOp } from '../store/types.js';
import { LocalFanout } from './local_fanout.js';
import { ChatService, type Caller, type Outbox, type ServiceLimits } from './chat_service.js';
import { CatalogError } from '../../protocol/errors.js';
import { ConnectionRegistry, type ConnRef } from './registry.js';
import { HookedStore } from './hooked_store.js';
import type { MemberReceipt } from './ops.js';

const LIMITS: ServiceLimits = {
  maxMessageBytes: 1000,
  defaultSyncPage: 5,
  maxSyncPage: 10,
  maxHistoryPage: 10,
  maxConversationMembers: 10,
  retentionMessages: 0,
};

class RecordingOutbox implements Outbox {
  readonly deliveries: Array<{ to: ConnRef[]; message: StoredMessage }> = [];
  readonly receiptBatches: Array<{ to: ConnRef[]; receipts: MemberReceipt[] }> = [];
  deliver(to: ConnRef[], message: StoredMessage): void {
    this.deliveries.push({ to: [...to], message });
  }
  receipts(to: ConnRef[], receipts: MemberReceipt[]): void {
    this.receiptBatches.push({ to: [...to], receipts });
  }
}

function setup(limits: Partial<ServiceLimits> = {}) {
  const sqlite = new SqliteStore(':memory:');
  const store = new HookedStore(sqlite);
  const writer = new BatchWriter<WriteOp>((ops) => store.commit(ops), { maxDelayMs: 1 });
  const registry = new ConnectionRegistry();
  const outbox = new RecordingOutbox();
  let clock = 1_700_000_000_000;
  const svc = new ChatService({ store, writer, registry, fanout: new LocalFanout(registry, outbox), limits: { ...LIMITS, ...limits }, now: () => clock++ });
  return { store, sqlite, writer, registry, outbox, svc };
}

const conn = (user: string, shard: number, c: number, device = `dev${c}`): ConnRef => ({ user, shard, conn: c, device });
const caller = (user: string, ref: ConnRef | null = null, device = ref?.device ?? 'http'): Caller => ({ user, device, conn: ref });
const input = (conversation: string, clientMsgId: string, body = `body ${clientMsgId}`, meta: Record<string, string> = {}) => ({ conversation, clientMsgId, body, meta });

async function group(store: MessageStore, id: string, members: string[]): Promise<Conversation> {
  const conversation: Conversation = { id, kind: 'group', members: members.map((user) => ({ user, role: 'member' as const })), createdAt: 1, subject: id };
  await store.commit([{ kind: 'conversation', conversation }]);
  return conversation;
}

async function storedSeqs(store: MessageStore, conversation: string): Promise<number[]> {
  return (await store.readAfter(conversation, 0, 10_000)).map((m) => m.seq);
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

async function chatError(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CatalogError, `expected a CatalogError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

describe('ChatService.send', () => {
  it('assigns gapless seqs and stores each message before acking', async () => {
    const { svc, sqlite } = setup();
    const c = await svc.openDirect('alice', 'bob');
    for (let i = 1; i <= 5; i++) {
      const ack = await svc.send(caller('alice'), input(c.id, `m${i}`));
      assert.deepEqual([ack.seq, ack.duplicate, ack.clientMsgId, ack.conversation], [i, false, `m${i}`, c.id]);
      const stored = await sqlite.findByClientMsgId(c.id, 'alice', `m${i}`);
      assert.equal(stored?.messageId, ack.messageId);
    }
    assert.deepEqual(await storedSeqs(sqlite, c.id), range(1, 5));
  });

  it('a full write queue refuses sends as overloaded without burning or reusing seqs', async () => {
    const sqlite = new SqliteStore(':memory:');
    const store = new HookedStore(sqlite);
    // Commits wait for a gate each; one op per batch, at most 4 queued behind it.
    const gates: Array<() => void> = [];
    const writer = new BatchWriter<WriteOp>((ops) => store.commit(ops), { maxDelayMs: 1, maxQueue: 4, maxBatch: 1 });
    const registry = new ConnectionRegistry();
    const svc = new ChatService({ store, writer, registry, fanout: new LocalFanout(registry, new RecordingOutbox()), limits: LIMITS });
    const c = await svc.openDirect('alice', 'bob');
    store.beforeCommit = () => new Promise<void>((r) => gates.push(r));
    const tick = () => new Promise((r) => setTimeout(r, 20));
    const send = (id: string) => svc.send(caller('alice'), input(c.id, id)).then((a) => a.seq, (e: CatalogError) => e.code);
    const first = Array.from({ length: 8 }, (_, i) => send(`q${i}`));
    await tick();
    // One in flight, four queued, three refused. Let one commit, then send again while
    // seqs are still queued: it must continue after them, not reload and reuse one.
    gates.shift()!();
    await tick();
    const mid = send('mid');
    await tick();
    store.beforeCommit = async () => {};
    while (gates.length) gates.shift()!();
    const outcomes = [...(await Promise.all(first)), await mid];
    const acked = outcomes.filter((o): o is number => typeof o === 'number').sort((a, b) => a - b);
    assert.ok(outcomes.includes('overloaded'), `some sends refused: ${outcomes.join(',')}`);
    assert.deepEqual(acked, range(1, acked.length), `acked seqs are distinct and gapless: ${outcomes.join(',')}`);
    const next = await svc.send(caller('alice'), input(c.id, 'after'));
    assert.equal(next.seq, acked.length + 1);
    const stored = await sqlite.readAfter(c.id, 0, 100);
    assert.deepEqual(stored.map((m) => m.seq), range(1, acked.length + 1));
    assert.equal(new Set(stored.map((m) => m.clientMsgId)).size, stored.length, 'every stored row is a different message');
  });

  it('concurrent sends to one conversation get distinct gapless seqs, fanned out in seq order', async () => {
    const { svc, sqlite, registry, outbox } = setup();
    const c = await svc.openDirect('alice', 'bob');
    registry.add(conn('bob', 0, 1));
    const acks = await Promise.all(range(1, 30).map((i) => svc.send(caller(i % 2 ? 'alice' : 'bob'), input(c.id, `m${i}`))));
    assert.deepEqual(acks.map((a) => a.seq).sort((x, y) => x - y), range(1, 30));
    const stored = await sqlite.readAfter(c.id, 0, 100);
    assert.deepEqual(stored.map((m) => m.seq), range(1, 30));
    for (const a of acks) assert.equal(stored[a.seq - 1].messageId, a.messageId);
    assert.deepEqual(outbox.deliveries.map((d) => d.message.seq), range(1, 30));
  });

  it('concurrent identical sends store one message and ack it twice', async () => {
    const { svc, sqlite } = setup();
    const c = await svc.openDirect('alice', 'bob');
    const [a, b] = await Promise.all([svc.send(caller('alice'), input(c.id, 'same')), svc.send(caller('alice'), input(c.id, 'same'))]);
    assert.deepEqual([a.seq, a.messageId], [b.seq, b.messageId]);
    assert.deepEqual([a.duplicate, b.duplicate].sort(), [false, true]);
    assert.deepEqual(await storedSeqs(sqlite, c.id), [1]);
  });

  it('a resend after the commit returns the first ack marked duplicate', async () => {
    const { svc, sqlite, outbox, registry } = setup();
    const c = await svc.openDirect('alice', 'bob');
    registry.add(conn('bob', 0, 1));
    const first = await svc.send(caller('alice'), input(c.id, 'm1'));
    const again = await svc.send(caller('alice'), input(c.id, 'm1', 'a different body'));
    assert.deepEqual(again, { ...first, duplicate: true });
    assert.equal(outbox.deliveries.length, 1, 'the duplicate is not pushed again');
    assert.equal((await svc.send(caller('alice'), input(c.id, 'm2'))).seq, 2);
    assert.deepEqual(await storedSeqs(sqlite, c.id), [1, 2]);
  });

  it('dedup is per sender', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    const a = await svc.send(caller('alice'), input(c.id, 'm1'));
    const b = await svc.send(caller('bob'), input(c.id, 'm1'));
    assert.deepEqual([a.seq, b.seq, b.duplicate], [1, 2, false]);
  });

  it('refuses non-members and unknown conversations with not_member', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await chatError(svc.send(caller('carol'), input(c.id, 'm1')), 'not_member');
    await chatError(svc.send(caller('alice'), input('no-such-conversation', 'm1')), 'not_member');
  });

  it('refuses a message whose body and meta exceed the limit with limit_exceeded', async () => {
    const { svc, sqlite } = setup({ maxMessageBytes: 100 });
    const c = await svc.openDirect('alice', 'bob');
    await chatError(svc.send(caller('alice'), input(c.id, 'm1', 'x'.repeat(101))), 'limit_exceeded');
    await chatError(svc.send(caller('alice'), input(c.id, 'm2', 'x'.repeat(60), { key: 'y'.repeat(40) })), 'limit_exceeded');
    await chatError(svc.send(caller('alice'), input(c.id, 'm3', 'é'.repeat(51))), 'limit_exceeded');
    assert.equal((await svc.send(caller('alice'), input(c.id, 'm4', 'x'.repeat(100)))).seq, 1);
    assert.deepEqual(await storedSeqs(sqlite, c.id), [1]);
  });

  it('refuses a missing or too long client_msg_id', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await chatError(svc.send(caller('alice'), input(c.id, '')), 'invalid_argument');
    await chatError(svc.send(caller('alice'), input(c.id, 'x'.repeat(65))), 'invalid_argument');
  });
});

describe('ChatService deliveries', () => {
  it('go to every connection of every member except the one the message came on', async () => {
    const { svc, registry, outbox, store } = setup();
    await group(store, 'g1', ['alice', 'bob', 'carol']);
    const alicePhone = conn('alice', 0, 1);
    const aliceLaptop = conn('alice', 1, 2);
    const bob = conn('bob', 0, 3);
    registry.add(alicePhone);
    registry.add(aliceLaptop);
    registry.add(bob);
    registry.add(conn('dave', 0, 4)); // not a member
    const ack = await svc.send(caller('alice', alicePhone), input('g1', 'm1'));
    assert.equal(outbox.deliveries.length, 1);
    const d = outbox.deliveries[0];
    assert.equal(d.message.messageId, ack.messageId);
    assert.deepEqual(d.message.sender, 'alice');
    assert.deepEqual(new Set(d.to), new Set([aliceLaptop, bob]));
  });

  it('a send over HTTP (no connection) goes to every member connection', async () => {
    const { svc, registry, outbox } = setup();
    const c = await svc.openDirect('alice', 'bob');
    registry.add(conn('alice', 0, 1));
    registry.add(conn('bob', 0, 2));
    await svc.send(caller('alice'), input(c.id, 'm1'));
    assert.equal(outbox.deliveries[0].to.length, 2);
    registry.remove('bob', 0, 2);
    await svc.send(caller('alice'), input(c.id, 'm2'));
    assert.deepEqual(outbox.deliveries[1].to, [conn('alice', 0, 1)]);
    assert.equal(registry.size, 1);
  });
});

describe('ChatService receipts', () => {
  async function twoMessages() {
    const s = setup();
    const c = await s.svc.openDirect('alice', 'bob');
    await s.svc.send(caller('alice'), input(c.id, 'm1'));
    await s.svc.send(caller('alice'), input(c.id, 'm2'));
    const alice = conn('alice', 0, 1);
    const bobPhone = conn('bob', 0, 2, 'phone');
    const bobLaptop = conn('bob', 1, 3, 'laptop');
    for (const r of [alice, bobPhone, bobLaptop]) s.registry.add(r);
    return { ...s, c, alice, bobPhone, bobLaptop };
  }

  it('an ack sends a delivered receipt to the other connections', async () => {
    const { svc, outbox, c, alice, bobPhone, bobLaptop } = await twoMessages();
    await svc.ack(caller('bob', bobPhone), c.id, 1);
    assert.equal(outbox.receiptBatches.length, 1);
    assert.deepEqual(outbox.receiptBatches[0].receipts, [{ conversation: c.id, user: 'bob', kind: 'delivered', seq: 1 }]);
    assert.deepEqual(new Set(outbox.receiptBatches[0].to), new Set([alice, bobLaptop]));
  });

  it('a read implies delivered', async () => {
    const { svc, outbox, c, bobPhone } = await twoMessages();
    await svc.read(caller('bob', bobPhone), c.id, 2);
    assert.deepEqual(outbox.receiptBatches[0].receipts, [
      { conversation: c.id, user: 'bob', kind: 'delivered', seq: 2 },
      { conversation: c.id, user: 'bob', kind: 'read', seq: 2 },
    ]);
  });

  it('above the last seq is refused with invalid_argument and moves nothing', async () => {
    const { svc, outbox, c, bobPhone } = await twoMessages();
    await chatError(svc.read(caller('bob', bobPhone), c.id, 99), 'invalid_argument');
    await chatError(svc.ack(caller('bob', bobPhone), c.id, 3), 'invalid_argument');
    assert.equal(outbox.receiptBatches.length, 0);
    // The cursor did not move: a later valid ack still produces its receipt.
    await svc.ack(caller('bob', bobPhone), c.id, 2);
    assert.deepEqual(outbox.receiptBatches[0].receipts.map((r) => r.seq), [2]);
  });

  it('sends nothing when the member watermark does not move', async () => {
    const { svc, outbox, c, bobPhone, bobLaptop } = await twoMessages();
    await svc.ack(caller('bob', bobPhone), c.id, 2);
    await svc.ack(caller('bob', bobPhone), c.id, 1);
    await svc.ack(caller('bob', bobLaptop), c.id, 2);
    assert.equal(outbox.receiptBatches.length, 1);
  });

  it('refuses non-members', async () => {
    const { svc, c } = await twoMessages();
    await chatError(svc.ack(caller('carol'), c.id, 1), 'not_member');
    await chatError(svc.read(caller('carol'), c.id, 1), 'not_member');
  });

  it('persists cursors: a fresh service sees the watermarks in sync receipts', async () => {
    const { svc, c, sqlite, writer, bobPhone } = await twoMessages();
    await svc.read(caller('bob', bobPhone), c.id, 1);
    await writer.flush();
    const registry = new ConnectionRegistry();
    const fresh = new ChatService({ store: sqlite, writer, registry, fanout: new LocalFanout(registry, new RecordingOutbox()), limits: LIMITS });
    const page = await fresh.sync(caller('alice'), [], 0);
    assert.deepEqual(
      page.receipts.sort((a, b) => a.kind.localeCompare(b.kind)),
      [
        { conversation: c.id, user: 'bob', kind: 'delivered', seq: 1 },
        { conversation: c.id, user: 'bob', kind: 'read', seq: 1 },
      ],
    );
  });
});

describe('ChatService.sync', () => {
  it('refuses a cursor above the conversation\'s last seq with invalid_argument; the last seq itself is fine', async () => {
    const { svc, store } = setup();
    await group(store, 'ga', ['alice', 'bob']);
    for (let i = 1; i <= 3; i++) await svc.send(caller('bob'), input('ga', `a${i}`));
    await chatError(svc.sync(caller('alice'), [{ conversation: 'ga', seq: 4 }], 0), 'invalid_argument');
    const page = await svc.sync(caller('alice'), [{ conversation: 'ga', seq: 3 }], 0);
    assert.deepEqual([page.messages.length, page.hasMore, page.conversations[0].lastSeq], [0, false, 3]);
    // Cursors of conversations the user is not in are still ignored.
    await svc.sync(caller('alice'), [{ conversation: 'elsewhere', seq: 99 }], 0);
  });

  it('pages through every conversation in seq order until has_more is false', async () => {
    const { svc, store } = setup();
    await group(store, 'ga', ['alice', 'bob']);
    await group(store, 'gb', ['alice', 'carol']);
    await group(store, 'gc', ['bob', 'carol']); // not alice's
    for (let i = 1; i <= 7; i++) await svc.send(caller('bob'), input('ga', `a${i}`));
    for (let i = 1; i <= 6; i++) await svc.send(caller('carol'), input('gb', `b${i}`));
    await svc.send(caller('bob'), input('gc', 'c1'));
    await svc.ack(caller('bob'), 'ga', 7);

    const got = new Map<string, number[]>();
    let cursors: Array<{ conversation: string; seq: number }> = [];
    let pages = 0;
    for (;;) {
      const p = await svc.sync(caller('alice', null, 'phone'), cursors, 4);
      pages++;
      assert.ok(p.messages.length <= 4);
      for (const m of p.messages) got.set(m.conversation, [...(got.get(m.conversation) ?? []), m.seq]);
      assert.deepEqual(p.conversations.map((c) => c.conversation), ['ga', 'gb']);
      for (const ci of p.conversations) {
        const mine = p.messages.filter((m) => m.conversation === ci.conversation);
        if (mine.length) assert.equal(ci.nextCursor, mine[mine.length - 1].seq);
        assert.equal(ci.lastSeq, ci.conversation === 'ga' ? 7 : 6);
        assert.equal(ci.resyncRequired, false);
      }
      cursors = p.conversations.map((c) => ({ conversation: c.conversation, seq: c.nextCursor }));
      if (!p.hasMore) {
        // These fixtures are groups: their receipts are aggregates (group_receipts) and
        // member_receipts queries, never one watermark per member in a sync page.
        assert.deepEqual(p.receipts, []);
        break;
      }
      assert.deepEqual(p.receipts, [], 'receipts come with the last page');
      assert.ok(pages < 10);
    }
    assert.equal(pages, 4);
    assert.deepEqual(Object.fromEntries(got), { ga: range(1, 7), gb: range(1, 6) });
  });

  it('uses the default page size for 0 and caps at the maximum', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    for (let i = 1; i <= 12; i++) await svc.send(caller('bob'), input(c.id, `m${i}`));
    assert.equal((await svc.sync(caller('alice'), [], 0)).messages.length, LIMITS.defaultSyncPage);
    assert.equal((await svc.sync(caller('alice'), [], 1000)).messages.length, LIMITS.maxSyncPage);
  });

  it("leaves out the caller's own receipts and those of conversations it has left nothing in", async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await svc.send(caller('bob'), input(c.id, 'm1'));
    await svc.read(caller('alice'), c.id, 1);
    const p = await svc.sync(caller('alice'), [{ conversation: c.id, seq: 1 }], 0);
    assert.deepEqual([p.messages, p.hasMore, p.receipts], [[], false, []]);
  });

  it('flags resync_required and restarts at first_seq once retention trimmed past the cursor', async () => {
    const { svc, writer } = setup({ retentionMessages: 10 });
    const c = await svc.openDirect('alice', 'bob');
    for (let i = 1; i <= 30; i++) await svc.send(caller('bob'), input(c.id, `m${i}`));
    await writer.flush();
    const p = await svc.sync(caller('alice'), [{ conversation: c.id, seq: 0 }], 10);
    const ci = p.conversations[0];
    assert.equal(ci.resyncRequired, true);
    assert.ok(ci.firstSeq > 1 && ci.firstSeq <= 21, `firstSeq ${ci.firstSeq}`);
    assert.equal(p.messages[0].seq, ci.firstSeq);
    assert.deepEqual(p.messages.map((m) => m.seq), range(ci.firstSeq, ci.firstSeq + p.messages.length - 1));

    const fresh = await svc.sync(caller('alice'), [{ conversation: c.id, seq: 25 }], 10);
    assert.equal(fresh.conversations[0].resyncRequired, false);
    assert.deepEqual(fresh.messages.map((m) => m.seq), range(26, 30));

    const h = await svc.history(caller('alice'), c.id, 0, 10);
    assert.deepEqual(h.messages.map((m) => m.seq), range(21, 30).reverse());
    assert.equal(h.firstSeq, ci.firstSeq);
  });
});

describe('ChatService.history', () => {
  it('pages backwards from a seq, newest first', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    for (let i = 1; i <= 7; i++) await svc.send(caller('bob'), input(c.id, `m${i}`));
    const p1 = await svc.history(caller('alice'), c.id, 0, 3);
    assert.deepEqual([p1.messages.map((m) => m.seq), p1.hasMore, p1.firstSeq], [[7, 6, 5], true, 1]);
    const p2 = await svc.history(caller('alice'), c.id, 5, 3);
    assert.deepEqual([p2.messages.map((m) => m.seq), p2.hasMore], [[4, 3, 2], true]);
    const p3 = await svc.history(caller('alice'), c.id, 2, 3);
    assert.deepEqual([p3.messages.map((m) => m.seq), p3.hasMore], [[1], false]);
    const beyond = await svc.history(caller('alice'), c.id, 1000, 2);
    assert.deepEqual(beyond.messages.map((m) => m.seq), [7, 6]);
  });

  it('caps the page size and defaults it', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    for (let i = 1; i <= 15; i++) await svc.send(caller('bob'), input(c.id, `m${i}`));
    assert.equal((await svc.history(caller('alice'), c.id, 0, 500)).messages.length, LIMITS.maxHistoryPage);
    assert.equal((await svc.history(caller('alice'), c.id, 0, 0)).messages.length, LIMITS.maxHistoryPage);
  });

  it('an empty conversation has no more', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    assert.deepEqual(await svc.history(caller('alice'), c.id, 0, 5), { conversation: c.id, messages: [], hasMore: false, firstSeq: 1 });
  });

  it('members only, except for an app backend (no caller)', async () => {
    const { svc } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await svc.send(caller('bob'), input(c.id, 'm1'));
    await chatError(svc.history(caller('carol'), c.id, 0, 5), 'not_member');
    assert.equal((await svc.history(null, c.id, 0, 5)).messages.length, 1);
    await chatError(svc.history(null, 'nope', 0, 5), 'not_member');
  });
});

describe('ChatService.openDirect', () => {
  it('is idempotent, symmetric and safe to call concurrently', async () => {
    const { svc } = setup();
    const [a, b, c] = await Promise.all([svc.openDirect('alice', 'bob'), svc.openDirect('bob', 'alice'), svc.openDirect('alice', 'bob')]);
    assert.equal(a.id, b.id);
    assert.equal(a.id, c.id);
    assert.equal(a.kind, 'direct');
    assert.deepEqual(a.members.map((m) => m.user), ['alice', 'bob']);
    const again = await svc.openDirect('alice', 'bob');
    assert.deepEqual(again, a);
    assert.notEqual((await svc.openDirect('alice', 'carol')).id, a.id);
  });

  it('shows up in both users\u2019 conversation lists with its last seq', async () => {
    const { svc } = setup();
    assert.deepEqual(await svc.listConversations('alice'), []);
    const c = await svc.openDirect('alice', 'bob');
    await svc.send(caller('alice'), input(c.id, 'm1'));
    for (const u of ['alice', 'bob']) {
      const list = await svc.listConversations(u);
      assert.deepEqual(list.map((x) => [x.conv.id, x.lastSeq]), [[c.id, 1]]);
    }
  });

  it('refuses oneself and malformed peers', async () => {
    const { svc } = setup();
    await chatError(svc.openDirect('alice', 'alice'), 'forbidden');
    await chatError(svc.openDirect('alice', ''), 'invalid_argument');
    await chatError(svc.openDirect('alice', 'has space'), 'invalid_argument');
  });
});

describe('ChatService with a failing store', () => {
  it('a failed batch fails its send and leaves no seq gap for later sends', async () => {
    const { svc, store, sqlite } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await svc.send(caller('alice'), input(c.id, 'm1'));
    store.failNextCommit = true;
    await assert.rejects(svc.send(caller('alice'), input(c.id, 'm2')), (e: Error & { code?: string }) => e.code === 'unavailable');
    assert.equal((await svc.send(caller('alice'), input(c.id, 'm3'))).seq, 2);
    // The failed message may be resent with its client_msg_id and gets the next seq.
    assert.equal((await svc.send(caller('alice'), input(c.id, 'm2'))).seq, 3);
    assert.deepEqual(await storedSeqs(sqlite, c.id), [1, 2, 3]);
  });

  it('sends queued behind a failed batch fail too, and the next ones stay gapless', async () => {
    const { svc, store, sqlite } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await svc.send(caller('alice'), input(c.id, 'm1'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    store.beforeCommit = async () => {
      if (first) {
        first = false;
        await gate;
      }
    };
    store.failNextCommit = true;
    const failing = svc.send(caller('alice'), input(c.id, 'm2'));
    // Let m2's batch reach the store before the next sends queue up behind it.
    while (first) await new Promise((r) => setImmediate(r));
    const behind = [svc.send(caller('alice'), input(c.id, 'm3')), svc.send(caller('bob'), input(c.id, 'm4'))];
    await new Promise((r) => setImmediate(r));
    release();
    const results = await Promise.allSettled([failing, ...behind]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    const acks = await Promise.all([svc.send(caller('alice'), input(c.id, 'm5')), svc.send(caller('bob'), input(c.id, 'm6'))]);
    assert.deepEqual(acks.map((a) => a.seq).sort(), [2, 3]);
    assert.deepEqual(await storedSeqs(sqlite, c.id), [1, 2, 3]);
  });

  it('a send still checking dedup when a batch fails does not commit past the hole', async () => {
    const { svc, store, sqlite } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await svc.send(caller('alice'), input(c.id, 'm1'));
    // m3's dedup read is slow (a store round trip) and finishes after m2's batch failed.
    let releaseFind!: () => void;
    const findGate = new Promise<void>((r) => (releaseFind = r));
    store.beforeFind = async (id) => {
      if (id === 'm3') await findGate;
    };
    store.failNextCommit = true;
    const m2 = svc.send(caller('alice'), input(c.id, 'm2'));
    const m3 = svc.send(caller('alice'), input(c.id, 'm3'));
    await assert.rejects(m2);
    releaseFind();
    await Promise.allSettled([m3]);
    const m4 = await svc.send(caller('alice'), input(c.id, 'm4'));
    const seqs = await storedSeqs(sqlite, c.id);
    assert.deepEqual(seqs, range(1, seqs.length), `stored seqs ${seqs.join(',')} have a gap`);
    assert.equal(m4.seq, seqs.length);
  });
});
