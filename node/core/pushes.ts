/**
 * Pushes other than messages, as plain data. The core decides who
 * gets what; the host's outbox encodes each push once (shards/frames.ts pushFrame)
 * and batches it per socket shard, as it does for messages. Part of the core's
 * contract with ops.ts (shards/ may import it: docs/ARCHITECTURE.md).
 */
import type { MemberReceipt, PresenceView } from './ops.js';

export interface ReceiptCounts {
  seq: number;
  delivered: number;
  read: number;
}

export type Push =
  /** Aggregated receipts of a sender's recent group messages. */
  | { k: 'group_receipts'; conversation: string; members: number; counts: ReceiptCounts[] }
  /** Coalesced presence changes for one subscriber. */
  | { k: 'presence'; users: PresenceView[] }
  | { k: 'typing'; conversation: string; user: string; untilMs: number }
  /** One moved delivered/read watermark of a 1:1 conversation. */
  | { k: 'receipt'; receipt: MemberReceipt };
