/**
 * The core's contract: the op vocabulary every caller speaks (a shard's socket frames,
 * the HTTP API, a peer node forwarding an op) and the results the core answers with.
 * Plain data only (structured clone between threads, JSON between nodes): this file,
 * pushes.ts, node/store/types.ts (the records) and node/auth/ are the contract, the part
 * of node/ that shards/ may import (layers: docs/ARCHITECTURE.md).
 */
import type { ErrorCode } from '../../protocol/codes.js';
import type { Conversation, Member, StoredMessage } from '../store/types.js';

export type CoreOp =
  | { op: 'send'; conversation: string; clientMsgId: string; body: string; meta: Record<string, string> }
  | { op: 'ack'; conversation: string; seq: number }
  | { op: 'read'; conversation: string; seq: number }
  | { op: 'sync'; cursors: Array<{ conversation: string; seq: number }>; limit: number }
  | { op: 'history'; conversation: string; beforeSeq: number; limit: number }
  | { op: 'open_direct'; peer: string }
  | { op: 'list' }
  | GroupOp;

/** Ops added for groups, presence and typing (node/core/group_ops.ts runs them). */
export type GroupOp =
  /** `id` is set by the host (a cluster routes the op to the owner of the new id); shards leave it out. */
  | { op: 'create_group'; subject: string; members: string[]; id?: string }
  | { op: 'add_members'; conversation: string; users: string[] }
  | { op: 'remove_members'; conversation: string; users: string[] }
  | { op: 'leave_group'; conversation: string }
  | { op: 'set_subject'; conversation: string; subject: string }
  | { op: 'member_receipts'; conversation: string; seq: number }
  | { op: 'presence_subscribe'; users: string[] }
  | { op: 'presence_settings'; hideLastSeen: boolean }
  | { op: 'typing'; conversation: string };

export type CoreResult =
  | { r: 'send_ack'; ack: SendAck }
  | { r: 'sync_page'; page: SyncPage }
  | { r: 'history_page'; page: HistoryPage }
  | { r: 'direct_opened'; conversation: Conversation }
  | { r: 'conversations'; list: Array<{ conv: Conversation; lastSeq: number }> }
  | { r: 'group_info'; info: GroupInfo }
  | { r: 'member_receipts'; detail: MemberReceiptsDetail }
  | { r: 'presence'; users: PresenceView[] }
  | { r: 'ok' }
  | { r: 'error'; code: ErrorCode; message: string; retryAfterMs: number };

/** The group after a change, and the seq of the system message that recorded it. */
export interface GroupInfo {
  conversation: string;
  subject: string;
  members: Member[];
  seq: number;
}

export interface MemberReceiptsDetail {
  conversation: string;
  seq: number;
  delivered: string[];
  read: string[];
  members: number;
}

export interface SendAck {
  conversation: string;
  clientMsgId: string;
  messageId: string;
  seq: number;
  serverTs: number;
  duplicate: boolean;
}

export interface ConversationSyncInfo {
  conversation: string;
  lastSeq: number;
  firstSeq: number;
  resyncRequired: boolean;
  nextCursor: number;
}

export interface SyncPage {
  messages: StoredMessage[];
  conversations: ConversationSyncInfo[];
  hasMore: boolean;
  receipts: MemberReceipt[];
}

export interface HistoryPage {
  conversation: string;
  messages: StoredMessage[];
  hasMore: boolean;
  firstSeq: number;
}

export type ReceiptKind = 'delivered' | 'read';

export interface MemberReceipt {
  conversation: string;
  user: string;
  kind: ReceiptKind;
  seq: number;
}

/** What a subscriber may see of a user. */
export interface PresenceView {
  user: string;
  online: boolean;
  /** 0 when online, unknown or hidden. */
  lastSeenMs: number;
  lastSeenHidden: boolean;
}
