/**
 * BatchWriter: group commit in front of a store.
 *
 * Ops queue up and go to the sink in batches: a batch leaves when `maxBatch` ops are
 * waiting, or `maxDelayMs` after the oldest waiting op was queued, whichever comes
 * first. While a batch is in flight the next one fills, so under load the batch size
 * grows by itself and the cost of a durable write (one fsync, one round trip) is
 * shared by many messages.
 *
 * Backpressure is explicit: at most `maxQueue` ops wait. Past that, `submit` rejects
 * at once with OverloadedError and the client is told to retry; nothing accepted is
 * ever dropped unheard: every accepted op settles, durable or rejected. A failed batch
 * rejects every op in it with StoreUnavailableError, and by default (see
 * `onBatchFailure`) so is every op queued behind it at that moment. The writer does
 * not retry: every op is idempotent, so the caller (ultimately the client, resending
 * with the same client_msg_id) decides.
 *
 * Adaptive window (`adaptive`, on in the node: config store.batch.adaptive): the clock
 * runs from the last commit's start, not from the oldest op's arrival. A batch leaves
 * as soon as a commit slot is free and `maxDelayMs` has passed since the previous
 * batch left, taking everything queued (up to `maxBatch`). So commits are spaced at
 * least `maxDelayMs` apart and ops per commit follow the rate: about
 * rate x max(maxDelayMs, commit time). An idle writer commits a lone op at once, and a
 * busy one never makes an op wait more than `maxDelayMs` beyond the commit ahead of it.
 *
 * Order: batches leave in FIFO order and ops keep their order inside a batch. With
 * `concurrency` 1 (the default) batch n+1 starts only after batch n settled, so the
 * store sees ops exactly in submission order. With more, batches may land out of order.
 */
import { systemClock, type Clock } from '../../supervisor/clock.js';
import { OverloadedError, StoreUnavailableError } from './errors.js';

export type BatchSink<Op> = (ops: Op[]) => Promise<void>;

export interface BatchWriterOptions {
  /**
   * Ops per batch. 256: a SQLite transaction of 256 small inserts costs far less than
   * its fsync, and a Cassandra batch stays well under the default
   * batch_size_fail_threshold (50 KB) for typical chat messages; beyond a few hundred,
   * the latency of the unlucky first op in the batch grows with no throughput gain.
   */
  maxBatch?: number;
  /**
   * How long the oldest op may wait for company. 2 ms: small next to a send's
   * end-to-end budget and next to one fsync (~1-10 ms), so an idle node adds little
   * latency, while a busy one fills batches anyway and rarely waits the full delay.
   */
  maxDelayMs?: number;
  /**
   * Ops allowed to wait. 10 000: about 40 full batches, i.e. a few hundred ms of
   * backlog at normal fsync speed. Deeper queues only turn a slow disk into client
   * timeouts instead of a fast, retryable `overloaded`.
   */
  maxQueue?: number;
  /**
   * Batches in flight. 1: SQLite has a single writer anyway, and one at a time keeps
   * the store's view in submission order (a conversation's seq n is stored no later
   * than seq n+1). Raise it only for a store that takes parallel writes and callers
   * that do not need cross-batch order.
   */
  concurrency?: number;
  /**
   * What a failed batch does to the ops queued behind it. 'fail-queued' (default):
   * they are rejected too, without being tried. A failed batch leaves a hole in some
   * conversation's seqs; committing the later seqs over it would make the hole
   * permanent, while failing them lets the sequencer reload its counter from the store
   * and reassign. Ops submitted after the failure are tried normally. 'continue': later
   * batches go on regardless, for sinks whose ops carry no order (e.g. cursors only).
   */
  onBatchFailure?: 'fail-queued' | 'continue';
  /**
   * Size batches by the load (see the module doc): `maxDelayMs` spaces commit starts
   * instead of delaying each op. Off by default here so the plain writer keeps the fixed
   * window; the node turns it on (store.batch.adaptive, default true): an idle node
   * commits a lone send at once instead of after 2 ms, and a busy one still pays at most
   * one commit per maxDelayMs (on this box ~0.4 ms of CPU each, so their count, not
   * their size, is what a commit costs).
   */
  adaptive?: boolean;
  /** The clock and timers the writer uses; injected so tests control time (ManualClock). */
  clock?: Clock;
}

export interface BatchWriterStats {
  /** Ops waiting for a batch (not yet given to the sink). */
  queueDepth: number;
  /** Ops in batches the sink is working on. */
  inFlightOps: number;
  batchesCommitted: number;
  opsCommitted: number;
  batchesFailed: number;
  /** Ops rejected by failed batches, including those failed untried behind one. */
  opsFailed: number;
  /** Submissions refused because the queue was full. */
  opsRejected: number;
  /** Size of the last batch handed to the sink; 0 before the first. */
  lastBatchSize: number;
}

const DEFAULTS = { maxBatch: 256, maxDelayMs: 2, maxQueue: 10_000, concurrency: 1 } as const;

/** One submission: a single op, or a group that must share a batch. */
interface Entry<Op> {
  ops: Op[];
  queuedAt: number;
  /** Position in submission order; `flush()` drains up to a position. */
  id: number;
  resolve(): void;
  reject(err: Error): void;
  settled: Promise<void>;
}

export class BatchWriter<Op> {
  private readonly sink: BatchSink<Op>;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly maxQueue: number;
  private readonly concurrency: number;
  private readonly onBatchFailure: 'fail-queued' | 'continue';
  private readonly adaptive: boolean;
  private readonly clock: Clock;
  /** When the last batch went to the sink (adaptive: the next may leave maxDelayMs later). */
  private lastDispatchAt = Number.NEGATIVE_INFINITY;

  private readonly queue: Entry<Op>[] = [];
  private queuedOps = 0;
  private nextId = 1;
  /** Entries with id <= this leave without waiting for size or time (set by flush). */
  private urgentThrough = 0;
  private inFlight = new Set<Promise<void>>();
  private timer: { handle: unknown; at: number } | null = null;
  private closed = false;

  private readonly counters: Omit<BatchWriterStats, 'queueDepth' | 'inFlightOps'> = {
    batchesCommitted: 0,
    opsCommitted: 0,
    batchesFailed: 0,
    opsFailed: 0,
    opsRejected: 0,
    lastBatchSize: 0,
  };
  private inFlightOps = 0;

  constructor(sink: BatchSink<Op>, options: BatchWriterOptions = {}) {
    this.sink = sink;
    this.maxBatch = positiveInt('maxBatch', options.maxBatch ?? DEFAULTS.maxBatch);
    this.maxDelayMs = nonNegative('maxDelayMs', options.maxDelayMs ?? DEFAULTS.maxDelayMs);
    this.maxQueue = positiveInt('maxQueue', options.maxQueue ?? DEFAULTS.maxQueue);
    this.concurrency = positiveInt('concurrency', options.concurrency ?? DEFAULTS.concurrency);
    this.onBatchFailure = options.onBatchFailure ?? 'fail-queued';
    this.adaptive = options.adaptive ?? false;
    this.clock = options.clock ?? systemClock;
  }

  /** How many ops `submit` / `submitMany` would accept right now. */
  room(): number {
    return this.closed ? 0 : Math.max(0, this.maxQueue - this.queuedOps);
  }

  /** Resolves once the batch holding `op` is durable; rejects if it failed or was refused. */
  submit(op: Op): Promise<void> {
    return this.enqueue([op]);
  }

  /**
   * Submit ops that must land in the same batch (and so the same transaction), e.g. a
   * conversation and its first message. A group larger than `maxBatch` goes alone in
   * an oversized batch; one larger than `maxQueue` can never be accepted and is
   * refused with a RangeError.
   */
  submitMany(ops: readonly Op[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    if (ops.length > this.maxQueue) {
      return Promise.reject(
        new RangeError(`submitMany: group of ${ops.length} ops is larger than maxQueue ${this.maxQueue}`),
      );
    }
    return this.enqueue([...ops]);
  }

  /**
   * Send everything queued now without waiting for size or time, and resolve when all
   * of it (and whatever is in flight) has settled. Never rejects: failures reach the
   * submitters' own promises.
   */
  async flush(): Promise<void> {
    const pending = [...this.queue.map((e) => e.settled), ...this.inFlight];
    this.urgentThrough = this.nextId - 1;
    this.pump();
    await Promise.allSettled(pending);
  }

  /** Refuse new ops, then drain what was accepted. Does not close the sink's store. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.cancelTimer();
  }

  stats(): BatchWriterStats {
    return { queueDepth: this.queuedOps, inFlightOps: this.inFlightOps, ...this.counters };
  }

  private enqueue(ops: Op[]): Promise<void> {
    if (this.closed) {
      return Promise.reject(new StoreUnavailableError('batch writer is closed; the node is shutting down'));
    }
    if (this.queuedOps + ops.length > this.maxQueue) {
      this.counters.opsRejected += ops.length;
      return Promise.reject(
        new OverloadedError(
          `store write queue is full (${this.queuedOps} of ${this.maxQueue} ops waiting)`,
          this.queuedOps,
          this.maxQueue,
        ),
      );
    }
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Observed here so a flush() waiting on it never trips an unhandled rejection;
    // the submitter still gets the rejection through `promise`.
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.queue.push({ ops, queuedAt: this.clock.now(), id: this.nextId++, resolve, reject, settled });
    this.queuedOps += ops.length;
    this.pump();
    return promise;
  }

  /** Start every batch that is due and allowed; then arm the timer for the next one. */
  private pump(): void {
    while (this.inFlight.size < this.concurrency && this.queue.length > 0 && this.headIsDue()) {
      this.dispatch(this.takeBatch());
    }
    this.armTimer();
  }

  private headIsDue(): boolean {
    const head = this.queue[0];
    return (
      this.queuedOps >= this.maxBatch ||
      head.id <= this.urgentThrough ||
      this.clock.now() - (this.adaptive ? this.lastDispatchAt : head.queuedAt) >= this.maxDelayMs
    );
  }

  private takeBatch(): Entry<Op>[] {
    const batch: Entry<Op>[] = [];
    let size = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (batch.length > 0 && size + next.ops.length > this.maxBatch) break;
      this.queue.shift();
      batch.push(next);
      size += next.ops.length;
    }
    this.queuedOps -= size;
    return batch;
  }

  private dispatch(entries: Entry<Op>[]): void {
    const ops = entries.flatMap((e) => e.ops);
    this.counters.lastBatchSize = ops.length;
    this.lastDispatchAt = this.clock.now();
    this.inFlightOps += ops.length;
    const run = (async () => {
      try {
        await this.sink(ops);
        this.counters.batchesCommitted += 1;
        this.counters.opsCommitted += ops.length;
        for (const e of entries) e.resolve();
      } catch (cause) {
        this.counters.batchesFailed += 1;
        this.counters.opsFailed += ops.length;
        const reason = cause instanceof Error ? cause.message : String(cause);
        const err = new StoreUnavailableError(`store batch of ${ops.length} ops failed: ${reason}`, { cause });
        for (const e of entries) e.reject(err);
        if (this.onBatchFailure === 'fail-queued') this.failQueued(ops.length, reason, cause);
      } finally {
        this.inFlightOps -= ops.length;
      }
    })();
    this.inFlight.add(run);
    void run.then(() => {
      this.inFlight.delete(run);
      this.pump();
    });
  }

  private failQueued(failedBatchSize: number, reason: string, cause: unknown): void {
    if (this.queue.length === 0) return;
    const behind = this.queue.splice(0);
    const count = this.queuedOps;
    this.queuedOps = 0;
    this.counters.opsFailed += count;
    const err = new StoreUnavailableError(
      `not attempted: an earlier store batch of ${failedBatchSize} ops failed (${reason})`,
      { cause },
    );
    for (const e of behind) e.reject(err);
  }

  /** Keep one timer, set for when the oldest waiting op becomes due. */
  private armTimer(): void {
    if (this.queue.length === 0 || this.inFlight.size >= this.concurrency) {
      // Nothing to wait for, or a batch completion will call pump() anyway.
      this.cancelTimer();
      return;
    }
    const at = (this.adaptive ? this.lastDispatchAt : this.queue[0].queuedAt) + this.maxDelayMs;
    if (this.timer && this.timer.at === at) return;
    this.cancelTimer();
    const handle = this.clock.setTimeout(
      () => {
        this.timer = null;
        this.pump();
      },
      Math.max(0, at - this.clock.now()),
    );
    this.timer = { handle, at };
  }

  private cancelTimer(): void {
    if (this.timer) {
      this.clock.clearTimeout(this.timer.handle);
      this.timer = null;
    }
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`BatchWriter option ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`BatchWriter option ${name} must be a finite number >= 0, got ${value}`);
  }
  return value;
}
