/**
 * Groups over real sockets against a real node: a full 1024-member group of real
 * connections (binary encoding), fan-out exactly once, offline catch-up, aggregated
 * receipts converging to exact counts, per-member detail, removal, roles and the cap.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { messagesOf, show, sleep, syncAll, TestNode } from './harness.js';

let node: TestNode;
before(async () => {
  node = await TestNode.start({ config: { limits: { groupReceiptIntervalMs: 250 } } });
});
after(async () => {
  await node.stop();
  node.cleanup();
});

const N = 1024;
const OFFLINE = 24;

async function connectMany(users: string[]): Promise<TestClient[]> {
  const out: TestClient[] = [];
  for (let i = 0; i < users.length; i += 128) {
    const batch = await Promise.all(users.slice(i, i + 128).map((u) => node.connect(u, 'phone', { encoding: 'proto' })));
    await Promise.all(batch.map((c) => syncAll(c)));
    out.push(...batch);
  }
  return out;
}

function kindOf(f: ServerFrame): string {
  return f.kind.case ?? '';
}

describe('a 1024-member group', () => {
  it('fans out once per device, catches up offline members, aggregates receipts, and stops at removal', { timeout: 240_000 }, async () => {
    const admin = 'gadmin';
    const members = Array.from({ length: N - 1 }, (_, i) => `gm${i}`);
    const onlineUsers = members.slice(0, N - 1 - OFFLINE);
    const offlineUsers = members.slice(N - 1 - OFFLINE);
    const a = await node.connect(admin, 'phone', { encoding: 'proto' });
    await syncAll(a);
    const online = await connectMany(onlineUsers);

    // The cap counts the creator: 1024 members in all is allowed, 1025 is not.
    const tooBig = await a.call({ kind: { case: 'createGroup', value: { subject: 'too big', members: [...members, 'one-more'] } } });
    assert.equal(tooBig.kind.case === 'error' && tooBig.kind.value.code, 'limit_exceeded', show(tooBig.kind.value));

    const created = await a.call({ kind: { case: 'createGroup', value: { subject: 'all hands', members } } });
    assert.equal(kindOf(created), 'groupInfo', show(created.kind.value));
    const info = created.kind.case === 'groupInfo' ? created.kind.value : null;
    const conv = info!.conversation;
    assert.equal(info!.members.length, N);
    assert.equal(Number(info!.seq), 1);

    const ack = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'hello-1', body: 'hello all' } } });
    assert.equal(kindOf(ack), 'sendAck', show(ack.kind.value));
    assert.equal(ack.kind.case === 'sendAck' && Number(ack.kind.value.seq), 2);

    // Every online member gets seq 1 (the creation) and seq 2, exactly once each.
    await Promise.all(online.map((c) => c.waitFor(() => messagesOf(c, conv).some((m) => m.seq === 2), 60_000)));
    await sleep(300);
    for (const [i, c] of online.entries()) {
      assert.deepEqual(messagesOf(c, conv).map((m) => m.seq), [1, 2], `member ${onlineUsers[i]}`);
    }
    const pushed = online[0].frames.find((f) => f.kind.case === 'message' && Number(f.kind.value.seq) === 1);
    assert.equal(pushed?.kind.case === 'message' && pushed.kind.value.meta.system, 'group_created');

    // Receipts: everyone online acks seq 2, every other one also reads it.
    const readers = online.filter((_, i) => i % 2 === 0);
    for (const c of online) c.send({ kind: { case: 'ack', value: { conversation: conv, seq: 2n } } });
    for (const c of readers) c.send({ kind: { case: 'read', value: { conversation: conv, seq: 2n } } });
    const want = { delivered: online.length, read: readers.length };
    const counts = (f: ServerFrame) => (f.kind.case === 'groupReceipts' ? f.kind.value.counts.find((x) => Number(x.seq) === 2) : undefined);
    await a.waitFor((f) => {
      const c = counts(f);
      return !!c && c.delivered === want.delivered && c.read === want.read;
    }, 60_000);
    const aggregates = a.frames.filter((f) => f.kind.case === 'groupReceipts');
    for (const f of aggregates) assert.equal(f.kind.case === 'groupReceipts' && f.kind.value.members, N - 1, 'M is the other members');
    // 1000+ watermark moves become a handful of frames, not one per member.
    assert.ok(aggregates.length < 60, `${aggregates.length} aggregate frames`);
    const seenCounts = aggregates.map(counts).filter((c) => c !== undefined);
    for (let i = 1; i < seenCounts.length; i++) {
      assert.ok(seenCounts[i]!.delivered >= seenCounts[i - 1]!.delivered && seenCounts[i]!.read >= seenCounts[i - 1]!.read, 'counts only grow');
    }

    const detail = await a.call({ kind: { case: 'memberReceipts', value: { conversation: conv, seq: 2n } } });
    assert.equal(kindOf(detail), 'memberReceipts', show(detail.kind.value));
    if (detail.kind.case === 'memberReceipts') {
      assert.equal(detail.kind.value.members, N - 1);
      assert.deepEqual([...detail.kind.value.delivered].sort(), [...onlineUsers].sort());
      assert.deepEqual([...detail.kind.value.read].sort(), onlineUsers.filter((_, i) => i % 2 === 0).sort());
    }

    // Offline members catch up on connect, exactly once.
    const late = await connectMany(offlineUsers);
    for (const c of late) assert.deepEqual(messagesOf(c, conv).map((m) => m.seq), [1, 2]);

    // Only admins manage members.
    const notAdmin = await online[5].call({ kind: { case: 'removeMembers', value: { conversation: conv, users: [onlineUsers[6]] } } });
    assert.equal(notAdmin.kind.case === 'error' && notAdmin.kind.value.code, 'forbidden');
    const full = await a.call({ kind: { case: 'addMembers', value: { conversation: conv, users: ['newcomer'] } } });
    assert.equal(full.kind.case === 'error' && full.kind.value.code, 'limit_exceeded', 'the group is full');

    // Removal: the removed member gets the removal message and nothing after it.
    const victim = online[1];
    const removed = await a.call({ kind: { case: 'removeMembers', value: { conversation: conv, users: [onlineUsers[1]] } } });
    assert.equal(kindOf(removed), 'groupInfo', show(removed.kind.value));
    assert.equal(removed.kind.case === 'groupInfo' && removed.kind.value.members.length, N - 1);
    await victim.waitFor((f) => f.kind.case === 'message' && Number(f.kind.value.seq) === 3);
    const after = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'after-removal', body: 'not for you' } } });
    assert.equal(after.kind.case === 'sendAck' && Number(after.kind.value.seq), 4);
    await online[2].waitFor((f) => f.kind.case === 'message' && Number(f.kind.value.seq) === 4);
    await sleep(500);
    assert.deepEqual(messagesOf(victim, conv).map((m) => m.seq), [1, 2, 3], 'nothing after the removal');
    const removal = victim.frames.find((f) => f.kind.case === 'message' && Number(f.kind.value.seq) === 3);
    assert.equal(removal?.kind.case === 'message' && removal.kind.value.meta.system, 'member_removed');
    // It keeps its history up to the removal, and can neither send nor read further.
    const fresh = await node.connect(onlineUsers[1], 'tablet', { encoding: 'proto' });
    await syncAll(fresh);
    assert.deepEqual(messagesOf(fresh, conv).map((m) => m.seq), [1, 2, 3]);
    const hist = await fresh.call({ kind: { case: 'history', value: { conversation: conv, beforeSeq: 0n, limit: 10 } } });
    assert.deepEqual(hist.kind.case === 'historyPage' && hist.kind.value.messages.map((m) => Number(m.seq)), [3, 2, 1]);
    const denied = await fresh.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'sneak', body: 'x' } } });
    assert.equal(denied.kind.case === 'error' && denied.kind.value.code, 'not_member');

    // A member leaves; the subject changes; both are ordered system messages.
    const left = await online[3].call({ kind: { case: 'leaveGroup', value: { conversation: conv } } });
    assert.equal(left.kind.case === 'groupInfo' && Number(left.kind.value.seq), 5);
    const subj = await a.call({ kind: { case: 'setSubject', value: { conversation: conv, subject: 'renamed' } } });
    assert.equal(subj.kind.case === 'groupInfo' && subj.kind.value.subject, 'renamed');
    await online[4].waitFor((f) => f.kind.case === 'message' && Number(f.kind.value.seq) === 6);
    assert.deepEqual(messagesOf(online[4], conv).map((m) => m.seq), [1, 2, 3, 4, 5, 6], 'members see every change in seq order');

    for (const c of [a, ...online, ...late, fresh]) c.terminate();
  });
});
