/**
 * Bad input gets a catalogued error and loses nothing; the connection survives
 * where that is safe. Bad or expired tokens close with the documented codes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../../protocol/client.js';
import { CLOSE_CODES, ERROR_CODES } from '../../protocol/codes.js';
import { signToken } from '../auth/sign.js';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import { messagesOf, show, syncAll, TestNode } from './harness.js';

let node: TestNode;
before(async () => {
  node = await TestNode.start({
    config: { limits: { maxFrameBytes: 4096, maxMessageBytes: 2048, sendRatePerSec: 5, sendBurst: 10 } },
  });
});
after(async () => {
  await node.stop();
  node.cleanup();
});

function errorOf(f: ServerFrame): { code: string; retryable: boolean; retryAfterMs: number } {
  assert.equal(f.kind.case, 'error', show(f));
  const v = f.kind.value as { code: string; retryable: boolean; retryAfterMs: number };
  assert.ok(v.code in ERROR_CODES, `${v.code} is in the catalog`);
  return v;
}

async function chatPair(a: string, b: string): Promise<{ alice: TestClient; bob: TestClient; conv: string }> {
  const alice = await node.connect(a, 'phone');
  const bob = await node.connect(b, 'phone');
  const f = await alice.call({ kind: { case: 'openDirect', value: { peer: b } } });
  const conv = f.kind.case === 'directOpened' ? f.kind.value.conversation : '';
  await syncAll(bob);
  return { alice, bob, conv };
}

/** After an error, the same connection still sends and the earlier message is intact. */
async function stillWorks(alice: TestClient, bob: TestClient, conv: string, id: string): Promise<void> {
  const ack = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: id, body: `after ${id}` } } });
  assert.equal(ack.kind.case, 'sendAck', show(ack));
  await bob.waitFor((f) => f.kind.case === 'message' && f.kind.value.clientMsgId === id);
}

describe('bad input', () => {
  it('malformed JSON and protobuf frames get bad_frame and the socket stays up', async () => {
    const { alice, bob, conv } = await chatPair('bi-a1', 'bi-b1');
    await stillWorks(alice, bob, conv, 'before');
    alice.sendRaw('{not json', false);
    assert.equal(errorOf(await alice.waitFor((f) => f.kind.case === 'error')).code, 'bad_frame');
    const p = await TestClient.connect({ url: node.url, token: await node.token('bi-a1', 'tablet'), encoding: 'proto' });
    await p.waitFor((f) => f.kind.case === 'welcome');
    p.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), true);
    assert.equal(errorOf(await p.waitFor((f) => f.kind.case === 'error')).code, 'bad_frame');
    p.sendRaw('text on a binary connection', false);
    assert.equal(errorOf(await p.waitFor((f, ) => f.kind.case === 'error' && p.frames.filter((x) => x.kind.case === 'error').length === 2)).code, 'bad_frame');
    await stillWorks(alice, bob, conv, 'after-bad');
    assert.deepEqual(messagesOf(bob, conv).map((m) => m.body), ['after before', 'after after-bad'], 'nothing lost, nothing extra');
    for (const c of [alice, bob, p]) c.close();
  });

  it('an unknown frame type gets unknown_frame_type with its req_id', async () => {
    const { alice, bob, conv } = await chatPair('bi-a2', 'bi-b2');
    alice.sendRaw(JSON.stringify({ req_id: 77, teleport: { where: 'mars' } }), false);
    const e = await alice.waitFor((f) => f.kind.case === 'error');
    assert.equal(errorOf(e).code, 'unknown_frame_type');
    assert.equal(e.reqId, 77);
    await stillWorks(alice, bob, conv, 'x2');
    for (const c of [alice, bob]) c.close();
  });

  it('an oversize frame gets frame_too_large; a huge one closes with 1009', async () => {
    const { alice, bob, conv } = await chatPair('bi-a3', 'bi-b3');
    alice.send({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'big', body: 'x'.repeat(6000) } } });
    assert.equal(errorOf(await alice.waitFor((f) => f.kind.case === 'error')).code, 'frame_too_large');
    // Under the frame limit but over the message limit: limit_exceeded, not stored.
    const e2 = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'big2', body: 'y'.repeat(3000) } } });
    assert.equal(errorOf(e2).code, 'limit_exceeded');
    await stillWorks(alice, bob, conv, 'x3');
    assert.deepEqual(messagesOf(bob, conv).map((m) => m.body), ['after x3']);
    alice.sendRaw('z'.repeat(4096 * 4 + 10), false);
    assert.equal(await alice.waitClose(), CLOSE_CODES.too_large.code);
    bob.close();
  });

  it('sending to a conversation you are not in gets not_member and stores nothing', async () => {
    const { alice, bob, conv } = await chatPair('bi-a4', 'bi-b4');
    const eve = await node.connect('bi-eve', 'phone');
    const e = await eve.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'sneak', body: 'hi' } } });
    assert.equal(errorOf(e).code, 'not_member');
    const h = await eve.call({ kind: { case: 'history', value: { conversation: conv } } });
    assert.equal(errorOf(h).code, 'not_member');
    await stillWorks(alice, bob, conv, 'x4');
    const hist = await alice.call({ kind: { case: 'history', value: { conversation: conv } } });
    assert.deepEqual(hist.kind.case === 'historyPage' ? hist.kind.value.messages.map((m) => m.body) : [], ['after x4']);
    for (const c of [alice, bob, eve]) c.close();
  });

  it('missing fields get invalid_argument', async () => {
    const alice = await node.connect('bi-a5', 'phone');
    const e = await alice.call({ kind: { case: 'send', value: { conversation: '', clientMsgId: 'a', body: 'x' } } });
    assert.equal(errorOf(e).code, 'invalid_argument');
    const conv = await alice.call({ kind: { case: 'openDirect', value: { peer: 'bi-b5' } } });
    const forged = await alice.call({ kind: { case: 'send', value: { conversation: conv.kind.case === 'directOpened' ? conv.kind.value.conversation : '', clientMsgId: 'f', body: '', meta: { system: 'member_added' } } } });
    assert.equal(errorOf(forged).code, 'invalid_argument', 'clients cannot forge system messages');
    const e2 = await alice.call({ kind: { case: 'openDirect', value: { peer: 'bi-a5' } } });
    assert.equal(errorOf(e2).code, 'forbidden');
    alice.close();
  });

  it('a bad token closes with 4401, an expired one with 4402', async () => {
    const bad = await TestClient.connect({ url: node.url, token: 'not.a.jwt' });
    assert.equal(errorOf(await bad.waitFor((f) => f.kind.case === 'error')).code, 'unauthenticated');
    assert.equal(await bad.waitClose(), CLOSE_CODES.unauthenticated.code);
    const wrongKey = await signToken({ user: 'x', device: 'd', ttlSec: 60 }, { kid: 'test', alg: 'HS256', secret: 'a-different-secret-of-at-least-32-bytes!!' });
    const wk = await TestClient.connect({ url: node.url, token: wrongKey });
    assert.equal(await wk.waitClose(), CLOSE_CODES.unauthenticated.code);
    const none = await TestClient.connect({ url: node.url });
    assert.equal(await none.waitClose(), CLOSE_CODES.unauthenticated.code);
    const expired = await signToken({ user: 'x', device: 'd', ttlSec: -120 }, { kid: 'test', alg: 'HS256', secret: node.secret });
    const ex = await TestClient.connect({ url: node.url, token: expired });
    assert.equal(errorOf(await ex.waitFor((f) => f.kind.case === 'error')).code, 'token_expired');
    assert.equal(await ex.waitClose(), CLOSE_CODES.token_expired.code);
    assert.ok(!node.stderr.includes(expired) && !node.stderr.includes(wrongKey), 'tokens never reach the logs');
  });

  it('an exceeded send rate gets a retryable rate_limited with retry_after_ms; nothing is lost', async () => {
    const { alice, bob, conv } = await chatPair('bi-a6', 'bi-b6');
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push(alice.send({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `r-${i}`, body: `r${i}` } } }));
    const replies = await Promise.all(ids.map((id) => alice.reply(id)));
    const limited = replies.filter((f) => f.kind.case === 'error');
    const acked = replies.filter((f) => f.kind.case === 'sendAck');
    assert.ok(limited.length > 0, 'some sends are limited');
    for (const f of limited) {
      const e = errorOf(f);
      assert.equal(e.code, 'rate_limited');
      assert.equal(e.retryable, true);
      assert.ok(e.retryAfterMs > 0);
    }
    // Every acked message reaches bob; limited ones were not stored.
    const ackedIds = acked.map((f) => (f.kind.value as { clientMsgId: string }).clientMsgId);
    await bob.waitFor(() => messagesOf(bob, conv).length === acked.length);
    const page = await alice.call({ kind: { case: 'history', value: { conversation: conv, limit: 100 } } });
    const stored = page.kind.case === 'historyPage' ? page.kind.value.messages.map((m) => m.clientMsgId).reverse() : [];
    assert.deepEqual(stored, ackedIds);
    for (const c of [alice, bob]) c.close();
  });
});
