/**
 * What PROTOCOL.md says about the doc gaps a client author hit (issue 17), checked on
 * a real node so the document cannot drift from the server again: typing answered
 * only on error; the caller of a group change gets group_info and no push of its
 * system message (its other devices do); an empty body is accepted; the sources of
 * forbidden and not_member; unknown kinds count towards the 20 bad frames; binary
 * frames on a JSON connection; welcome.shard; no permessage-deflate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { TestNode, sleep } from './harness.js';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';

const code = (f: ServerFrame): string => (f.kind.case === 'error' ? f.kind.value.code : `(${f.kind.case})`);

test('PROTOCOL.md issue-17 statements hold on a real node', { timeout: 60_000 }, async () => {
  const node = await TestNode.start();
  try {
    const a = await node.connect('alice', 'phone');
    const a2 = await node.connect('alice', 'laptop');
    const b = await node.connect('bob', 'phone');
    const carol = await node.connect('carol', 'phone');
    for (const c of [a, a2, b, carol]) await c.call({ kind: { case: 'sync', value: {} } });

    // §2.4: welcome carries the node and the shard.
    const w = a.frames[0];
    assert.equal(w.kind.case, 'welcome');
    if (w.kind.case === 'welcome') assert.ok(w.kind.value.shard >= 0 && w.kind.value.node === 'test-node');

    // §4.1: typing gets no reply on success, an error otherwise.
    const d = await a.call({ kind: { case: 'openDirect', value: { peer: 'bob' } } });
    const direct = d.kind.case === 'directOpened' ? d.kind.value.conversation : '';
    const before = a.frames.length;
    a.send({ kind: { case: 'typing', value: { conversation: direct } } });
    await b.waitFor((f) => f.kind.case === 'typing');
    await sleep(200);
    assert.deepEqual(a.frames.slice(before).map((f) => f.kind.case), [], 'no reply to a good typing notice');
    // (A notice within limits.typingIntervalMs of the last is dropped before any check.)
    await sleep(1100);
    assert.equal(code(await a.call({ kind: { case: 'typing', value: { conversation: 'd_nope' } } })), 'not_member');

    // §5.2: an empty body is accepted.
    assert.equal((await a.call({ kind: { case: 'send', value: { conversation: direct, clientMsgId: 'empty-1', body: '' } } })).kind.case, 'sendAck');

    // §5.9/§6.2: the caller gets group_info (seq = the system message), not the message;
    // its other device and the other members get the message.
    const fromA = a.frames.length;
    const fromA2 = a2.frames.length;
    const g = await a.call({ kind: { case: 'createGroup', value: { subject: 'crew', members: ['bob'] } } });
    assert.equal(g.kind.case, 'groupInfo');
    const group = g.kind.case === 'groupInfo' ? g.kind.value : null;
    const pushed = await a2.waitFor((f) => f.kind.case === 'message' && f.kind.value.conversation === group!.conversation, 5000, fromA2);
    await b.waitFor((f) => f.kind.case === 'message' && f.kind.value.conversation === group!.conversation);
    await sleep(300);
    assert.equal(pushed.kind.case === 'message' && Number(pushed.kind.value.seq), Number(group!.seq));
    assert.deepEqual(a.frames.slice(fromA).filter((f) => f.kind.case === 'message').length, 0, 'the caller is not pushed its system message');

    // §9.1: forbidden and not_member sources.
    assert.equal(code(await a.call({ kind: { case: 'addMembers', value: { conversation: direct, users: ['carol'] } } })), 'forbidden', 'group frame on a direct chat');
    assert.equal(code(await b.call({ kind: { case: 'setSubject', value: { conversation: group!.conversation, subject: 'mine' } } })), 'forbidden', 'not an admin');
    for (const kind of [
      { case: 'memberReceipts', value: { conversation: group!.conversation, seq: 1n } },
      { case: 'leaveGroup', value: { conversation: group!.conversation } },
      { case: 'history', value: { conversation: group!.conversation } },
    ] as const) {
      assert.equal(code(await carol.call({ kind })), 'not_member', `${kind.case} by a non-member`);
    }

    // §3.1: a binary frame on a JSON connection is read like text when it is UTF-8 JSON,
    // and refused with bad_frame when it is not.
    b.sendRaw(Buffer.from(JSON.stringify({ req_id: 900, ping: { ts: '5' } })), true);
    assert.equal((await b.reply(900)).kind.case, 'pong');
    b.sendRaw(Buffer.from([0x0a, 0xff, 0xfe]), true);
    assert.equal(code(await b.waitFor((f) => f.kind.case === 'error' && f.kind.value.code === 'bad_frame')), 'bad_frame');

    // §8.3: 20 well-formed frames of an unknown kind in a row close the socket with 4403.
    for (let i = 0; i < 20; i++) carol.sendRaw(JSON.stringify({ req_id: 1000 + i, teleport: { to: 'mars' } }), false);
    assert.equal(await carol.waitClose(), 4403);

    // §2.2: permessage-deflate is offered by the client and not accepted.
    const ws = new WebSocket(node.url, ['switchboard.v1.json'], { perMessageDeflate: true, headers: { authorization: `Bearer ${await node.token('dave', 'x')}` } });
    const ext = await new Promise<string>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(String(res.headers['sec-websocket-extensions'] ?? '')));
      ws.once('error', reject);
    });
    assert.equal(ext, '', 'no Sec-WebSocket-Extensions in the response');
    ws.close();
    for (const c of [a, a2, b]) c.close();
  } finally {
    await node.stop();
    node.cleanup();
  }
});
