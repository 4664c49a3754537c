/**
 * The write fence of a node in a cell (the WriteFence of node/store/write_path.ts): a
 * write for a conversation carries the token (epoch) of its shard under which its seq
 * was assigned, is refused at submit unless that is the node's current token, and
 * commits only while every claim of its batch still holds (ownership.ts fencedCommit,
 * then a check after the write: a node frozen past its lease must not ack).
 */
import { CatalogError } from '../../protocol/errors.js';
import type { WriteOp } from '../store/types.js';
import type { WriteFence } from '../store/write_path.js';
import { CommitOrder } from './commit_order.js';
import { FencedError, type FenceClaim } from './fence.js';
import type { ShardOwnership } from './ownership.js';

type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export interface ClusterFenceDeps {
  shardOf(conversation: string): number;
  /** Our token for a shard if we own it and take writes for it (null: not ours, or releasing). */
  heldToken(shard: number): number | null;
  /** The running ownership service (null: restarting). */
  ownership(): ShardOwnership | null;
  leaseValid(): boolean;
  log: Log;
}

/** The conversation a write belongs to (null: not conversation-scoped, e.g. presence). */
export function conversationOfWrite(op: WriteOp): string | null {
  switch (op.kind) {
    case 'message':
      return op.message.conversation;
    case 'cursor':
      return op.cursor.conversation;
    case 'conversation':
      return op.conversation.id;
    case 'trim':
    case 'members':
    case 'subject':
      return op.conversation;
    case 'presence':
      return null;
  }
}

export class ClusterFence implements WriteFence<FenceClaim> {
  private readonly commitOrder = new CommitOrder();

  constructor(private readonly d: ClusterFenceDeps) {}

  /**
   * The fence a write must pass: the epoch of the state that made it (its seq was
   * assigned under that epoch; node/core/sequencer.ts), or the current one for ops no
   * cached state made. Refused at once unless it is the node's current epoch for the
   * shard: a node that lost the shard and took it back under a newer epoch must not
   * write what it sequenced under the old one (another owner may have written between).
   */
  claimOf(op: WriteOp, epoch?: number): FenceClaim | null {
    const conv = conversationOfWrite(op);
    if (conv === null) return null;
    const shard = this.d.shardOf(conv);
    const token = this.d.heldToken(shard);
    if (token === null) throw new CatalogError('unavailable', `conversation ${conv} is moving to another node; retry`, 250);
    if (epoch !== undefined && epoch !== token) {
      throw new CatalogError('unavailable', `conversation ${conv} was sequenced under epoch ${epoch}, the shard's is ${token} now; retry`, 250);
    }
    return { shard, token };
  }

  /**
   * Run a store commit under the claims of its ops, in call order with any other
   * commit in flight (a pipelined writer; see commit_order.ts).
   */
  commit(claims: FenceClaim[], fn: () => Promise<void>): Promise<void> {
    return this.commitOrder.run((write) => this.fencedRun(claims, write), fn);
  }

  claimKey(c: FenceClaim): string {
    return `${c.shard}:${c.token}`;
  }

  private async fencedRun(claims: FenceClaim[], fn: () => Promise<void>): Promise<void> {
    if (claims.length === 0) return fn();
    const o = this.d.ownership();
    if (!o) throw new CatalogError('unavailable', 'shard ownership is restarting; retry', 250);
    try {
      await o.fencedCommit(claims, fn);
      // The process may have been frozen (SIGSTOP, a long GC) between the fence check
      // and the end of the write, long enough for another node to take the shard. Such
      // a write still loses to the new owner's (every statement of a commit carries the
      // write timestamp taken when it started, before the takeover), but it must not be
      // acked: the sender retries and the dedup check (which verifies the message at the
      // key's seq) gives it a fresh seq from the new owner.
      if (!this.d.leaseValid()) throw new FencedError('lease_expiring', claims[0].shard);
      const lost = claims.find((c) => o.tokenOf(c.shard) !== c.token);
      if (lost) throw new FencedError('not_owner', lost.shard);
    } catch (e) {
      if (e instanceof FencedError) {
        this.d.log('warn', 'write fenced', { reason: e.reason, shard: e.shard });
        throw new CatalogError('unavailable', `write refused: ${e.message}; retry`, 250);
      }
      throw e;
    }
  }
}
