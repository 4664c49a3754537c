import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { ShardLink, type LinkDeps } from './shard_link.js';
import { ConnectionRegistry } from '../core/registry.js';
import { ChannelWriter, readReplies, type HotResult } from '../../shards/channel_codec.js';
import type { HostToShard } from '../../shards/messages.js';
import type { CoreOp, CoreResult } from '../core/ops.js';
import { createOpRing, RingWriter } from '../../shards/op_ring.js';

/** A worker that records what the host posts to it. */
class FakeWorker extends EventEmitter {
  posted: Array<{ m: HostToShard; transfer: ArrayBuffer[] }> = [];
  postMessage(m: HostToShard, transfer: ArrayBuffer[] = []): void {
    this.posted.push({ m, transfer });
  }
}

function link(run: (op: CoreOp) => CoreResult) {
  const w = new FakeWorker();
  const deps = { run: async (_c: unknown, op: CoreOp) => run(op), registry: new ConnectionRegistry(), log: () => {} } as unknown as LinkDeps;
  return { w, l: new ShardLink(0, w as unknown as Worker, null, 0, deps) };
}

const tick = () => new Promise((r) => setImmediate(r));
/** Let promise chains run, but not the tick's setImmediate flush. */
const microtasks = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};
const replies = (buf: ArrayBuffer) => {
  const out: Array<[number, number, HotResult]> = [];
  readReplies(buf, (conn, reqId, res) => out.push([conn, reqId, res]));
  return out;
};

function opsFrom(...seqs: number[]): ArrayBuffer {
  const w = new ChannelWriter();
  seqs.forEach((seq, i) => w.op(7, i + 1, 'bob', 'phone', 0, { op: 'ack', conversation: 'c', seq }));
  return w.take()!;
}

describe('ShardLink: the packed channel', () => {
  it('runs packed ops and answers them packed, one buffer for the tick', async () => {
    const { w, l } = link(() => ({ r: 'ok' }));
    w.emit('message', { t: 'ops', buf: opsFrom(1, 2, 3) });
    await tick();
    await tick();
    assert.equal(w.posted.length, 1);
    const { m, transfer } = w.posted[0];
    assert.equal(m.t, 'replies');
    assert.deepEqual(replies((m as { buf: ArrayBuffer }).buf).map(([c, id, r]) => [c, id, r.r]), [[7, 1, 'ok'], [7, 2, 'ok'], [7, 3, 'ok']]);
    assert.equal(transfer.length, 1, 'the buffer is transferred');
    assert.equal(l.inFlight, 0);
  });

  it('replies written before a push ride in it; before any other message they go first', async () => {
    const { w, l } = link(() => ({ r: 'ok' }));
    w.emit('message', { t: 'ops', buf: opsFrom(1) });
    // Let the op run (microtasks), but post before the tick's flush.
    await microtasks();
    l.post({ t: 'push', items: [] });
    assert.equal(w.posted.length, 1, 'one message for the push and the replies');
    const push = w.posted[0].m as Extract<HostToShard, { t: 'push' }>;
    assert.equal(push.t, 'push');
    assert.deepEqual(replies(push.replies!).map(([, id]) => id), [1]);
    w.emit('message', { t: 'ops', buf: opsFrom(2) });
    await microtasks();
    l.post({ t: 'close', conn: 7, reason: 'overloaded' });
    assert.deepEqual(w.posted.slice(1).map((p) => p.m.t), ['replies', 'close']);
    await tick();
    assert.equal(w.posted.length, 3, 'nothing left to flush');
  });

  it('results that do not travel packed go as objects, in order with the packed ones', async () => {
    let n = 0;
    const { w } = link(() => (n++ === 1 ? { r: 'conversations', list: [] } : { r: 'ok' }));
    w.emit('message', { t: 'ops', buf: opsFrom(1, 2, 3) });
    await tick();
    await tick();
    assert.deepEqual(w.posted.map((p) => p.m.t), ['replies', 'reply', 'replies']);
  });
});

describe('ShardLink: the op ring (shards/op_ring.ts)', () => {
  function ringLink(ringMs: number) {
    const w = new FakeWorker();
    const ran: number[] = [];
    const deps = {
      run: async (_c: unknown, op: CoreOp) => {
        ran.push((op as { seq: number }).seq);
        return { r: 'ok' } as CoreResult;
      },
      registry: new ConnectionRegistry(),
      log: () => {},
    } as unknown as LinkDeps;
    const sab = createOpRing(4096);
    const l = new ShardLink(0, w as unknown as Worker, sab, ringMs, deps);
    return { w, l, ran, writer: new RingWriter(sab) };
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a doorbell drains the ring: the ops run and are answered', async () => {
    const { w, ran, writer } = ringLink(5);
    assert.equal(writer.write(new Uint8Array(opsFrom(1, 2))), true);
    assert.equal(writer.hostArmed(), false, 'idle host: the shard must ring');
    assert.equal(writer.claimBell(), true);
    w.emit('message', { t: 'bell' });
    await tick();
    await tick();
    assert.deepEqual(ran, [1, 2]);
    assert.deepEqual(replies((w.posted[0].m as { buf: ArrayBuffer }).buf).map(([, id]) => id), [1, 2]);
    w.emit('exit', 0);
  });

  it('ops in the ring run before any message the shard posted after them', async () => {
    const { w, ran, writer } = ringLink(5);
    writer.write(new Uint8Array(opsFrom(1)));
    // An object request posted after the ring write: the ring goes first.
    w.emit('message', { t: 'req', conn: 7, reqId: 9, user: 'bob', device: 'phone', t0: 0, op: { op: 'ack', conversation: 'c', seq: 2 } });
    w.emit('message', { t: 'ops', buf: opsFrom(3) });
    await tick();
    assert.deepEqual(ran, [1, 2, 3]);
    w.emit('exit', 0);
  });

  it('while ops flow the host stays armed and finds new ones without a doorbell; idle again, it disarms', async () => {
    const { w, ran, writer } = ringLink(5);
    writer.write(new Uint8Array(opsFrom(1)));
    w.emit('message', { t: 'bell' });
    assert.equal(writer.hostArmed(), true, 'armed after a drain that found ops');
    assert.equal(writer.write(new Uint8Array(opsFrom(2))), true);
    // No bell: the host's own look picks it up.
    await sleep(30);
    assert.deepEqual(ran, [1, 2]);
    await sleep(30);
    assert.equal(writer.hostArmed(), false, 'a look that found nothing disarms');
    w.emit('exit', 0);
  });
});
