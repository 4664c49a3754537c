/**
 * The data model every message store keeps, laid out like the wide-column model:
 * messages keyed by (conversation, seq); members per conversation; conversations per
 * user; per-device cursors; dedup keys (conversation, sender, client_msg_id) -> seq.
 *
 * A 1:1 chat is a conversation of kind 'direct' with two members, so groups need no
 * migration. All values are plain data (structured-cloneable across threads).
 */

export type ConversationKind = 'direct' | 'group';
export type Role = 'member' | 'admin';

export interface Member {
  user: string;
  role: Role;
}

export interface Conversation {
  id: string;
  kind: ConversationKind;
  members: Member[];
  /** ms since epoch */
  createdAt: number;
  subject: string;
}

export interface StoredMessage {
  conversation: string;
  /** Per-conversation, gapless, strictly increasing from 1. */
  seq: number;
  /** Globally unique, time-ordered id. */
  messageId: string;
  sender: string;
  senderDevice: string;
  clientMsgId: string;
  body: string;
  meta: Record<string, string>;
  /** ms since epoch, assigned by the server */
  serverTs: number;
}

/** Watermarks of one device in one conversation. Both only ever move forward. */
export interface DeviceCursor {
  conversation: string;
  user: string;
  device: string;
  delivered: number;
  read: number;
}

/**
 * One change. Stores apply a batch of these; when `commit` resolves, every op in
 * the batch is durable (SQLite: one fsynced transaction; Cassandra: every
 * statement acknowledged at the configured consistency).
 */
export type WriteOp =
  /** Insert a message and its dedup key. Idempotent: rewriting the same (conversation, seq) is a no-op. */
  | { kind: 'message'; message: StoredMessage }
  /** Max-merge a device cursor: each watermark becomes max(stored, given). */
  | { kind: 'cursor'; cursor: DeviceCursor }
  /** Create a conversation with its members if it does not exist yet (idempotent). */
  | { kind: 'conversation'; conversation: Conversation }
  /** Drop messages with seq < firstSeq (retention). Also raises the conversation's firstSeq. */
  | { kind: 'trim'; conversation: string; firstSeq: number };
