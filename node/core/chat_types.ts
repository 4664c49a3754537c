/**
 * The chat service's contract types: what it needs (Writer, Outbox, limits), what
 * callers pass (Caller, SendInput) and what it returns (acks, pages, group info), plus
 * the per-conversation state it caches. Plain data, shared by the service, the host
 * and the group rules.
 */
import type { Conversation, StoredMessage, WriteOp } from '../store/types.js';
import type { CursorBook } from './receipts.js';
import type { ConnRef } from './registry.js';
import type { Push } from './pushes.js';
import type { SeqState } from './sequencer.js';
import type { MemberReceipt } from './ops.js';

export interface Writer {
  /**
   * `epoch`: the ownership epoch (fencing token) of the conversation state the op was
   * made from (node/core/sequencer.ts). In a cell the write is refused unless that is
   * still the node's current epoch for the conversation's shard; absent: the current
   * one (ops that no cached state made: a new conversation, presence).
   */
  submit(op: WriteOp, epoch?: number): Promise<void>;
  /** Ops that must commit in one batch (a membership change and its system message). */
  submitMany(ops: readonly WriteOp[], epoch?: number): Promise<void>;
  /**
   * How many ops would be accepted now. The service checks it before it takes a seq,
   * so a full queue refuses the send without burning a seq (absent: unbounded).
   */
  room?(): number;
}

/** Where the service sends what it pushes; the host routes it to socket shards. */
export interface Outbox {
  /** t0: when the send arrived (ms since epoch), carried for send->deliver timing. */
  deliver(to: ConnRef[], message: StoredMessage, t0?: number): void;
  receipts(to: ConnRef[], receipts: MemberReceipt[]): void;
  /**
   * Any other push (group receipts, presence, typing), encoded once per call. Optional
   * only until the host's outbox implements it; without it those pushes are dropped.
   */
  push?(to: ConnRef[], push: Push): void;
}

export interface ServiceLimits {
  maxMessageBytes: number;
  defaultSyncPage: number;
  maxSyncPage: number;
  maxHistoryPage: number;
  maxConversationMembers: number;
  retentionMessages: number;
  /** Defaults as in node/config.ts when absent. */
  maxPresenceSubscriptions?: number;
  presenceOfflineDebounceMs?: number;
  presenceIntervalMs?: number;
  groupReceiptIntervalMs?: number;
  typingTtlMs?: number;
}




export interface Caller {
  user: string;
  device: string;
  /** The connection the request came on (excluded from its own pushes); null for HTTP and for callers on other nodes. */
  conn: ConnRef | null;
  /** When the request arrived (ms since epoch); 0 = unknown. */
  t0?: number;
  /** Set when the op was forwarded by another cluster node: the caller's socket there. */
  origin?: RemoteOrigin;
  /** An app backend over the HTTP API: may read any conversation's history. */
  backend?: boolean;
}

/** A connection on another cluster node. */
export interface RemoteOrigin {
  node: string;
  shard: number;
  conn: number;
}

export interface SendInput {
  conversation: string;
  clientMsgId: string;
  body: string;
  meta: Record<string, string>;
  /** An attachment: a completed upload of the sender (node/core/media_port.ts). */
  mediaId?: string;
}





export interface ConvState {
  /** Members as of the last committed message: who gets pushes. */
  conv: Conversation;
  /** Members as of the last assigned seq: who may send and read. */
  memberSet: Set<string>;
  /** Former members -> the last seq they may read (as of the last assigned seq). */
  former: Map<string, number>;
  /**
   * The sequencer (epoch, assigned, committed; sequencer.ts). A state read while the
   * conversation is owned elsewhere is retired from the start: it serves reads only.
   */
  seq: SeqState;
  firstSeq: number;
  cursors: CursorBook;
}

