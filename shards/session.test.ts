import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ClientFrameSchema, type ServerFrame } from '../protocol/gen/client_pb.js';
import { defaultConfig } from '../node/config.js';
import type { StoredMessage } from '../node/store/types.js';
import { expiry, newSession, onClientFrame, onDeliver, onResult, touch, type FrameEffect, type Limits, type Session } from './session.js';
import type { ConversationSyncInfo, CoreResult, SyncPage } from '../node/core/ops.js';

const T0 = 1_700_000_000_000;

function limits(over: Partial<Limits> = {}): Limits {
  return { ...defaultConfig().limits, ...over };
}

function session(l: Limits = limits(), now = T0, expMs = 0): Session {
  return newSession(1, 'alice', 'phone', 'json', expMs, l, now);
}

function frame(init: MessageInitShape<typeof ClientFrameSchema>) {
  return create(ClientFrameSchema, init);
}

const send = (conversation: string, clientMsgId: string, reqId = 1) =>
  frame({ reqId, kind: { case: 'send', value: { conversation, clientMsgId, body: 'hi', meta: { k: 'v' } } } });
const ack = (conversation: string, seq: number, reqId = 1) => frame({ reqId, kind: { case: 'ack', value: { conversation, seq: BigInt(seq) } } });
const sync = (cursors: Array<[string, number]> = [], limit = 0, reqId = 1) =>
  frame({ reqId, kind: { case: 'sync', value: { cursors: cursors.map(([conversation, seq]) => ({ conversation, seq: BigInt(seq) })), limit } } });

function msg(conversation: string, seq: number): StoredMessage {
  return { conversation, seq, messageId: `m-${conversation}-${seq}`, sender: 'bob', senderDevice: 'd', clientMsgId: `c${seq}`, body: `b${seq}`, meta: {}, serverTs: T0 + seq };
}

function info(conversation: string, nextCursor: number, over: Partial<ConversationSyncInfo> = {}): ConversationSyncInfo {
  return { conversation, lastSeq: nextCursor, firstSeq: 1, resyncRequired: false, nextCursor, ...over };
}

function page(conversations: ConversationSyncInfo[], hasMore: boolean, messages: StoredMessage[] = []): CoreResult {
  return { r: 'sync_page', page: { messages, conversations, hasMore, receipts: [] } };
}

function forwarded(e: FrameEffect): Extract<FrameEffect, { kind: 'forward' }> {
  assert.equal(e.kind, 'forward', `expected a forward, got ${JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  return e as Extract<FrameEffect, { kind: 'forward' }>;
}

function errorOf(e: FrameEffect | ServerFrame | null) {
  const f = e && 'kind' in e && e.kind === 'reply' ? e.frame : (e as ServerFrame | null);
  assert.ok(f && f.kind.case === 'error', 'expected an error frame');
  return { reqId: f.reqId, ...f.kind.value };
}

/** A session that has finished one sync covering `cursors`. */
function synced(cursors: Array<[string, number]> = [], l = limits()): Session {
  const s = session(l);
  const { id } = forwarded(onClientFrame(s, sync(), l, T0));
  onResult(s, id, page(cursors.map(([c, n]) => info(c, n)), false));
  return s;
}

describe('session: client frames', () => {
  it('answers a ping with a pong carrying the client ts and the server time', () => {
    const s = session();
    const e = onClientFrame(s, frame({ reqId: 9, kind: { case: 'ping', value: { ts: 42n } } }), limits(), T0 + 5);
    assert.equal(e.kind, 'reply');
    const f = (e as { frame: ServerFrame }).frame;
    assert.equal(f.reqId, 9);
    assert.equal(f.kind.case, 'pong');
    assert.deepEqual([f.kind.value!.ts, (f.kind.value as { serverTs: bigint }).serverTs], [42n, BigInt(T0 + 5)]);
  });

  it('pings are not rate limited', () => {
    const l = limits({ frameBurst: 1, frameRatePerSec: 1 });
    const s = session(l);
    for (let i = 0; i < 5; i++) {
      const e = onClientFrame(s, frame({ kind: { case: 'ping', value: { ts: 1n } } }), l, T0);
      assert.equal(e.kind === 'reply' && e.frame.kind.case, 'pong');
    }
    forwarded(onClientFrame(s, ack('c1', 1), l, T0));
  });

  it('limits frames per connection, says how long to wait, and refills over time', () => {
    const l = limits({ frameBurst: 2, frameRatePerSec: 10 });
    const s = session(l);
    forwarded(onClientFrame(s, ack('c1', 1), l, T0));
    forwarded(onClientFrame(s, ack('c1', 2), l, T0));
    const err = errorOf(onClientFrame(s, ack('c1', 3, 77), l, T0));
    assert.deepEqual([err.reqId, err.code, err.retryable, err.retryAfterMs], [77, 'rate_limited', true, 100]);
    assert.equal(errorOf(onClientFrame(s, ack('c1', 3), l, T0 + 60)).retryAfterMs, 40);
    forwarded(onClientFrame(s, ack('c1', 3), l, T0 + 100));
  });

  it('limits sends separately from other frames, echoing the send it refused', () => {
    const l = limits({ sendBurst: 2, sendRatePerSec: 4 });
    const s = session(l);
    forwarded(onClientFrame(s, send('c1', 'm1'), l, T0));
    forwarded(onClientFrame(s, send('c1', 'm2'), l, T0));
    const err = errorOf(onClientFrame(s, send('c1', 'm3', 5), l, T0));
    assert.deepEqual(
      [err.reqId, err.code, err.retryAfterMs, err.conversation, err.clientMsgId],
      [5, 'rate_limited', 250, 'c1', 'm3'],
    );
    forwarded(onClientFrame(s, ack('c1', 1), l, T0)); // other frames still pass
    forwarded(onClientFrame(s, send('c1', 'm3'), l, T0 + 250));
  });

  it('rejects a send without a conversation or a valid client_msg_id', () => {
    const s = session();
    const cases: Array<[string, string, string]> = [
      ['', 'm1', 'conversation'],
      ['x'.repeat(1025), 'm1', 'conversation'],
      ['c1', '', 'client_msg_id'],
      ['c1', 'x'.repeat(65), 'client_msg_id'],
    ];
    for (const [conv, cmid, field] of cases) {
      const err = errorOf(onClientFrame(s, send(conv, cmid, 3), limits(), T0));
      assert.equal(err.code, 'invalid_argument');
      assert.equal(err.retryable, false);
      assert.ok(err.message.startsWith(field), err.message);
      assert.equal(err.clientMsgId, cmid);
    }
    assert.equal(s.inflightSends, 0);
    forwarded(onClientFrame(s, send('c1', 'x'.repeat(64)), limits(), T0));
  });

  it('an invalid send does not use up the send budget', () => {
    const l = limits({ sendBurst: 1, sendRatePerSec: 1 });
    const s = session(l);
    errorOf(onClientFrame(s, send('c1', ''), l, T0));
    forwarded(onClientFrame(s, send('c1', 'ok'), l, T0));
  });

  it('rejects other frames with missing or out-of-range fields', () => {
    const l = limits();
    const s = session(l);
    const bad = [
      ack('', 1),
      frame({ kind: { case: 'read', value: { conversation: '', seq: 1n } } }),
      sync([['', 0]]),
      sync([], l.maxSyncPage + 1),
      frame({ kind: { case: 'history', value: { conversation: '', limit: 10 } } }),
      frame({ kind: { case: 'history', value: { conversation: 'c1', limit: l.maxHistoryPage + 1 } } }),
      frame({ kind: { case: 'openDirect', value: { peer: '' } } }),
    ];
    for (const f of bad) assert.equal(errorOf(onClientFrame(s, f, l, T0)).code, 'invalid_argument', f.kind.case);
    assert.equal(s.syncing, 0, 'a refused sync is not outstanding');
    assert.equal(s.pending.size, 0);
  });

  it('refuses a seq or cursor a number cannot hold exactly instead of rounding it', () => {
    // The codec refuses these on the wire; the session guards its own bigint -> number step.
    const l = limits();
    const s = session(l);
    const big = 2n ** 53n + 1n; // Number() would make it 2^53
    const cases: Array<[ReturnType<typeof frame>, string]> = [
      [frame({ reqId: 41, kind: { case: 'ack', value: { conversation: 'c1', seq: big } } }), 'ack.seq'],
      [frame({ reqId: 41, kind: { case: 'read', value: { conversation: 'c1', seq: 2n ** 64n - 1n } } }), 'read.seq'],
      [frame({ reqId: 41, kind: { case: 'sync', value: { cursors: [{ conversation: 'a', seq: 1n }, { conversation: 'b', seq: big }] } } }), 'sync.cursors[1].seq'],
      [frame({ reqId: 41, kind: { case: 'history', value: { conversation: 'c1', beforeSeq: big } } }), 'history.before_seq'],
      [frame({ reqId: 41, kind: { case: 'memberReceipts', value: { conversation: 'c1', seq: big } } }), 'member_receipts.seq'],
      [frame({ reqId: 41, kind: { case: 'ack', value: { conversation: 'c1', seq: -1n } } }), 'ack.seq'],
    ];
    for (const [f, field] of cases) {
      const err = errorOf(onClientFrame(s, f, l, T0));
      assert.deepEqual([err.reqId, err.code, err.message.split(':')[0]], [41, 'invalid_argument', field]);
    }
    assert.deepEqual([s.pending.size, s.syncing], [0, 0], 'nothing forwarded, no sync outstanding');
    const top = forwarded(onClientFrame(s, ack('c1', Number.MAX_SAFE_INTEGER), l, T0));
    assert.deepEqual(top.op, { op: 'ack', conversation: 'c1', seq: Number.MAX_SAFE_INTEGER });
  });

  it('caps sends awaiting their ack; an ack or an error frees a slot', () => {
    const l = limits({ maxInflightSends: 2 });
    const s = session(l);
    const a = forwarded(onClientFrame(s, send('c1', 'm1'), l, T0));
    const b = forwarded(onClientFrame(s, send('c1', 'm2'), l, T0));
    const err = errorOf(onClientFrame(s, send('c1', 'm3', 8), l, T0));
    assert.deepEqual([err.code, err.reqId, err.clientMsgId, err.retryAfterMs > 0], ['rate_limited', 8, 'm3', true]);
    onResult(s, a.id, { r: 'send_ack', ack: { conversation: 'c1', clientMsgId: 'm1', messageId: 'x', seq: 1, serverTs: T0, duplicate: false } });
    forwarded(onClientFrame(s, send('c1', 'm3'), l, T0));
    errorOf(onClientFrame(s, send('c1', 'm4'), l, T0));
    onResult(s, b.id, { r: 'error', code: 'unavailable', message: 'store down', retryAfterMs: 0 });
    forwarded(onClientFrame(s, send('c1', 'm4'), l, T0));
  });

  it('answers a frame with no known kind with unknown_frame_type', () => {
    const err = errorOf(onClientFrame(session(), frame({ reqId: 12 }), limits(), T0));
    assert.deepEqual([err.reqId, err.code], [12, 'unknown_frame_type']);
  });

  it('forwards each request kind as its core op, each under a fresh id', () => {
    const s = session();
    const l = limits();
    const cases: Array<[ReturnType<typeof frame>, unknown]> = [
      [send('c1', 'm1'), { op: 'send', conversation: 'c1', clientMsgId: 'm1', body: 'hi', meta: { k: 'v' } }],
      [ack('c1', 4), { op: 'ack', conversation: 'c1', seq: 4 }],
      [frame({ kind: { case: 'read', value: { conversation: 'c1', seq: 3n } } }), { op: 'read', conversation: 'c1', seq: 3 }],
      [sync([['c1', 7]], 20), { op: 'sync', cursors: [{ conversation: 'c1', seq: 7 }], limit: 20 }],
      [frame({ kind: { case: 'history', value: { conversation: 'c1', beforeSeq: 9n, limit: 5 } } }), { op: 'history', conversation: 'c1', beforeSeq: 9, limit: 5 }],
      [frame({ kind: { case: 'openDirect', value: { peer: 'bob' } } }), { op: 'open_direct', peer: 'bob' }],
      [frame({ kind: { case: 'listConversations', value: {} } }), { op: 'list' }],
    ];
    const ids = new Set<number>();
    for (const [f, op] of cases) {
      const e = forwarded(onClientFrame(s, f, l, T0));
      assert.deepEqual(e.op, op);
      ids.add(e.id);
    }
    assert.equal(ids.size, cases.length);
  });
});

describe('session: results', () => {
  it('answers with the client req_id; unknown or repeated ids produce nothing', () => {
    const s = session();
    const { id } = forwarded(onClientFrame(s, send('c1', 'm1', 31), limits(), T0));
    const f = onResult(s, id, { r: 'send_ack', ack: { conversation: 'c1', clientMsgId: 'm1', messageId: 'x', seq: 3, serverTs: T0, duplicate: true } });
    assert.equal(f?.reqId, 31);
    assert.equal(f?.kind.case, 'sendAck');
    assert.deepEqual([f?.kind.value && (f.kind.value as { seq: bigint }).seq, (f?.kind.value as { duplicate: boolean }).duplicate], [3n, true]);
    assert.equal(onResult(s, id, { r: 'ok' }), null);
    assert.equal(onResult(s, 999, { r: 'ok' }), null);
  });

  it('an error for a send names the send it answers', () => {
    const s = session();
    const { id } = forwarded(onClientFrame(s, send('c1', 'm1', 4), limits(), T0));
    const err = errorOf(onResult(s, id, { r: 'error', code: 'not_member', message: 'no', retryAfterMs: 0 }));
    assert.deepEqual([err.reqId, err.code, err.conversation, err.clientMsgId, err.retryable], [4, 'not_member', 'c1', 'm1', false]);
  });

  it('an ok result (ack / read) sends no frame', () => {
    const s = session();
    const { id } = forwarded(onClientFrame(s, ack('c1', 1), limits(), T0));
    assert.equal(onResult(s, id, { r: 'ok' }), null);
  });

  it('counts outstanding syncs and is synced only after the last page', () => {
    const s = session();
    const l = limits();
    const { id } = forwarded(onClientFrame(s, sync(), l, T0));
    assert.equal(s.syncing, 1);
    const f = onResult(s, id, page([info('c1', 3)], false, [msg('c1', 1), msg('c1', 2), msg('c1', 3)]));
    assert.equal(f?.kind.case, 'syncPage');
    assert.deepEqual([s.syncing, s.synced], [0, true]);
  });

  it('a page with has_more leaves the session unsynced', () => {
    const s = session();
    const { id } = forwarded(onClientFrame(s, sync(), limits(), T0));
    onResult(s, id, page([info('c1', 2, { lastSeq: 5 })], true));
    assert.equal(s.synced, false);
    assert.equal(onDeliver(s, msg('c1', 6)), false);
  });

  it('a failed sync is no longer outstanding', () => {
    const s = session();
    const { id } = forwarded(onClientFrame(s, sync(), limits(), T0));
    assert.equal(errorOf(onResult(s, id, { r: 'error', code: 'unavailable', message: 'x', retryAfterMs: 10 })).code, 'unavailable');
    assert.deepEqual([s.syncing, s.synced], [0, false]);
  });

  it('a sync of several pages (one request per page) ends with live pushes flowing', () => {
    const s = session();
    const l = limits();
    const first = forwarded(onClientFrame(s, sync([], 2), l, T0));
    onResult(s, first.id, page([info('c1', 2, { lastSeq: 3 })], true, [msg('c1', 1), msg('c1', 2)]));
    const second = forwarded(onClientFrame(s, sync([['c1', 2]], 2), l, T0));
    onResult(s, second.id, page([info('c1', 3)], false, [msg('c1', 3)]));
    assert.equal(s.synced, true);
    assert.equal(s.syncing, 0, 'both sync requests were answered');
    assert.equal(onDeliver(s, msg('c1', 4)), true, 'a message committed after the sync is pushed');
  });

  it('remembers per conversation how far pages went', () => {
    const s = synced([['c1', 5], ['c2', 0]]);
    assert.equal(onDeliver(s, msg('c1', 5)), false);
    assert.equal(onDeliver(s, msg('c1', 6)), true);
    assert.equal(onDeliver(s, msg('c2', 1)), true);
  });

  it('a later page never lowers what was sent, unless it says resync_required', () => {
    const l = limits();
    const s = synced([['c1', 10]]);
    let { id } = forwarded(onClientFrame(s, sync([['c1', 4]]), l, T0));
    onResult(s, id, page([info('c1', 4)], false));
    assert.equal(onDeliver(s, msg('c1', 8)), false, 'seq 8 was already sent');

    ({ id } = forwarded(onClientFrame(s, sync([['c1', 0]]), l, T0)));
    onResult(s, id, page([info('c1', 6, { firstSeq: 6, resyncRequired: true, lastSeq: 6 })], false, [msg('c1', 6)]));
    assert.equal(onDeliver(s, msg('c1', 7)), true, 'a resync restarts the conversation at its next cursor');
  });

  it("an ack for the connection's own next message moves it forward", () => {
    const l = limits();
    const s = synced([['c1', 4]]);
    const { id } = forwarded(onClientFrame(s, send('c1', 'mine'), l, T0));
    onResult(s, id, { r: 'send_ack', ack: { conversation: 'c1', clientMsgId: 'mine', messageId: 'x', seq: 5, serverTs: T0, duplicate: false } });
    assert.equal(onDeliver(s, msg('c1', 5)), false);
    assert.equal(onDeliver(s, msg('c1', 6)), true);
  });

  it('an ack past a gap does not hide the messages in the gap', () => {
    const l = limits();
    const s = synced([['c1', 4]]);
    const { id } = forwarded(onClientFrame(s, send('c1', 'mine'), l, T0));
    onResult(s, id, { r: 'send_ack', ack: { conversation: 'c1', clientMsgId: 'mine', messageId: 'x', seq: 7, serverTs: T0, duplicate: false } });
    assert.equal(onDeliver(s, msg('c1', 5)), true);
  });
});

describe('session: live pushes', () => {
  it('pushes nothing before the first complete sync', () => {
    const s = session();
    assert.equal(onDeliver(s, msg('c1', 1)), false);
  });

  it('pushes nothing while a sync is outstanding', () => {
    const l = limits();
    const s = synced([['c1', 2]]);
    const { id } = forwarded(onClientFrame(s, sync([['c1', 2]]), l, T0));
    assert.equal(onDeliver(s, msg('c1', 3)), false);
    onResult(s, id, page([info('c1', 3)], false, [msg('c1', 3)]));
    assert.equal(onDeliver(s, msg('c1', 3)), false);
    assert.equal(onDeliver(s, msg('c1', 4)), true);
  });

  it('pushes each seq once and never an older one', () => {
    const s = synced([['c1', 0]]);
    assert.deepEqual([3, 3, 2, 4].map((n) => onDeliver(s, msg('c1', n))), [true, false, false, true]);
  });

  it('pushes a conversation the sync did not mention', () => {
    const s = synced([['c1', 3]]);
    assert.equal(onDeliver(s, msg('new', 1)), true);
  });

  /*
   * A model of the host (ChatService.sync and onCommitted) and of the FIFO channel to
   * the shard: commits queue pushes in the outbox, which posts them a little later
   * (replies may overtake them); a sync reads its page, commits may land
   * while it awaits the store, and has_more is decided when the reply is posted. The
   * client syncs on connect, asks for the next page while has_more (a little later:
   * pushes may come first), and may sync again from its cursors later. Its cursor per
   * conversation is the highest seq it holds. The connection also sends messages.
   */
  it('for any interleaving, messages per conversation arrive strictly increasing and without gaps', () => {
    const CONVS = ['a', 'b'];
    type Step =
      | { t: 'commit'; c: number }
      | { t: 'own'; c: number }
      | { t: 'sync' }
      | { t: 'hostRead' }
      | { t: 'hostPost' }
      | { t: 'shard' }
      | { t: 'client' }
      | { t: 'flush' };
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ t: fc.constant('commit' as const), c: fc.integer({ min: 0, max: 1 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('own' as const), c: fc.integer({ min: 0, max: 1 }) }) },
      { weight: 1, arbitrary: fc.constant({ t: 'sync' as const }) },
      { weight: 2, arbitrary: fc.constant({ t: 'hostRead' as const }) },
      { weight: 2, arbitrary: fc.constant({ t: 'hostPost' as const }) },
      { weight: 4, arbitrary: fc.constant({ t: 'shard' as const }) },
      { weight: 2, arbitrary: fc.constant({ t: 'client' as const }) },
      { weight: 2, arbitrary: fc.constant({ t: 'flush' as const }) },
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 150, size: 'max' }), fc.integer({ min: 1, max: 4 }), (steps, pageLimit) => {
        const l = limits({ frameBurst: 1_000_000, sendBurst: 1_000_000 });
        const s = session(l);
        const committed = new Map(CONVS.map((c) => [c, 0]));
        type ToShard = { t: 'deliver'; m: StoredMessage } | { t: 'reply'; id: number; res: CoreResult };
        const channel: ToShard[] = [];
        // Pushes wait in the host's outbox until its next macrotask (host/outbox.ts),
        // so a reply may overtake pushes committed before it.
        let outbox: ToShard[] = [];
        const flush = () => {
          channel.push(...outbox);
          outbox = [];
        };
        const inbox: Array<{ id: number; cursors: Map<string, number> }> = [];
        let building: { id: number; page: SyncPage } | null = null;
        // Client state.
        const cursor = new Map(CONVS.map((c) => [c, 0]));
        const received = new Map<string, number[]>(CONVS.map((c) => [c, []]));
        const own = new Map<string, number[]>(CONVS.map((c) => [c, []]));
        let chain = false; // a sync (page chain) is in progress
        let nextPage = false; // a has_more page arrived; the client has yet to ask for the next

        const clientSync = () => {
          chain = true;
          const f = sync(CONVS.map((c) => [c, cursor.get(c)!]), pageLimit);
          const e = forwarded(onClientFrame(s, f, l, T0));
          assert.equal(e.op.op, 'sync');
          inbox.push({ id: e.id, cursors: new Map((e.op as { cursors: Array<{ conversation: string; seq: number }> }).cursors.map((c) => [c.conversation, c.seq])) });
        };
        const commit = (c: string, sender: 'other' | 'self'): number => {
          const seq = committed.get(c)! + 1;
          committed.set(c, seq);
          if (sender === 'other') outbox.push({ t: 'deliver', m: msg(c, seq) });
          return seq;
        };
        const hostRead = () => {
          const req = inbox.shift();
          if (!req) return;
          const messages: StoredMessage[] = [];
          const conversations: ConversationSyncInfo[] = [];
          for (const c of [...CONVS].sort()) {
            const from = req.cursors.get(c) ?? 0;
            let next = from;
            const room = pageLimit - messages.length;
            const last = committed.get(c)!;
            if (room > 0 && from < last) {
              for (let q = from + 1; q <= Math.min(last, from + room); q++) messages.push(msg(c, q));
              next = Math.min(last, from + room);
            }
            conversations.push(info(c, next, { lastSeq: last }));
          }
          building = { id: req.id, page: { messages, conversations, hasMore: false, receipts: [] } };
        };
        const hostPost = () => {
          if (!building) return;
          const p = building.page;
          for (const ci of p.conversations) {
            ci.lastSeq = committed.get(ci.conversation)!;
            if (ci.nextCursor < ci.lastSeq) p.hasMore = true;
          }
          channel.push({ t: 'reply', id: building.id, res: { r: 'sync_page', page: p } });
          building = null;
        };
        const shard = () => {
          const x = channel.shift();
          if (!x) return;
          if (x.t === 'deliver') {
            if (onDeliver(s, x.m)) {
              received.get(x.m.conversation)!.push(x.m.seq);
              cursor.set(x.m.conversation, Math.max(cursor.get(x.m.conversation)!, x.m.seq));
            }
            return;
          }
          const f = onResult(s, x.id, x.res);
          if (x.res.r === 'sync_page') {
            assert.equal(f?.kind.case, 'syncPage');
            for (const m of x.res.page.messages) received.get(m.conversation)!.push(m.seq);
            for (const ci of x.res.page.conversations) cursor.set(ci.conversation, Math.max(cursor.get(ci.conversation)!, ci.nextCursor));
            // The request for the next page is a separate step: pushes may arrive first.
            if (x.res.page.hasMore) nextPage = true;
            else chain = false;
          }
        };

        clientSync(); // on connect
        for (const st of steps) {
          if (st.t === 'commit') commit(CONVS[st.c], 'other');
          else if (st.t === 'own') {
            const c = CONVS[st.c];
            const e = forwarded(onClientFrame(s, send(c, `own-${committed.get(c)}`), l, T0));
            const seq = commit(c, 'self');
            own.get(c)!.push(seq);
            channel.push({ t: 'reply', id: e.id, res: { r: 'send_ack', ack: { conversation: c, clientMsgId: 'x', messageId: 'x', seq, serverTs: T0, duplicate: false } } });
          } else if (st.t === 'sync') {
            if (!chain) clientSync();
          } else if (st.t === 'hostRead') {
            if (!building) hostRead();
          } else if (st.t === 'hostPost') hostPost();
          else if (st.t === 'client') {
            if (nextPage) {
              nextPage = false;
              clientSync();
            }
          } else if (st.t === 'flush') flush();
          else shard();
        }
        // Quiesce: the host answers everything and the shard drains its channel.
        while (inbox.length || building || channel.length || nextPage || outbox.length) {
          if (outbox.length) flush();
          else if (nextPage) {
            nextPage = false;
            clientSync();
          } else if (building) hostPost();
          else if (inbox.length) hostRead();
          else shard();
        }
        // Once everything has settled, a new message in each conversation is pushed.
        for (const c of CONVS) commit(c, 'other');
        flush();
        while (channel.length) shard();
        for (const c of CONVS) {
          const got = received.get(c)!;
          for (let i = 1; i < got.length; i++) assert.ok(got[i] > got[i - 1], `${c}: ${got.join(',')} is not strictly increasing`);
          // The client saw (or sent) every committed message.
          const have = new Set([...got, ...own.get(c)!]);
          for (let q = 1; q <= committed.get(c)!; q++) assert.ok(have.has(q), `${c}: seq ${q} never reached the client (got ${got.join(',')})`);
        }
      }),
      { numRuns: 1000, includeErrorInReport: true },
    );
  });
});

describe('session: expiry', () => {
  it('closes an idle connection; any frame or touch keeps it open', () => {
    const l = limits({ idleTimeoutMs: 10_000 });
    const s = session(l);
    assert.equal(expiry(s, l, T0 + 10_000), null);
    assert.equal(expiry(s, l, T0 + 10_001), 'idle');
    onClientFrame(s, frame({ kind: { case: 'ping', value: {} } }), l, T0 + 9_000);
    assert.equal(expiry(s, l, T0 + 19_000), null);
    touch(s, T0 + 18_000);
    assert.equal(expiry(s, l, T0 + 28_000), null);
    assert.equal(expiry(s, l, T0 + 28_001), 'idle');
  });

  it('closes a connection when its token expires; 0 means no expiry', () => {
    const l = limits();
    const s = session(l, T0, T0 + 5_000);
    assert.equal(expiry(s, l, T0 + 4_999), null);
    assert.equal(expiry(s, l, T0 + 5_000), 'token');
    assert.equal(expiry(session(l, T0, 0), l, T0 + 1_000), null);
  });
});

describe('session: compact layout', () => {
  it('holds no map until the first request or push, and reads as empty before', () => {
    const s = session();
    assert.equal(s.pending.size, 0);
    assert.equal(s.sentUpTo.size, 0);
    assert.equal(Object.getOwnPropertyDescriptor(s, 'asked')?.value, null);
    assert.equal(Object.getOwnPropertyDescriptor(s, 'sent')?.value, null);
    const eff = onClientFrame(s, ack('c1', 1), limits(), T0);
    assert.equal(eff.kind, 'forward');
    assert.equal(s.pending.size, 1);
    assert.ok(Object.getOwnPropertyDescriptor(s, 'asked')?.value instanceof Map);
    if (eff.kind === 'forward') onResult(s, eff.id, { r: 'ok' } as CoreResult);
    assert.equal(s.pending.size, 0);
    assert.equal(Object.getOwnPropertyDescriptor(s, 'asked')?.value, null, 'an emptied map is let go');
  });

  it('the inline buckets read back as bucket values', () => {
    const l = limits();
    const s = session(l);
    assert.deepEqual(s.sendBucket, { tokens: l.sendBurst, at: T0 });
    assert.deepEqual(s.frameBucket, { tokens: l.frameBurst, at: T0 });
  });
});
