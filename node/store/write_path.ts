/**
 * The write path as one object: the store, the batch writer in front of it, the
 * fence a cell puts on every write, and one failure event.
 *
 *   submit(op, epoch) -> fence.claimOf (refused at once if the epoch is not current)
 *     -> batch writer (FIFO, group commit) -> fence.commit(claims, store.commit)
 *     -> durable: the submit resolves; failed: `onFailure` listeners run first
 *        (synchronously, before any promise of the batch settles), then it rejects.
 *
 * The core sees it as its Writer (node/core/chat_types.ts). On one node there is no
 * fence and every write commits as it comes.
 */
import { BatchWriter, type BatchWriterOptions } from './batch_writer.js';
import type { MessageStore } from './store.js';
import type { WriteOp } from './types.js';

/**
 * What a cell checks around each write (node/cluster/cluster_node.ts): the claim an op
 * is accepted under (the shard's epoch it was sequenced under), and the commit run
 * only while every claim of the batch still holds.
 */
export interface WriteFence<Claim> {
  /** The claim for an op (null: not conversation-scoped); throws a retryable error if refused. */
  claimOf(op: WriteOp, epoch?: number): Claim | null;
  commit(claims: Claim[], fn: () => Promise<void>): Promise<void>;
  /** Identity of a claim (batches commit under their distinct claims). */
  claimKey(claim: Claim): string;
}

interface Fenced<Claim> {
  op: WriteOp;
  claim: Claim | null;
}

export interface WritePathOptions<Claim> {
  batch: BatchWriterOptions;
  fence: WriteFence<Claim> | null;
  /** Runs after each durable commit (test faults: node/host/faults.ts). */
  afterCommit?: ((ops: WriteOp[]) => void) | null;
}

export class WritePath<Claim = unknown> {
  private readonly writer: BatchWriter<Fenced<Claim>>;
  private readonly failureListeners = new Set<(e: unknown) => void>();

  constructor(
    readonly store: MessageStore,
    private readonly o: WritePathOptions<Claim>,
  ) {
    const fence = o.fence;
    this.writer = new BatchWriter<Fenced<Claim>>(async (items) => {
      const ops = items.map((i) => i.op);
      try {
        if (fence) await fence.commit(distinctClaims(items, fence), () => store.commit(ops));
        else await store.commit(ops);
      } catch (e) {
        for (const l of this.failureListeners) l(e);
        throw e;
      }
      o.afterCommit?.(ops);
    }, o.batch);
  }

  /** Listen for failed batches (called before the batch's promises settle). Returns the unsubscribe. */
  onFailure(fn: (e: unknown) => void): () => void {
    this.failureListeners.add(fn);
    return () => this.failureListeners.delete(fn);
  }

  /**
   * `epoch`: the ownership epoch of the state the op was made from (node/core/sequencer.ts);
   * absent: the current one (ops no cached state made).
   */
  submit(op: WriteOp, epoch?: number): Promise<void> {
    try {
      return this.writer.submit(this.fenced(op, epoch));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** Ops that must commit in one batch (a membership change and its system message). */
  submitMany(ops: readonly WriteOp[], epoch?: number): Promise<void> {
    try {
      return this.writer.submitMany(ops.map((op) => this.fenced(op, epoch)));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  room(): number {
    return this.writer.room();
  }

  /** Resolves when every write accepted so far has committed (or failed). */
  flush(): Promise<void> {
    return this.writer.flush().catch(() => undefined);
  }

  stats(): ReturnType<BatchWriter<unknown>['stats']> {
    return this.writer.stats();
  }

  /** Commit what was accepted, then close the store. */
  async close(): Promise<void> {
    await this.writer.close();
    await this.store.close();
  }

  private fenced(op: WriteOp, epoch?: number): Fenced<Claim> {
    return { op, claim: this.o.fence ? this.o.fence.claimOf(op, epoch) : null };
  }
}

/** The distinct claims of a batch (one per shard and token). */
function distinctClaims<Claim>(items: Fenced<Claim>[], fence: WriteFence<Claim>): Claim[] {
  const seen = new Map<string, Claim>();
  for (const i of items) if (i.claim !== null) seen.set(fence.claimKey(i.claim), i.claim);
  return [...seen.values()];
}
