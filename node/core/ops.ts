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
  /** mediaId: an attachment (a completed upload of the sender; node/core/media_port.ts). */
  | { op: 'send'; conversation: string; clientMsgId: string; body: string; meta: Record<string, string>; mediaId?: string }
  | { op: 'ack'; conversation: string; seq: number }
  | { op: 'read'; conversation: string; seq: number }
  | { op: 'sync'; cursors: Array<{ conversation: string; seq: number }>; limit: number }
  | { op: 'history'; conversation: string; beforeSeq: number; limit: number }
  | { op: 'open_direct'; peer: string }
  | { op: 'list' }
  | GroupOp
  | MediaOp
  | PushOp;

/**
 * Push registration (PROTOCOL.md §14; node/push/): for the caller's own device, run
 * where the socket is against the shared push store, never forwarded to an owner.
 */
export type PushOp =
  | { op: 'push_register'; platform: string; token: string; subscription: { endpoint: string; p256dh: string; auth: string } | null; appId: string; mode: string }
  | { op: 'push_unregister' }
  | { op: 'push_mute'; conversation: string; durationSec: number; forever: boolean };

/** The reply to every PushOp: the device's registration (token redacted) and, for push_mute, the mute. */
export interface PushStateView {
  registered: boolean;
  platform: string;
  appId: string;
  mode: string;
  tokenHint: string;
  conversation: string;
  mutedUntilMs: number;
}

/** Media attachments (PROTOCOL.md §13; node/media/). */
export type MediaOp =
  | { op: 'media_slot'; conversation: string; size: number; mime: string; sha256: string }
  | { op: 'media_url'; conversation: string; mediaId: string };

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
  | { r: 'media_slot'; slot: MediaSlotInfo }
  | { r: 'media_url'; url: MediaUrlInfo }
  | { r: 'push_state'; state: PushStateView }
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

// ---------------------------------------------------------------- media (PROTOCOL.md §13)

/** A media reference as a message carries it (PROTOCOL.md §13, MediaRef): protocol/media_ref.ts. */
import type { MediaRefInfo } from '../../protocol/media_ref.js';
export type { MediaRefInfo };

export interface MediaSlotInfo {
  mediaId: string;
  uploadUrl: string;
  expiresAt: number;
}

export interface MediaUrlInfo {
  mediaId: string;
  url: string;
  expiresAt: number;
  mime: string;
  size: number;
  sha256: string;
}

/** Where a stored message keeps its media reference (a reserved meta key; clients may not set it). */
export const MEDIA_META_KEY = '$media';

/** The reference a stored message's meta carries, or null. */
export function mediaOfMeta(meta: Record<string, string>): MediaRefInfo | null {
  const raw = meta[MEDIA_META_KEY];
  if (raw === undefined) return null;
  try {
    const v = JSON.parse(raw) as MediaRefInfo;
    return typeof v.mediaId === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Meta as a client sees it: without the reserved media key. */
export function clientMeta(meta: Record<string, string>): Record<string, string> {
  if (!(MEDIA_META_KEY in meta)) return meta;
  const { [MEDIA_META_KEY]: _drop, ...rest } = meta;
  return rest;
}
