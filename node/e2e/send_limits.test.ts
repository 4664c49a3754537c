/**
 * Send limits above the per-connection bucket, over real sockets against a real node:
 * one bucket for all of a user's devices, a cap per (group, sender) and per group,
 * answered with a retryable rate_limited and retry_after_ms on a connection that stays
 * open; resends answered from the dedup key are not charged.
 *
 * The node runs with small buckets refilling at 1 token/s, so a few sends exhaust
 * them. Nothing asserts a duration: refusals are asserted as "at least one" of several
 * sends past the burst, so a slow machine (a token refilled mid-sequence) still passes
 * unless a sequence of a few local round trips takes seconds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { show, sleep, syncAll, TestNode, openDirect } from './harness.js';

const LIMITS = {
  userSendRatePerSec: 1,
  userSendBurst: 10,
  conversationSendRatePerSec: 1,
  conversationSendBurst: 12,
  conversationSenderRatePerSec: 1,
  conversationSenderBurst: 5,
};

let node: TestNode;
before(async () => {
  node = await TestNode.start({ config: { limits: LIMITS } });
});
after(async () => {
  await node.stop();
  node.cleanup();
});

function send(c: TestClient, conversation: string, clientMsgId: string): Promise<ServerFrame> {
  return c.call({ kind: { case: 'send', value: { conversation, clientMsgId, body: clientMsgId } } });
}

interface Err {
  code: string;
  message: string;
  retryable: boolean;
  retryAfterMs: number;
  conversation: string;
  clientMsgId: string;
}

function errorOf(f: ServerFrame): Err {
  assert.equal(f.kind.case, 'error', show(f));
  return f.kind.value as unknown as Err;
}

function acked(f: ServerFrame): boolean {
  return f.kind.case === 'sendAck';
}

function ackOf(f: ServerFrame): { seq: number; duplicate: boolean } {
  assert.equal(f.kind.case, 'sendAck', show(f));
  const v = f.kind.value as { seq: bigint; duplicate: boolean };
  return { seq: Number(v.seq), duplicate: v.duplicate };
}

/** Stored client_msg_ids of a conversation (HTTP API history), without system messages. */
async function stored(conv: string): Promise<string[]> {
  const h = await node.api('GET', `/v1/conversations/${conv}/messages?limit=200`);
  assert.equal(h.status, 200, show(h.body));
  return (h.body.messages as Array<{ client_msg_id: string; meta?: Record<string, string> }>)
    .filter((m) => !m.meta?.system)
    .map((m) => m.client_msg_id)
    .reverse();
}

describe('per-user send limit', () => {
  it('two devices of one user share one bucket; the refused device stays connected and can send after retry_after_ms', async () => {
    const phone = await node.connect('ul-alice', 'phone');
    const laptop = await node.connect('ul-alice', 'laptop');
    const toBob = await openDirect(phone, 'ul-bob');
    const toErin = await openDirect(phone, 'ul-erin');
    const toCarol = await openDirect(laptop, 'ul-carol');
    // The phone spends the user's burst of 10 over two chats (5 each: within each chat's cap).
    for (let i = 0; i < 5; i++) ackOf(await send(phone, toBob, `p-bob-${i}`));
    for (let i = 0; i < 5; i++) ackOf(await send(phone, toErin, `p-erin-${i}`));
    // The laptop has sent nothing yet, to a third chat: it is refused all the same.
    const replies: ServerFrame[] = [];
    for (let i = 0; i < 5; i++) replies.push(await send(laptop, toCarol, `l-${i}`));
    const refused = replies.filter((f) => !acked(f));
    assert.ok(refused.length >= 1, `the laptop's sends count against the user's bucket: ${show(replies.map((f) => f.kind.case))}`);
    for (const f of refused) {
      const e = errorOf(f);
      assert.equal(e.code, 'rate_limited');
      assert.equal(e.retryable, true);
      assert.ok(e.retryAfterMs > 0 && e.retryAfterMs <= 1000, `retry_after_ms ${e.retryAfterMs}: at most one token's refill at 1/s`);
      assert.equal(e.conversation, toCarol, 'the error names the send it answers');
      assert.match(e.message, /user/);
    }
    // The connection survived: other frames are still answered.
    const list = await laptop.call({ kind: { case: 'listConversations', value: {} } });
    assert.equal(list.kind.case, 'conversations', show(list));
    assert.equal(laptop.closeCode, null);
    // After waiting what it was told, the same message goes through, stored once.
    const first = errorOf(refused[0]);
    await sleep(first.retryAfterMs);
    const retry = ackOf(await send(laptop, toCarol, first.clientMsgId));
    assert.equal(retry.duplicate, false);
    const carol = await stored(toCarol);
    assert.equal(carol.filter((id) => id === first.clientMsgId).length, 1);
    assert.ok(carol.length < 5, `refused sends were not stored: ${show(carol)}`);
    for (const c of [phone, laptop]) c.close();
  });

  it('resends answered from the dedup key are not charged', async () => {
    const c = await node.connect('ul-dave', 'phone');
    const conv = await openDirect(c, 'ul-frank');
    const conv2 = await openDirect(c, 'ul-gina');
    const first = ackOf(await send(c, conv, 'd-0'));
    // 15 resends of an acked message: more than the whole burst of 10, all answered.
    for (let i = 0; i < 15; i++) assert.deepEqual(ackOf(await send(c, conv, 'd-0')), { seq: first.seq, duplicate: true });
    // The bucket still holds 9 fresh messages (4 + 5 over two chats: within each chat's cap)...
    for (let i = 1; i <= 4; i++) ackOf(await send(c, conv, `d-${i}`));
    for (let i = 0; i < 5; i++) ackOf(await send(c, conv2, `d2-${i}`));
    // ...and then it is spent.
    const more = await Promise.all([0, 1, 2].map((i) => send(c, conv2, `d2-more-${i}`)));
    assert.ok(more.some((f) => !acked(f) && errorOf(f).code === 'rate_limited'), show(more.map((f) => f.kind.case)));
    c.close();
  });
});

describe('per-conversation send limits', () => {
  it('one sender cannot flood a group, and all senders together are capped', async () => {
    const users = ['gl-0', 'gl-1', 'gl-2', 'gl-3', 'gl-4', 'gl-5'];
    const clients = await Promise.all(users.map((u) => node.connect(u, 'phone')));
    const created = await clients[0].call({ kind: { case: 'createGroup', value: { subject: 'flood', members: users.slice(1) } } });
    assert.equal(created.kind.case, 'groupInfo', show(created));
    const conv = (created.kind.value as { conversation: string }).conversation;
    await Promise.all(clients.map((c) => syncAll(c)));

    // One sender fires 8 at once: the (group, sender) burst is 5.
    const spam = await Promise.all(Array.from({ length: 8 }, (_, i) => send(clients[0], conv, `spam-${i}`)));
    const spamRefused = spam.filter((f) => !acked(f)).map(errorOf);
    assert.ok(spamRefused.length >= 1, show(spam.map((f) => f.kind.case)));
    for (const e of spamRefused) {
      assert.equal(e.code, 'rate_limited');
      assert.ok(e.retryAfterMs > 0);
      assert.match(e.message, /sender/);
    }
    // The others still get through, until the group's own cap (12 in all) is spent:
    // four members with 3 sends each, each well within its own burst of 5.
    const others = (await Promise.all(clients.slice(1, 5).map((c, k) => Promise.all([0, 1, 2].map((i) => send(c, conv, `m${k}-${i}`)))))).flat();
    assert.ok(others.some(acked), 'other members are not blocked by the spammer');
    const capped = others.filter((f) => !acked(f)).map(errorOf);
    assert.ok(capped.length >= 1, `the group as a whole is capped: ${show(others.map((f) => f.kind.case))}`);
    for (const e of capped) {
      assert.equal(e.code, 'rate_limited');
      assert.match(e.message, /conversation/);
    }
    // What the members get is exactly what was acked; refused sends were never stored.
    const ackedIds = [...spam, ...others].filter(acked).map((f) => (f.kind.value as { clientMsgId: string }).clientMsgId);
    assert.deepEqual(new Set(await stored(conv)), new Set(ackedIds));
    assert.ok(ackedIds.length < 8 + 12, `${ackedIds.length} of 20 sends stored`);
    for (const c of clients) {
      assert.equal(c.closeCode, null);
      c.close();
    }
  });
});

describe('send limits over the HTTP API', () => {
  it('a backend past the (conversation, sender) burst gets 429 with retry_after_ms and Retry-After, and the refused sends are not stored', async () => {
    const d = await node.api('POST', '/v1/conversations/direct', { users: ['httpa', 'httpb'] });
    assert.equal(d.status, 200, show(d.body));
    const conv = d.body.conversation as string;
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => node.api('POST', '/v1/messages', { conversation: conv, sender: 'httpa', client_msg_id: `h${i}`, body: 'x' })));
    const refused = rs.filter((r) => r.status === 429);
    assert.ok(refused.length >= 1, show(rs.map((r) => r.status)));
    for (const r of refused) {
      assert.equal(r.body.code, 'rate_limited');
      assert.ok(r.body.retry_after_ms > 0, show(r.body));
      assert.equal(r.headers.get('retry-after'), String(Math.ceil(r.body.retry_after_ms / 1000)));
    }
    const ok = rs.filter((r) => r.status === 201).map((r) => r.body.client_msg_id as string);
    assert.deepEqual(new Set(await stored(conv)), new Set(ok));
  });
});
