import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChannelWriter, isHotOp, isHotResult, readOps, readReplies, type HotOp, type HotResult } from './channel_codec.js';
import { ChannelBatch } from './channel_batch.js';
import { ERROR_CODES, type ErrorCode } from '../protocol/codes.js';

// Any JavaScript string, lone surrogates included (structured clone keeps them, so must the channel).
const str = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }), fc.constantFrom('', '__proto__', 'é😀'));
const num = fc.oneof(fc.double(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(0, -0, 2 ** 32, 2 ** 53 - 1));
const meta = fc.array(fc.tuple(str, str), { maxLength: 4 }).map((kv) => {
  const m: Record<string, string> = {};
  for (const [k, v] of kv) Object.defineProperty(m, k, { value: v, enumerable: true, writable: true, configurable: true });
  return m;
});
const hotOp: fc.Arbitrary<HotOp> = fc.oneof(
  fc.record({ op: fc.constant('send' as const), conversation: str, clientMsgId: str, body: str, meta }),
  fc.record({ op: fc.constant('send' as const), conversation: str, clientMsgId: str, body: str, meta, mediaId: str }),
  fc.record({ op: fc.constantFrom('ack' as const, 'read' as const), conversation: str, seq: num }),
);
const hotResult: fc.Arbitrary<HotResult> = fc.oneof(
  fc.record({ r: fc.constant('send_ack' as const), ack: fc.record({ conversation: str, clientMsgId: str, messageId: str, seq: num, serverTs: num, duplicate: fc.boolean() }) }),
  fc.constant({ r: 'ok' as const }),
  fc.record({ r: fc.constant('error' as const), code: fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[])), message: str, retryAfterMs: num }),
);
const opRecord = fc.record({ conn: num, reqId: num, user: str, device: str, t0: num, op: hotOp });
const replyRecord = fc.record({ conn: num, reqId: num, res: hotResult });

function opsOf(buf: ArrayBuffer) {
  const out: Array<{ conn: number; reqId: number; user: string; device: string; t0: number; op: HotOp }> = [];
  readOps(buf, (conn, reqId, user, device, t0, op) => out.push({ conn, reqId, user, device, t0, op }));
  return out;
}

function repliesOf(buf: ArrayBuffer) {
  const out: Array<{ conn: number; reqId: number; res: HotResult }> = [];
  readReplies(buf, (conn, reqId, res) => out.push({ conn, reqId, res }));
  return out;
}

describe('channel codec', () => {
  it('round-trips an op of each kind as structured clone would', () => {
    const w = new ChannelWriter();
    const ops: HotOp[] = [
      { op: 'send', conversation: 'c1', clientMsgId: 'm-1', body: 'hi \ud800 bob', meta: { k: 'v' } },
      { op: 'send', conversation: 'c1', clientMsgId: 'm-2', body: '', meta: {}, mediaId: 'md-1' },
      { op: 'ack', conversation: 'c1', seq: 7 },
      { op: 'read', conversation: 'c2', seq: 2 ** 53 - 1 },
    ];
    ops.forEach((op, i) => w.op(3, i + 1, 'alice', 'phone', 1_700_000_000_123.5, op));
    const got = opsOf(w.take()!);
    assert.deepStrictEqual(got, ops.map((op, i) => structuredClone({ conn: 3, reqId: i + 1, user: 'alice', device: 'phone', t0: 1_700_000_000_123.5, op })));
  });

  it('round-trips random op records, many per buffer (framing)', () => {
    fc.assert(
      fc.property(fc.array(opRecord, { maxLength: 40 }), (recs) => {
        const w = new ChannelWriter(64); // small: grows mid-batch
        for (const r of recs) w.op(r.conn, r.reqId, r.user, r.device, r.t0, r.op);
        const buf = w.take();
        if (recs.length === 0) return assert.equal(buf, null);
        assert.deepStrictEqual(opsOf(buf!), structuredClone(recs));
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips random reply records, many per buffer (framing)', () => {
    fc.assert(
      fc.property(fc.array(replyRecord, { maxLength: 40 }), (recs) => {
        const w = new ChannelWriter(64);
        for (const r of recs) w.reply(r.conn, r.reqId, r.res);
        const buf = w.take();
        if (recs.length === 0) return assert.equal(buf, null);
        assert.deepStrictEqual(repliesOf(buf!), structuredClone(recs));
      }),
      { numRuns: 500 },
    );
  });

  it('starts afresh after take(): each buffer holds only its own records', () => {
    const w = new ChannelWriter();
    w.reply(1, 1, { r: 'ok' });
    const a = w.take()!;
    w.reply(2, 2, { r: 'ok' });
    w.reply(3, 3, { r: 'ok' });
    const b = w.take()!;
    assert.deepEqual(repliesOf(a).map((r) => r.conn), [1]);
    assert.deepEqual(repliesOf(b).map((r) => r.conn), [2, 3]);
    assert.equal(w.take(), null);
  });

  it('a buffer cut short is refused, not read as other records', () => {
    const w = new ChannelWriter();
    w.op(1, 1, 'alice', 'phone', 0, { op: 'send', conversation: 'c', clientMsgId: 'm', body: 'hello', meta: {} });
    const buf = w.take()!;
    for (let n = 1; n < buf.byteLength; n++) assert.throws(() => opsOf(buf.slice(0, n)), RangeError, `cut at ${n}`);
  });

  it('says which ops and results travel packed', () => {
    assert.equal(isHotOp({ op: 'ack', conversation: 'c', seq: 1 }), true);
    assert.equal(isHotOp({ op: 'list' }), false);
    assert.equal(isHotResult({ r: 'ok' }), true);
    assert.equal(isHotResult({ r: 'conversations', list: [] }), false);
    assert.equal(isHotResult({ r: 'error', code: 'internal', message: '', retryAfterMs: undefined as unknown as number }), false);
  });
});

describe('channel batch', () => {
  it('sends one buffer per tick, and flush() sends what is written at once', async () => {
    const sent: ArrayBuffer[] = [];
    const b = new ChannelBatch((buf) => sent.push(buf));
    b.writer.reply(1, 1, { r: 'ok' });
    b.written();
    b.writer.reply(2, 2, { r: 'ok' });
    b.written();
    assert.equal(sent.length, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1);
    assert.deepEqual(repliesOf(sent[0]).map((r) => r.conn), [1, 2]);
    b.writer.reply(3, 3, { r: 'ok' });
    b.written();
    b.flush();
    assert.equal(sent.length, 2);
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 2, 'nothing more once flushed');
  });
});
