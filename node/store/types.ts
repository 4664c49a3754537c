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
  /**
   * Users who left or were removed, each readable up to the seq of the system message
   * that recorded it. Absent when there are none (and from stores that predate groups).
   */
  former?: FormerMember[];
}

/** A former member: may still sync and page history up to and including untilSeq. */
export interface FormerMember {
  user: string;
  untilSeq: number;
}

/** What a store keeps of a user's presence: the last time they went offline, and the setting. */
export interface LastSeen {
  user: string;
  /** ms since epoch; 0 = never recorded. */
  at: number;
  hidden: boolean;
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
  /**
   * Insert a message and its dedup key. A seq never changes content: writing the same
   * message (same message_id) at its seq again is a no-op (a retry); a different message
   * at a stored seq fails the commit with SeqTakenError (errors.ts).
   */
  | { kind: 'message'; message: StoredMessage }
  /** Max-merge a device cursor: each watermark becomes max(stored, given). */
  | { kind: 'cursor'; cursor: DeviceCursor }
  /** Create a conversation with its members if it does not exist yet (idempotent). */
  | { kind: 'conversation'; conversation: Conversation }
  /** Drop messages with seq < firstSeq (retention). Also raises the conversation's firstSeq. */
  | { kind: 'trim'; conversation: string; firstSeq: number }
  /**
   * Change a group's members. `add` upserts (a re-added or promoted user gets the given
   * role, and stops being a former member); `remove` drops the membership and records
   * the user as former up to untilSeq (max-merged). The user index keeps removed users,
   * so they can still sync what they may read. A user in both lists is an invalid op.
   * Idempotent.
   */
  | { kind: 'members'; conversation: string; add: Member[]; remove: FormerMember[] }
  /** Set a conversation's subject (last write wins; the service orders them by seq). */
  | { kind: 'subject'; conversation: string; subject: string }
  /**
   * Presence kept across restarts: `lastSeenAt` max-merged when not null; `hidden` set
   * when not null. Written lazily (after the offline debounce), never per heartbeat.
   */
  | { kind: 'presence'; user: string; lastSeenAt: number | null; hidden: boolean | null };
