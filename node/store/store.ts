/**
 * MessageStore: the durable state of conversations. Two implementations pass one
 * conformance suite (./conformance.ts): SQLite (embedded default, ./sqlite_store.ts)
 * and Cassandra (./cassandra_store.ts).
 *
 * Writes arrive already grouped by a BatchWriter (./batch_writer.ts): a store only
 * has to make one batch durable. Reads are point and range reads that the core
 * uses on the send path (dedup, last seq) and for sync / history pages.
 */
import type { Conversation, DeviceCursor, LastSeen, StoredMessage, WriteOp } from './types.js';

export interface MessageStore {
  /** 'sqlite' | 'cassandra' — for logs and metrics. */
  readonly kind: string;

  /**
   * Make every op durable. Resolves only when all are durable; rejects if any may
   * not be (the caller then treats the whole batch as failed and may retry it: every
   * op is idempotent). A message op at a seq that holds a different message rejects
   * with SeqTakenError and the stored message stays. SQLite then keeps nothing of the
   * commit; Cassandra (no transaction across partitions) keeps none of that
   * conversation's messages and metadata of the commit when they fit one partition
   * piece (up to 100 messages of one bucket; cassandra_plan.ts, cassandra_packing.ts).
   */
  commit(ops: WriteOp[]): Promise<void>;

  getConversation(id: string): Promise<Conversation | null>;

  /** Ids of the conversations `user` is a member of. */
  listUserConversations(user: string): Promise<string[]>;

  /** Highest stored seq of the conversation; 0 when it has no message. */
  lastSeq(conversation: string): Promise<number>;

  /** Lowest seq still kept (1 until retention trims). */
  firstSeq(conversation: string): Promise<number>;

  /**
   * The message stored under this dedup key, if any: only a message that has this
   * sender and client_msg_id (a key whose seq holds another message finds nothing).
   */
  findByClientMsgId(conversation: string, sender: string, clientMsgId: string): Promise<StoredMessage | null>;

  /** Messages with seq > afterSeq, ascending, at most `limit`. */
  readAfter(conversation: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;

  /** Messages with seq < beforeSeq, descending (newest first), at most `limit`. */
  readBefore(conversation: string, beforeSeq: number, limit: number): Promise<StoredMessage[]>;

  /** Every device cursor of the conversation. */
  getCursors(conversation: string): Promise<DeviceCursor[]>;

  /** Stored presence of those of `users` that have any (order unspecified). */
  getPresence(users: string[]): Promise<LastSeen[]>;

  close(): Promise<void>;
}
