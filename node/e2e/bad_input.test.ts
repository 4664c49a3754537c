/**
 * Bad input gets a catalogued error and loses nothing; the connection survives
 * where that is safe. Bad or expired tokens close with the documented codes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../../protocol/client.js';
import { CLOSE_CODES, ERROR_CODES } from '../../protocol/codes.js';
import { signToken } from '../auth/sign.js';
import { ClientFrameSchema, type ServerFrame } from '../../protocol/gen/client_pb.js';
import { create, toBinary } from '@bufbuild/protobuf';
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

/**
 * Send one raw frame and return the next error frame, with the JSON text exactly as it
 * came off the socket (a client's own decoder sees that, not our TestClient's view).
 */
async function rawError(c: TestClient, data: string | Buffer, binary: boolean): Promise<{ frame: ServerFrame; text: string }> {
  const from = c.frames.length;
  const texts: string[] = [];
  const onMessage = (d: Buffer, isBin: boolean) => {
    if (!isBin) texts.push(d.toString('utf8'));
  };
  c.ws.on('message', onMessage);
  try {
    c.sendRaw(data, binary);
    const frame = await c.waitFor((f) => f.kind.case === 'error', 10_000, from);
    return { frame, text: texts.at(-1) ?? '' };
  } finally {
    c.ws.off('message', onMessage);
  }
}

function protoVarint(n: bigint): number[] {
  const out: number[] = [];
  for (; n >= 0x80n; n >>= 7n) out.push(Number(n & 0x7fn) | 0x80);
  out.push(Number(n));
  return out;
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

  it('JSON: a seq or cursor above 2^53 - 1, a negative one, or a req_id outside uint32 gets invalid_argument; the socket stays up', async () => {
    const { alice, bob, conv } = await chatPair('bi-a7', 'bi-b7');
    const frames: Array<[number, string]> = [
      [31, `{"req_id":31,"ack":{"conversation":"${conv}","seq":"9007199254740993"}}`],
      // As a JSON number it parses to 2^53: still refused, never taken as a neighbouring seq.
      [32, `{"req_id":32,"read":{"conversation":"${conv}","seq":9007199254740993}}`],
      [33, `{"req_id":33,"sync":{"cursors":[{"conversation":"${conv}","seq":"18446744073709551615"}]}}`],
      [34, `{"req_id":34,"history":{"conversation":"${conv}","before_seq":-1}}`],
      [35, `{"req_id":35,"member_receipts":{"conversation":"${conv}","seq":"9007199254740992"}}`],
      [36, `{"req_id":"36","ack":{"conversation":"${conv}","seq":-5}}`],
    ];
    for (const [reqId, text] of frames) {
      const { frame } = await rawError(alice, text, false);
      assert.deepEqual([errorOf(frame).code, frame.reqId], ['invalid_argument', reqId], text);
    }
    for (const reqId of ['4294967296', '-1', '1.5', '"99999999999"']) {
      const { frame, text } = await rawError(alice, `{"req_id":${reqId},"list_conversations":{}}`, false);
      assert.equal(errorOf(frame).code, 'invalid_argument', reqId);
      // No req_id to echo: the key is absent (0), never the unreadable value sent.
      assert.equal(JSON.parse(text).req_id, undefined, text);
    }
    await stillWorks(alice, bob, conv, 'x7');
    const top = await alice.call({ kind: { case: 'history', value: { conversation: conv, beforeSeq: 2n ** 53n - 1n } } });
    assert.deepEqual(top.kind.case === 'historyPage' ? top.kind.value.messages.map((m) => m.body) : show(top), ['after x7'], 'the largest seq is taken as is');
    assert.equal(alice.closeCode, null);
    for (const c of [alice, bob]) c.close();
  });

  it('protobuf: a seq or cursor above 2^53 - 1 or a req_id varint beyond uint32 gets invalid_argument', async () => {
    const { bob, conv } = await chatPair('bi-a8', 'bi-b8');
    const p = await TestClient.connect({ url: node.url, token: await node.token('bi-a8', 'tablet'), encoding: 'proto' });
    await p.waitFor((f) => f.kind.case === 'welcome');
    const bin = (init: Parameters<typeof create<typeof ClientFrameSchema>>[1]) => Buffer.from(toBinary(ClientFrameSchema, create(ClientFrameSchema, init)));
    const cases: Array<[number, Buffer]> = [
      [41, bin({ reqId: 41, kind: { case: 'ack', value: { conversation: conv, seq: 2n ** 64n - 1n } } })],
      [42, bin({ reqId: 42, kind: { case: 'sync', value: { cursors: [{ conversation: conv, seq: 2n ** 53n }] } } })],
      [43, bin({ reqId: 43, kind: { case: 'history', value: { conversation: conv, beforeSeq: 2n ** 53n + 1n } } })],
    ];
    for (const [reqId, data] of cases) {
      const { frame } = await rawError(p, data, true);
      assert.deepEqual([errorOf(frame).code, frame.reqId], ['invalid_argument', reqId]);
    }
    // req_id 2^32 + 5 on the wire: refused, not answered as req_id 5.
    const wide = Buffer.from([0x08, ...protoVarint(2n ** 32n + 5n), 0x8a, 0x01, 0x00]);
    const { frame } = await rawError(p, wide, true);
    assert.deepEqual([errorOf(frame).code, frame.reqId], ['invalid_argument', 0]);
    const sent = await p.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'p8', body: 'after p8' } } });
    assert.equal(sent.kind.case, 'sendAck', show(sent));
    await bob.waitFor((f) => f.kind.case === 'message' && f.kind.value.clientMsgId === 'p8');
    assert.equal(p.closeCode, null);
    for (const c of [p, bob]) c.close();
  });

  it('integers the decoder refuses count towards the 20 bad frames in a row that close with 4403', async () => {
    const c = await node.connect('bi-a9', 'phone');
    for (let i = 0; i < 19; i++) c.sendRaw('{"req_id":4294967296,"list_conversations":{}}', false);
    await c.waitFor(() => c.frames.filter((f) => f.kind.case === 'error').length === 19);
    assert.equal(c.closeCode, null, 'still open after 19');
    c.sendRaw('{"req_id":1,"ack":{"conversation":"x","seq":"-1"}}', false);
    assert.equal(await c.waitClose(), CLOSE_CODES.protocol_violation.code);
    assert.ok(c.frames.filter((f) => f.kind.case === 'error').every((f) => errorOf(f).code === 'invalid_argument'));
  });
});
