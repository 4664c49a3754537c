/**
 * The delivery contract over real sockets against a real node process:
 * online 1:1 with ✓ / ✓✓ / read in order, offline sync exactly once and in order,
 * one order on every device, multi-device fan-out, a new device's full history.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptKind, type ServerFrame } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { messagesOf, show, sleep, syncAll, TestNode, openDirect } from './harness.js';

let node: TestNode;
before(async () => {
  node = await TestNode.start();
});
after(async () => {
  await node.stop();
  node.cleanup();
});

async function send(c: TestClient, conversation: string, clientMsgId: string, body: string): Promise<ServerFrame> {
  return c.call({ kind: { case: 'send', value: { conversation, clientMsgId, body } } });
}

function ackSeq(f: ServerFrame): number {
  assert.equal(f.kind.case, 'sendAck', show(f.kind.value));
  return Number((f.kind.value as { seq: bigint }).seq);
}

describe('1:1 chat', () => {
  it('online delivery shows ✓ then ✓✓ then read, in that order', async () => {
    const alice = await node.connect('alice1', 'phone');
    const bob = await node.connect('bob1', 'phone');
    const conv = await openDirect(alice, 'bob1');
    assert.equal(await openDirect(bob, 'alice1'), conv, 'the same pair yields the same conversation');
    await syncAll(bob);
    const ack = await send(alice, conv, 'm-1', 'hello bob');
    const seq = ackSeq(ack);
    assert.equal(seq, 1);
    const pushed = await bob.waitFor((f) => f.kind.case === 'message');
    assert.equal(pushed.kind.case === 'message' && pushed.kind.value.body, 'hello bob');
    bob.send({ kind: { case: 'ack', value: { conversation: conv, seq: BigInt(seq) } } });
    const delivered = await alice.waitFor((f) => f.kind.case === 'receipt' && f.kind.value.kind === ReceiptKind.DELIVERED);
    bob.send({ kind: { case: 'read', value: { conversation: conv, seq: BigInt(seq) } } });
    const read = await alice.waitFor((f) => f.kind.case === 'receipt' && f.kind.value.kind === ReceiptKind.READ);
    const order = [alice.frames.indexOf(ack), alice.frames.indexOf(delivered), alice.frames.indexOf(read)];
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'ack, delivered, read arrive in order');
    assert.equal(read.kind.case === 'receipt' && read.kind.value.user, 'bob1');
    assert.equal(read.kind.case === 'receipt' && Number(read.kind.value.seq), seq);
    alice.close();
    bob.close();
  });

  it('offline recipient gets everything on reconnect, exactly once, in order', async () => {
    const alice = await node.connect('alice2', 'phone');
    const conv = await openDirect(alice, 'bob2');
    const bob0 = await node.connect('bob2', 'phone');
    const cursors = await syncAll(bob0);
    bob0.close();
    await bob0.waitClose();
    for (let i = 1; i <= 30; i++) ackSeq(await send(alice, conv, `off-${i}`, `msg ${i}`));
    const bob = await node.connect('bob2', 'phone');
    await syncAll(bob, cursors, 7); // small pages: pagination must not lose or repeat
    const got = messagesOf(bob, conv);
    assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.deepEqual(got.map((m) => m.body), Array.from({ length: 30 }, (_, i) => `msg ${i + 1}`));
    // Delivered receipts flow to the sender once bob acks.
    bob.send({ kind: { case: 'ack', value: { conversation: conv, seq: 30n } } });
    const r = await alice.waitFor((f) => f.kind.case === 'receipt' && Number(f.kind.value.seq) === 30);
    assert.equal(r.kind.case === 'receipt' && r.kind.value.kind, ReceiptKind.DELIVERED);
    alice.close();
    bob.close();
  });

  it('a sender that was offline learns the receipts on its next sync', async () => {
    const alice = await node.connect('alice3', 'phone');
    const conv = await openDirect(alice, 'bob3');
    ackSeq(await send(alice, conv, 'r-1', 'one'));
    alice.close();
    await alice.waitClose();
    const bob = await node.connect('bob3', 'tablet');
    await syncAll(bob);
    bob.send({ kind: { case: 'read', value: { conversation: conv, seq: 1n } } });
    await sleep(200);
    const alice2 = await node.connect('alice3', 'phone');
    const page = await alice2.call({ kind: { case: 'sync', value: { cursors: [{ conversation: conv, seq: 1n }] } } });
    assert.equal(page.kind.case, 'syncPage');
    const receipts = page.kind.case === 'syncPage' ? page.kind.value.receipts : [];
    assert.ok(receipts.some((r) => r.user === 'bob3' && r.kind === ReceiptKind.READ && Number(r.seq) === 1), show(receipts.map((r) => [r.user, r.kind, Number(r.seq)])));
    alice2.close();
    bob.close();
  });

  it('every device sees one order, with concurrent senders and live + sync mixed', async () => {
    const a1 = await node.connect('alice4', 'phone');
    const conv = await openDirect(a1, 'bob4');
    const a2 = await node.connect('alice4', 'laptop');
    const b1 = await node.connect('bob4', 'phone');
    await Promise.all([syncAll(a1), syncAll(a2), syncAll(b1)]);
    const sends: Promise<ServerFrame>[] = [];
    for (let i = 0; i < 40; i++) {
      sends.push(send(a1, conv, `a-${i}`, `a${i}`));
      sends.push(send(b1, conv, `b-${i}`, `b${i}`));
      // A device that connects mid-stream and syncs while sends continue.
      if (i === 20) void node.connect('bob4', 'tablet').then(async (c) => {
        await syncAll(c);
        late = c;
      });
    }
    let late: TestClient | null = null;
    const acks = (await Promise.all(sends)).map(ackSeq);
    assert.deepEqual([...acks].sort((x, y) => x - y), Array.from({ length: 80 }, (_, i) => i + 1), 'gapless seqs 1..80');
    while (!late) await sleep(20);
    const lateClient: TestClient = late;
    await lateClient.waitFor(() => messagesOf(lateClient, conv).length >= 80).catch(() => {});
    // A device's full view = what it was pushed + its own acked sends.
    const view = (c: TestClient, own: Map<number, string>) => {
      const seen = messagesOf(c, conv).map((m) => [m.seq, m.body] as [number, string]);
      return new Map([...seen, ...own]);
    };
    await sleep(300);
    const ownA = new Map<number, string>();
    const ownB = new Map<number, string>();
    const all = await Promise.all(sends);
    all.forEach((f, idx) => {
      const s = ackSeq(f);
      (idx % 2 === 0 ? ownA : ownB).set(s, idx % 2 === 0 ? `a${idx / 2}` : `b${(idx - 1) / 2}`);
    });
    const reference = view(a1, ownA);
    assert.equal(reference.size, 80);
    for (const [name, v] of [['alice/laptop', view(a2, new Map())], ['bob/phone', view(b1, ownB)], ['bob/tablet', view(late, new Map())]] as const) {
      assert.deepEqual([...v.entries()].sort((x, y) => x[0] - y[0]), [...reference.entries()].sort((x, y) => x[0] - y[0]), `${name} sees the same seq -> message map`);
    }
    for (const c of [a2, b1, late]) {
      const seqs = messagesOf(c, conv).map((m) => m.seq);
      assert.equal(new Set(seqs).size, seqs.length, 'no message twice on one device');
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'pushed in seq order');
    }
    for (const c of [a1, a2, b1, late]) c.close();
  });

  it('a message sent from one device appears on the same user\'s other devices', async () => {
    const phone = await node.connect('alice5', 'phone');
    const laptop = await node.connect('alice5', 'laptop');
    const conv = await openDirect(phone, 'bob5');
    await syncAll(laptop);
    const seq = ackSeq(await send(phone, conv, 'md-1', 'from my phone'));
    const m = await laptop.waitFor((f) => f.kind.case === 'message');
    assert.equal(m.kind.case === 'message' && m.kind.value.body, 'from my phone');
    assert.equal(m.kind.case === 'message' && Number(m.kind.value.seq), seq);
    assert.equal(messagesOf(phone, conv).length, 0, 'the sending connection gets its ack, not a copy');
    phone.close();
    laptop.close();
  });

  it('a new device syncs the full history, paginated', async () => {
    const alice = await node.connect('alice6', 'phone');
    const c1 = await openDirect(alice, 'bob6');
    const c2 = await openDirect(alice, 'carol6');
    for (let i = 1; i <= 25; i++) ackSeq(await send(alice, c1, `h1-${i}`, `one ${i}`));
    for (let i = 1; i <= 12; i++) ackSeq(await send(alice, c2, `h2-${i}`, `two ${i}`));
    const fresh = await node.connect('alice6', 'new-laptop');
    const cursors = await syncAll(fresh, new Map(), 5);
    assert.equal(cursors.get(c1), 25);
    assert.equal(cursors.get(c2), 12);
    assert.deepEqual(messagesOf(fresh, c1).map((m) => m.body), Array.from({ length: 25 }, (_, i) => `one ${i + 1}`));
    assert.deepEqual(messagesOf(fresh, c2).map((m) => m.body), Array.from({ length: 12 }, (_, i) => `two ${i + 1}`));
    // History pages backwards from a seq.
    const h = await fresh.call({ kind: { case: 'history', value: { conversation: c1, beforeSeq: 11n, limit: 4 } } });
    assert.equal(h.kind.case, 'historyPage');
    if (h.kind.case === 'historyPage') {
      assert.deepEqual(h.kind.value.messages.map((m) => Number(m.seq)), [10, 9, 8, 7]);
      assert.equal(h.kind.value.hasMore, true);
    }
    alice.close();
    fresh.close();
  });

  it('lists the user\'s conversations with their last seq', async () => {
    const alice = await node.connect('alice7', 'phone');
    const conv = await openDirect(alice, 'bob7');
    ackSeq(await send(alice, conv, 'l-1', 'x'));
    const f = await alice.call({ kind: { case: 'listConversations', value: {} } });
    assert.equal(f.kind.case, 'conversations');
    if (f.kind.case === 'conversations') {
      assert.deepEqual(f.kind.value.conversations.map((c) => [c.conversation, c.kind, [...c.members], Number(c.lastSeq)]), [[conv, 'direct', ['alice7', 'bob7'], 1]]);
    }
    alice.close();
  });
});
