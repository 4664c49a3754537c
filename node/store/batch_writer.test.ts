import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../supervisor/manual_clock.js';
import { BatchWriter, type BatchWriterOptions } from './batch_writer.js';
import { OverloadedError, StoreUnavailableError } from './errors.js';

/** A sink whose batches complete only when the test says so. */
class ManualSink<Op> {
  readonly batches: Op[][] = [];
  private waiting: { resolve(): void; reject(err: Error): void }[] = [];

  readonly fn = (ops: Op[]): Promise<void> => {
    this.batches.push(ops);
    return new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
  };

  get inFlight(): number {
    return this.waiting.length;
  }
  async completeNext(): Promise<void> {
    const next = this.waiting.shift();
    assert.ok(next, 'no batch in flight to complete');
    next.resolve();
    await settle();
  }
  async failNext(err: Error): Promise<void> {
    const next = this.waiting.shift();
    assert.ok(next, 'no batch in flight to fail');
    next.reject(err);
    await settle();
  }
}

/** Let queued promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Track a promise's outcome without awaiting it. */
function track(p: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  p.then(
    () => (t.state = 'resolved'),
    (err) => {
      t.state = 'rejected';
      t.error = err;
    },
  );
  return t;
}

function setup(options: Omit<BatchWriterOptions, 'clock'> = {}) {
  const clock = new ManualClock();
  const sink = new ManualSink<number>();
  const writer = new BatchWriter<number>(sink.fn, { maxBatch: 4, maxDelayMs: 10, maxQueue: 100, ...options, clock });
  return { clock, sink, writer };
}

describe('BatchWriter', () => {
  it('flushes as soon as maxBatch ops are queued, without waiting for the delay', async () => {
    const { sink, writer } = setup({ maxBatch: 3 });
    const a = track(writer.submit(1));
    writer.submit(2);
    await settle();
    assert.equal(sink.batches.length, 0, 'two of three ops must still wait');
    writer.submit(3);
    await settle();
    assert.deepEqual(sink.batches, [[1, 2, 3]]);
    assert.equal(a.state, 'pending', 'an op is not acked before its batch is durable');
    await sink.completeNext();
    assert.equal(a.state, 'resolved');
    assert.deepEqual(writer.stats(), {
      queueDepth: 0,
      inFlightOps: 0,
      batchesCommitted: 1,
      opsCommitted: 3,
      batchesFailed: 0,
      opsFailed: 0,
      opsRejected: 0,
      lastBatchSize: 3,
    });
  });

  it('flushes a partial batch maxDelayMs after the first queued op', async () => {
    const { clock, sink, writer } = setup({ maxBatch: 10, maxDelayMs: 10 });
    const a = track(writer.submit(1));
    clock.advance(6);
    writer.submit(2);
    clock.advance(3);
    await settle();
    assert.equal(sink.batches.length, 0, 'not due before 10 ms');
    clock.advance(1);
    await settle();
    assert.deepEqual(sink.batches, [[1, 2]], 'due 10 ms after the first op, not the last');
    await sink.completeNext();
    assert.equal(a.state, 'resolved');
    assert.equal(clock.pending(), 0, 'no timer left once the queue is empty');
  });

  it('keeps FIFO order across batches and sends one batch at a time by default', async () => {
    const { clock, sink, writer } = setup({ maxBatch: 4 });
    const results = Array.from({ length: 10 }, (_, i) => track(writer.submit(i)));
    await settle();
    assert.deepEqual(sink.batches, [[0, 1, 2, 3]], 'second batch waits for the first');
    assert.equal(sink.inFlight, 1);
    await sink.completeNext();
    assert.deepEqual(sink.batches[1], [4, 5, 6, 7]);
    await sink.completeNext();
    // Two ops left: under maxBatch, so they leave on the delay.
    assert.equal(sink.batches.length, 2);
    clock.advance(10);
    await settle();
    assert.deepEqual(sink.batches[2], [8, 9]);
    await sink.completeNext();
    assert.deepEqual(sink.batches.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(results.every((r) => r.state === 'resolved'));
  });

  it('lets ops that waited behind a slow batch leave as soon as it completes', async () => {
    const { clock, sink, writer } = setup({ maxBatch: 10, maxDelayMs: 5 });
    writer.submit(1);
    clock.advance(5);
    await settle();
    writer.submit(2);
    clock.advance(20); // the first batch is slow; op 2 is long overdue
    await settle();
    assert.equal(sink.batches.length, 1);
    await sink.completeNext();
    assert.deepEqual(sink.batches[1], [2], 'the overdue op goes right after the completion');
  });

  it('runs up to `concurrency` batches at once', async () => {
    const { sink, writer } = setup({ maxBatch: 2, concurrency: 2 });
    for (let i = 0; i < 6; i++) writer.submit(i);
    await settle();
    assert.deepEqual(sink.batches, [
      [0, 1],
      [2, 3],
    ]);
    await sink.completeNext();
    assert.deepEqual(sink.batches[2], [4, 5]);
  });

  it('keeps a submitMany group in one batch, even when that makes a short batch', async () => {
    const { clock, sink, writer } = setup({ maxBatch: 4 });
    writer.submit(1);
    writer.submit(2);
    const group = track(writer.submitMany([10, 11, 12]));
    await settle();
    // 5 ops queued (>= maxBatch) but 2 + 3 > 4: the group does not fit behind 1 and 2,
    // so the first batch leaves short rather than splitting the group.
    assert.deepEqual(sink.batches, [[1, 2]]);
    await sink.completeNext();
    clock.advance(10);
    await settle();
    assert.deepEqual(sink.batches[1], [10, 11, 12]);
    assert.equal(group.state, 'pending', 'the group is acked only with its batch');
    await sink.completeNext();
    assert.equal(group.state, 'resolved');
  });

  it('sends a group larger than maxBatch alone, and refuses one larger than maxQueue', async () => {
    const { sink, writer } = setup({ maxBatch: 2, maxQueue: 5 });
    const big = track(writer.submitMany([1, 2, 3]));
    await settle();
    assert.deepEqual(sink.batches, [[1, 2, 3]]);
    await sink.completeNext();
    assert.equal(big.state, 'resolved');
    await assert.rejects(writer.submitMany([1, 2, 3, 4, 5, 6]), RangeError);
    assert.equal(writer.stats().queueDepth, 0);
  });

  it('rejects with OverloadedError when the queue is full, and drops nothing accepted', async () => {
    const { clock, sink, writer } = setup({ maxBatch: 2, maxQueue: 3 });
    const accepted = [writer.submit(1), writer.submit(2)].map(track);
    await settle(); // [1, 2] in flight; the queue is empty again
    const waiting = [writer.submit(3), writer.submit(4), writer.submit(5)].map(track);
    await settle();
    assert.equal(writer.stats().queueDepth, 3);

    const refused = writer.submit(6);
    await assert.rejects(refused, (err: unknown) => {
      assert.ok(err instanceof OverloadedError);
      assert.equal(err.code, 'overloaded');
      assert.equal(err.retryable, true);
      assert.equal(err.queueDepth, 3);
      assert.match(err.message, /queue is full/);
      return true;
    });
    await assert.rejects(writer.submitMany([7, 8]), OverloadedError, 'a group that does not fit is refused whole');

    await sink.completeNext();
    await sink.completeNext();
    clock.advance(10);
    await settle();
    await sink.completeNext();
    assert.deepEqual(sink.batches.flat(), [1, 2, 3, 4, 5], 'every accepted op reached the sink, no refused one did');
    assert.ok([...accepted, ...waiting].every((t) => t.state === 'resolved'));
    assert.equal(writer.stats().opsRejected, 3);
  });

  it('rejects every op of a failed batch with StoreUnavailableError carrying the cause', async () => {
    const { sink, writer } = setup({ maxBatch: 2 });
    const first = [writer.submit(1), writer.submit(2)].map(track);
    await settle();
    const cause = new Error('disk I/O error');
    await sink.failNext(cause);
    for (const t of first) {
      assert.equal(t.state, 'rejected');
      assert.ok(t.error instanceof StoreUnavailableError);
      assert.equal(t.error.code, 'unavailable');
      assert.equal(t.error.retryable, true);
      assert.equal(t.error.cause, cause);
      assert.match(t.error.message, /batch of 2 ops failed: disk I\/O error/);
    }
    const stats = writer.stats();
    assert.equal(stats.batchesFailed, 1);
    assert.equal(stats.opsFailed, 2);
    assert.equal(stats.batchesCommitted, 0);
  });

  it('by default fails the ops queued behind a failed batch untried, then accepts new ones', async () => {
    const { clock, sink, writer } = setup({ maxBatch: 2 });
    writer.submit(1).catch(() => undefined);
    writer.submit(2).catch(() => undefined);
    await settle();
    const behind = [writer.submit(3), writer.submit(4), writer.submit(5)].map(track);
    await settle();
    assert.equal(sink.batches.length, 1, 'ops 3.. wait behind the in-flight batch');
    const cause = new Error('disk full');
    await sink.failNext(cause);
    for (const t of behind) {
      assert.equal(t.state, 'rejected');
      assert.ok(t.error instanceof StoreUnavailableError);
      assert.equal(t.error.cause, cause);
      assert.match(t.error.message, /not attempted: an earlier store batch of 2 ops failed \(disk full\)/);
    }
    assert.equal(sink.batches.length, 1, 'the failed-behind ops never reach the sink');
    assert.equal(writer.stats().queueDepth, 0);
    assert.equal(writer.stats().opsFailed, 5);

    const after = track(writer.submit(6));
    clock.advance(10);
    await settle();
    await sink.completeNext();
    assert.deepEqual(sink.batches[1], [6]);
    assert.equal(after.state, 'resolved', 'the writer works again after a failure');
  });

  it("with onBatchFailure 'continue', later batches go on after a failure", async () => {
    const { clock, sink, writer } = setup({ maxBatch: 2, onBatchFailure: 'continue' });
    writer.submit(1).catch(() => undefined);
    writer.submit(2).catch(() => undefined);
    const later = track(writer.submit(3));
    await settle();
    await sink.failNext(new Error('boom'));
    clock.advance(10);
    await settle();
    assert.deepEqual(sink.batches[1], [3]);
    await sink.completeNext();
    assert.equal(later.state, 'resolved');
    assert.equal(writer.stats().opsFailed, 2);
    assert.equal(writer.stats().opsCommitted, 1);
  });

  it('treats a sink that throws synchronously like a failed batch', async () => {
    const clock = new ManualClock();
    const writer = new BatchWriter<number>(
      () => {
        throw new Error('boom');
      },
      { maxBatch: 1, clock },
    );
    await assert.rejects(writer.submit(1), StoreUnavailableError);
    assert.equal(writer.stats().batchesFailed, 1);
  });

  it('flush() sends everything queued without waiting for size or time', async () => {
    const { sink, writer } = setup({ maxBatch: 3, maxDelayMs: 1000 });
    const ops = [1, 2, 3, 4, 5].map((n) => track(writer.submit(n)));
    await settle();
    assert.deepEqual(sink.batches, [[1, 2, 3]]);
    let flushed = false;
    const done = writer.flush().then(() => (flushed = true));
    await sink.completeNext();
    assert.deepEqual(sink.batches[1], [4, 5], 'the short tail leaves without the 1 s delay');
    assert.equal(flushed, false, 'flush waits for the tail to be durable');
    await sink.completeNext();
    await done;
    assert.ok(ops.every((t) => t.state === 'resolved'));
  });

  it('flush() resolves even when a batch fails; the failure reaches the submitter', async () => {
    const { sink, writer } = setup({ maxBatch: 10, maxDelayMs: 1000 });
    const op = track(writer.submit(1));
    const done = writer.flush();
    await settle();
    await sink.failNext(new Error('gone'));
    await done;
    assert.equal(op.state, 'rejected');
  });

  it('close() drains accepted ops, then refuses new ones', async () => {
    const { clock, sink, writer } = setup({ maxBatch: 10, maxDelayMs: 1000 });
    const op = track(writer.submit(1));
    const closing = writer.close();
    await assert.rejects(writer.submit(2), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError);
      assert.match(err.message, /closed/);
      return true;
    });
    await settle();
    await sink.completeNext();
    await closing;
    assert.equal(op.state, 'resolved');
    assert.deepEqual(sink.batches, [[1]]);
    assert.equal(clock.pending(), 0);
  });

  it('validates its options and names the bad one', () => {
    const sink = async () => undefined;
    assert.throws(() => new BatchWriter(sink, { maxBatch: 0 }), /maxBatch must be a positive integer, got 0/);
    assert.throws(() => new BatchWriter(sink, { maxQueue: 1.5 }), /maxQueue/);
    assert.throws(() => new BatchWriter(sink, { concurrency: -1 }), /concurrency/);
    assert.throws(() => new BatchWriter(sink, { maxDelayMs: -1 }), /maxDelayMs/);
  });

  it('works on the real clock end to end', async () => {
    const seen: number[][] = [];
    const writer = new BatchWriter<number>(async (ops) => void seen.push(ops), { maxBatch: 100, maxDelayMs: 1 });
    await Promise.all([writer.submit(1), writer.submit(2), writer.submitMany([3, 4])]);
    assert.deepEqual(seen.flat(), [1, 2, 3, 4]);
    await writer.close();
  });
});

describe('BatchWriter, adaptive window', () => {
  it('an idle writer commits a lone op at once', async () => {
    const { sink, writer } = setup({ adaptive: true, maxBatch: 10, maxDelayMs: 10 });
    writer.submit(1);
    await settle();
    assert.deepEqual(sink.batches, [[1]], 'no wait for company when nothing was committed lately');
  });

  it('spaces commit starts maxDelayMs apart: ops behind a fast commit wait out the rest, together', async () => {
    const { clock, sink, writer } = setup({ adaptive: true, maxBatch: 10, maxDelayMs: 10 });
    writer.submit(1);
    clock.advance(1);
    const during = [2, 3].map((n) => track(writer.submit(n)));
    await sink.completeNext(); // a 1 ms commit
    clock.advance(4);
    writer.submit(4);
    await settle();
    assert.equal(sink.batches.length, 1, 'not before 10 ms after the previous batch left');
    clock.advance(5);
    await settle();
    assert.deepEqual(sink.batches[1], [2, 3, 4], 'everything queued, at once');
    await sink.completeNext();
    assert.ok(during.every((r) => r.state === 'resolved'));
  });

  it('behind a commit slower than maxDelayMs, what queued leaves the moment it completes', async () => {
    const { clock, sink, writer } = setup({ adaptive: true, maxBatch: 10, maxDelayMs: 10 });
    writer.submit(1);
    clock.advance(15);
    [2, 3, 4].forEach((n) => writer.submit(n));
    clock.advance(5); // the commit takes 20 ms
    await settle();
    assert.equal(sink.batches.length, 1, 'nothing leaves while the commit is in flight');
    await sink.completeNext();
    assert.deepEqual(sink.batches[1], [2, 3, 4]);
    assert.equal(clock.pending(), 0, 'and no timer is left for them');
  });

  it('grows the batch with the rate: more ops per commit when more arrive during one', async () => {
    const { clock, sink, writer } = setup({ adaptive: true, maxBatch: 100, maxDelayMs: 2, maxQueue: 1000 });
    let n = 0;
    // A commit takes 4 ms; `perMs` ops arrive each ms. Steady state: ~4 x perMs per commit.
    const run = async (perMs: number, commits: number): Promise<number> => {
      for (let c = 0; c < commits; c++) {
        for (let ms = 0; ms < 4; ms++) {
          for (let i = 0; i < perMs; i++) writer.submit(n++).catch(() => undefined);
          clock.advance(1);
          await settle();
        }
        await sink.completeNext();
      }
      return sink.batches[sink.batches.length - 1].length;
    };
    writer.submit(n++); // idle: leaves at once
    await settle();
    assert.equal(await run(1, 3), 4, '1 op/ms: 4 per commit');
    assert.equal(await run(10, 3), 40, '10 op/ms: 40 per commit');
    assert.equal(await run(50, 3), 100, '50 op/ms: capped at maxBatch');
    assert.deepEqual(sink.batches.flat(), [...sink.batches.flat()].sort((a, b) => a - b), 'FIFO throughout');
  });

  it('keeps FIFO and fails everything queued behind a failed batch', async () => {
    const { clock, sink, writer } = setup({ adaptive: true, maxBatch: 4 });
    const first = track(writer.submit(1)); // idle: leaves alone, at once
    const behind = [writer.submit(2), writer.submit(3), writer.submit(4)].map(track);
    await settle();
    assert.deepEqual(sink.batches, [[1]]);
    await sink.failNext(new Error('disk gone'));
    assert.ok(first.state === 'rejected' && first.error instanceof StoreUnavailableError);
    assert.ok(behind.every((r) => r.state === 'rejected' && r.error instanceof StoreUnavailableError), 'queued behind: failed untried');
    assert.equal(sink.batches.length, 1, 'nothing behind the failure reached the sink');
    const after = [writer.submit(5), writer.submit(6)].map(track);
    await settle();
    assert.equal(sink.batches.length, 1, 'new ops wait out the spacing since the failed batch left');
    clock.advance(10);
    await settle();
    assert.deepEqual(sink.batches[1], [5, 6], 'then go normally, in order');
    await sink.completeNext();
    assert.ok(after.every((r) => r.state === 'resolved'));
  });

  it('acks only after the sink resolved (durable), never before', async () => {
    const { clock, sink, writer } = setup({ adaptive: true, maxBatch: 10, maxDelayMs: 0 });
    const a = track(writer.submit(1));
    clock.advance(0);
    await settle();
    assert.equal(sink.batches.length, 1);
    assert.equal(a.state, 'pending');
    await sink.completeNext();
    assert.equal(a.state, 'resolved');
  });
});
