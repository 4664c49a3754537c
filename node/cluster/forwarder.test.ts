import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { CallResultSchema, ForwardCallSchema, type LinkFrame } from '../../protocol/gen/cluster_pb.js';
import type { Caller } from '../core/chat_types.js';
import type { CoreOp, CoreResult } from '../core/ops.js';
import type { PeerLink } from '../peers/peer_link.js';
import { Forwarder } from './forwarder.js';

const origin = { node: 'n1', user: 'alice', device: 'phone', socketShard: 0, conn: 4 };

/** A forwarder that owns shard 0 only; shard 1 belongs to n2, reached over `link`. */
function setup(linkSend: 'ok' | 'overloaded' = 'ok', callTimeoutMs = 1_000) {
  const ran: Array<{ caller: Caller; op: CoreOp }> = [];
  const sent: LinkFrame[] = [];
  const link = { linkState: 'up', send: (f: LinkFrame) => (sent.push(f), linkSend) } as unknown as PeerLink;
  const fwd = new Forwarder({
    self: 'n1',
    shardOf: (c) => (c.startsWith('remote') ? 1 : 0),
    heldToken: (shard) => (shard === 0 ? 7 : null),
    ownerOf: (shard) => ({ node: shard === 0 ? 'n1' : 'n2', token: 7 }),
    link: (node) => (node === 'n2' ? link : undefined),
    local: async (caller, op) => {
      ran.push({ caller, op });
      return { r: 'ok' };
    },
    callTimeoutMs,
  });
  return { fwd, ran, sent };
}

async function serve(fwd: Forwarder, opJson: string): Promise<CoreResult> {
  let out: LinkFrame | undefined;
  await fwd.onCall(create(ForwardCallSchema, { callId: 9n, origin, opJson, conversationShard: 0 }), (f) => (out = f));
  assert.equal(out?.kind.case, 'callResult');
  return JSON.parse((out!.kind.value as { resultJson: string }).resultJson) as CoreResult;
}

describe('Forwarder, owner side: ops from peers', () => {
  it('runs an op that matches the schema, as the op the schema read', async () => {
    const { fwd, ran } = setup();
    const res = await serve(fwd, JSON.stringify({ op: 'ack', conversation: 'd_x', seq: 3, stray: 'dropped' }));
    assert.deepEqual(res, { r: 'ok' });
    assert.deepEqual(ran.map((r) => r.op), [{ op: 'ack', conversation: 'd_x', seq: 3 }]);
    assert.equal(ran[0].caller.user, 'alice');
    assert.equal(ran[0].caller.backend, false);
  });

  it('refuses malformed ops with a clear error, and they never reach the core', async () => {
    const { fwd, ran } = setup();
    const cases: Array<[string, string, RegExp]> = [
      ['not json', 'bad_frame', /forwarded op: not JSON/],
      [JSON.stringify({ op: 'teleport' }), 'bad_frame', /unknown op "teleport"/],
      [JSON.stringify({ op: 'ack', conversation: 'd_x', seq: 'three' }), 'invalid_argument', /forwarded op: ack\.seq/],
      [JSON.stringify({ op: 'add_members', conversation: 'g_x', users: 'bob' }), 'invalid_argument', /forwarded op: users: must be a list of strings/],
      [JSON.stringify({ op: 'read', conversation: 'd_x', seq: 2 ** 60 }), 'invalid_argument', /read\.seq: must be an integer/],
      [JSON.stringify({ op: 'leave_group' }), 'invalid_argument', /forwarded op: conversation: must be a string/],
    ];
    for (const [json, code, message] of cases) {
      const res = await serve(fwd, json);
      assert.equal(res.r, 'error', json);
      if (res.r !== 'error') continue;
      assert.equal(res.code, code, json);
      assert.match(res.message, message, json);
    }
    assert.deepEqual(ran, [], 'no malformed op reached the core');
    assert.equal(fwd.stats.served, cases.length);
  });
});

describe('Forwarder, origin side: waiting for the owner', () => {
  const caller: Caller = { user: 'alice', device: 'phone', conn: null };
  const ack: CoreOp = { op: 'ack', conversation: 'remote-1', seq: 1 };
  const callIdOf = (f: LinkFrame) => (f.kind.value as { callId: bigint }).callId;

  it("answers with the owner's result, matched by call id", async () => {
    const { fwd, sent } = setup();
    const a = fwd.run(caller, ack);
    const b = fwd.run(caller, { ...ack, seq: 2 });
    assert.equal(sent.length, 2);
    fwd.onCallResult(create(CallResultSchema, { callId: callIdOf(sent[1]), resultJson: '{"r":"error","code":"not_member","message":"b","retryAfterMs":0}' }));
    fwd.onCallResult(create(CallResultSchema, { callId: callIdOf(sent[0]), resultJson: '{"r":"ok"}' }));
    assert.deepEqual(await a, { r: 'ok' });
    assert.deepEqual(await b, { r: 'error', code: 'not_member', message: 'b', retryAfterMs: 0 });
    assert.equal(fwd.stats.forwarded, 2);
  });

  it('a lost link answers its calls with unavailable at once; a late result is ignored', async () => {
    const { fwd, sent } = setup();
    const p = fwd.run(caller, ack);
    fwd.linkDown('n3');
    fwd.linkDown('n2');
    const res = await p;
    assert.equal(res.r === 'error' && res.code, 'unavailable');
    assert.match(res.r === 'error' ? res.message : '', /lost the link to n2/);
    fwd.onCallResult(create(CallResultSchema, { callId: callIdOf(sent[0]), resultJson: '{"r":"ok"}' }));
  });

  it('no answer in time: unavailable, counted as timed out', async () => {
    const { fwd } = setup('ok', 20);
    const res = await fwd.run(caller, ack);
    assert.equal(res.r === 'error' && res.code, 'unavailable');
    assert.match(res.r === 'error' ? res.message : '', /did not answer in time/);
    assert.equal(fwd.stats.timedOut, 1);
  });

  it('a full link: overloaded with retry_after_ms, nothing left waiting', async () => {
    const { fwd } = setup('overloaded');
    assert.deepEqual(await fwd.run(caller, ack), { r: 'error', code: 'overloaded', message: 'the link to n2 is full; retry', retryAfterMs: 500 });
    assert.deepEqual([fwd.stats.refused, fwd.stats.forwarded], [1, 0]);
  });
});
