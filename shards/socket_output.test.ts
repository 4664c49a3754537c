import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { ServerFrameSchema } from '../protocol/gen/client_pb.js';
import { serverFrameBytes } from '../protocol/compiled/client_frames.js';
import { decodeServerFrame } from '../protocol/codec.js';
import { defaultConfig } from '../node/config.js';
import { ShardMetrics } from './metrics.js';
import { newSession, type Limits } from './session.js';
import { SocketOutput, type WS } from './socket_output.js';
import { CLOSE_CODES } from '../protocol/codes.js';
import type { Encoding } from '../protocol/codec.js';
import type { PushItem } from './messages.js';

const T0 = 1_700_000_000_000;
const limits: Limits = { ...defaultConfig().limits };

/** A stand-in for a uWS socket: records what is written, and how (corked or not). */
class FakeSocket {
  readonly writes: Array<{ data: Uint8Array | string; corked: boolean }> = [];
  corks = 0;
  ended: number | null = null;
  buffered = 0;
  private inCork = false;
  readonly ud;

  constructor(conn: number, encoding: Encoding) {
    const session = newSession(conn, `u${conn}`, 'd1', encoding, 0, limits, T0);
    session.synced = true; // live pushes flow after the first sync
    this.ud = { session, pre: null, closed: false };
  }
  getUserData() {
    return this.ud;
  }
  cork(cb: () => void) {
    this.corks++;
    this.inCork = true;
    try {
      cb();
    } finally {
      this.inCork = false;
    }
  }
  send(data: Uint8Array | string) {
    assert.equal(this.ended, null, 'no write after the socket was ended');
    this.writes.push({ data: typeof data === 'string' ? data : new Uint8Array(data), corked: this.inCork });
    return 1;
  }
  getBufferedAmount() {
    return this.buffered;
  }
  end(code: number) {
    assert.equal(this.inCork, false, 'a socket is not closed inside its own cork');
    this.ended = code;
    this.ud.closed = true;
  }
}

function setup(encodings: Record<number, Encoding>) {
  const fakes = new Map<number, FakeSocket>();
  for (const [conn, enc] of Object.entries(encodings)) fakes.set(Number(conn), new FakeSocket(Number(conn), enc));
  const sockets = fakes as unknown as Map<number, WS>;
  const logs: string[] = [];
  const out = new SocketOutput(sockets, limits, new ShardMetrics(0), (_level, msg) => logs.push(msg));
  return { fakes, out, logs };
}

function deliver(conns: number[], conversation: string, seq: number): PushItem {
  const bytes = serverFrameBytes(create(ServerFrameSchema, { kind: { case: 'message', value: { conversation, seq: BigInt(seq), messageId: `m${seq}`, sender: 'a', body: `body ${seq}` } } }));
  const frame = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return { k: 'deliver', conns, conversation, seq, t0: 0, frame };
}

const seqOf = (w: { data: Uint8Array | string }, enc: Encoding): number => {
  const f = decodeServerFrame(w.data, enc);
  assert.equal(f.kind.case, 'message');
  return Number((f.kind.value as { seq: bigint }).seq);
};

describe('SocketOutput.push', () => {
  it('writes messages to the same sockets in one corked write per socket, in order', () => {
    const { fakes, out } = setup({ 1: 'proto', 2: 'proto' });
    out.push([deliver([1, 2], 'g', 5), deliver([1, 2], 'g', 6), deliver([1, 2], 'g', 7)]);
    for (const f of fakes.values()) {
      assert.equal(f.corks, 1, 'one cork (one syscall) per socket for the three messages');
      assert.deepEqual(f.writes.map((w) => seqOf(w, 'proto')), [5, 6, 7]);
      assert.ok(f.writes.every((w) => w.corked));
    }
  });

  it('keeps the per-socket rules inside a run: a seq already sent is not sent again, a JSON socket gets JSON', () => {
    const { fakes, out } = setup({ 1: 'proto', 2: 'json' });
    out.push([deliver([1, 2], 'g', 5)]);
    out.push([deliver([1, 2], 'g', 5), deliver([1, 2], 'g', 6), deliver([1, 2], 'g', 6), deliver([1, 2], 'g', 7)]);
    assert.deepEqual(fakes.get(1)!.writes.map((w) => seqOf(w, 'proto')), [5, 6, 7]);
    const json = fakes.get(2)!.writes;
    assert.ok(json.every((w) => typeof w.data === 'string'), 'JSON frames for the JSON socket');
    assert.deepEqual(json.map((w) => seqOf(w, 'json')), [5, 6, 7]);
  });

  it('does not combine messages to different sockets, and keeps the order of other pushes between them', () => {
    const { fakes, out } = setup({ 1: 'proto', 2: 'proto' });
    const other = serverFrameBytes(create(ServerFrameSchema, { kind: { case: 'pong', value: { ts: 1n, serverTs: 2n } } }));
    out.push([
      deliver([1], 'a', 1),
      deliver([2], 'b', 1),
      deliver([1, 2], 'g', 1),
      { k: 'frame', conns: [1, 2], frame: other.buffer.slice(other.byteOffset, other.byteOffset + other.byteLength) as ArrayBuffer },
      deliver([1, 2], 'g', 2),
    ]);
    for (const f of fakes.values()) {
      assert.equal(f.corks, 0, 'no run of two messages to the same sockets here');
      assert.deepEqual(f.writes.map((w) => decodeServerFrame(w.data, 'proto').kind.case), ['message', 'message', 'pong', 'message']);
    }
  });

  it('closes a slow consumer after its corked write, and goes on with the other sockets', () => {
    const { fakes, out, logs } = setup({ 1: 'proto', 2: 'proto' });
    fakes.get(1)!.buffered = limits.maxBackpressureBytes + 1;
    out.push([deliver([1, 2], 'g', 1), deliver([1, 2], 'g', 2)]);
    assert.equal(fakes.get(1)!.ended, CLOSE_CODES.slow_consumer.code);
    assert.equal(fakes.get(1)!.writes.length, 2);
    assert.equal(fakes.get(2)!.ended, null);
    assert.deepEqual(fakes.get(2)!.writes.map((w) => seqOf(w, 'proto')), [1, 2]);
    assert.ok(logs.includes('slow consumer closed'));
  });
});
