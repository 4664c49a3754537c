/**
 * The SDK's public data types: what it stores per device, what it shows the app, and
 * the events it emits. Plain data (numbers, not bigints), so it persists as JSON.
 */
import type { MediaRefInfo } from '../media_ref.js';

/** A message the device holds, with its server-assigned seq. */
export interface StoredMessage {
  conversation: string;
  seq: number;
  messageId: string;
  sender: string;
  senderDevice: string;
  clientMsgId: string;
  body: string;
  meta: Record<string, string>;
  serverTs: number;
  /** The attachment, when the message carries one (PROTOCOL.md §13): fetch it with mediaUrl(). */
  media?: MediaRef;
}

/** A message's attachment (PROTOCOL.md §13): the protocol's one shape (../media_ref.ts). */
export type MediaRef = MediaRefInfo;

/** A send the user made that has no send_ack yet (or failed for good). */
export interface OutboxEntry {
  conversation: string;
  /** Chosen once when the user hits send, kept across resends, reconnects and restarts. */
  clientMsgId: string;
  body: string;
  meta: Record<string, string>;
  /** An uploaded attachment this send carries (the bytes are on the server already). */
  media?: MediaRef;
  createdAt: number;
  /** Set when the server refused it with a terminal code; it is never resent. */
  failed?: { code: string; message: string };
}

/** ✓ states of a message of your own (PROTOCOL.md §6.3). */
export type Tick = 'pending' | 'failed' | 'sent' | 'delivered' | 'read';

export interface GroupCounts {
  delivered: number;
  read: number;
  members: number;
}

export interface ConversationInfo {
  id: string;
  kind: 'direct' | 'group' | '';
  members: string[];
  admins: string[];
  subject: string;
  /** Highest seq held contiguously (the sync cursor). */
  cursor: number;
  /** The server's last seq as last seen (list_conversations, sync). */
  lastSeq: number;
  firstSeq: number;
  /** Your own user's read watermark, from this device or another one. */
  myRead: number;
}

/** The state one device keeps on disk. */
export interface PersistedState {
  version: 1;
  conversations: Array<
    ConversationInfo & {
      messages: StoredMessage[];
      delivered: Record<string, number>;
      read: Record<string, number>;
      groupCounts: Record<string, GroupCounts>;
      acked: number;
    }
  >;
  outbox: OutboxEntry[];
}

export type ConnectionStatus =
  /** Opening the socket or waiting for its welcome. */
  | 'connecting'
  /** Welcome received, syncing (live pushes start after the last page). */
  | 'syncing'
  | 'online'
  /** Lost; a reconnect is scheduled (`retryInMs`). */
  | 'offline'
  /** Terminal close or close(): no more reconnects. */
  | 'stopped';

export interface PresenceState {
  user: string;
  online: boolean;
  lastSeenMs: number;
  lastSeenHidden: boolean;
}

export interface SdkEvents {
  status: { status: ConnectionStatus; reason?: string; retryInMs?: number; closeCode?: number };
  /** A message new to this device (push, sync page, history, or your own send acked). */
  message: StoredMessage;
  /** The outbox of a conversation changed (queued, acked, failed). */
  outbox: { conversation: string };
  /** Receipts of a conversation moved: recompute ticks. */
  receipts: { conversation: string };
  /** The conversation list or a conversation's members/subject changed. */
  conversations: Record<string, never>;
  /** `user` is typing until `untilMs` (local clock). */
  typing: { conversation: string; user: string; untilMs: number };
  presence: { users: PresenceState[] };
  /** The server trimmed history past our cursor: everything held for it was dropped. */
  resync: { conversation: string };
  /** An error the app should show (a send refused for good, a terminal close). */
  error: { code: string; message: string; conversation?: string; clientMsgId?: string };
}
