/**
 * Internal values -> protocol frames (protocol/gen types). The one place where seq
 * numbers become the wire's uint64 (bigint).
 */
import { create } from '@bufbuild/protobuf';
import {
  MediaRefSchema,
  MemberRole,
  MessageSchema,
  ReceiptKind,
  ReceiptSchema,
  ServerFrameSchema,
  type MediaRef,
  type Message,
  type Receipt,
  type ServerFrame,
} from '../protocol/gen/client_pb.js';
import { ERROR_CODES, type ErrorCode } from '../protocol/codes.js';
import type { StoredMessage } from '../node/store/types.js';
import type { Push } from '../node/core/pushes.js';
import { clientMeta, mediaOfMeta, type CoreResult, type GroupInfo, type MemberReceipt, type PresenceView } from '../node/core/ops.js';

function presenceUsers(users: PresenceView[]) {
  return users.map((u) => ({ user: u.user, online: u.online, lastSeenMs: BigInt(u.lastSeenMs), lastSeenHidden: u.lastSeenHidden }));
}

function groupInfo(i: GroupInfo) {
  return {
    conversation: i.conversation,
    subject: i.subject,
    members: i.members.map((m) => ({ user: m.user, role: m.role === 'admin' ? MemberRole.ADMIN : MemberRole.MEMBER })),
    seq: BigInt(i.seq),
  };
}

/** The ServerFrame of a push (node/core/pushes.ts); the host encodes it once. */
export function pushFrame(p: Push): ServerFrame {
  switch (p.k) {
    case 'group_receipts':
      return create(ServerFrameSchema, {
        kind: {
          case: 'groupReceipts',
          value: { conversation: p.conversation, members: p.members, counts: p.counts.map((c) => ({ seq: BigInt(c.seq), delivered: c.delivered, read: c.read })) },
        },
      });
    case 'presence':
      return create(ServerFrameSchema, { kind: { case: 'presence', value: { users: presenceUsers(p.users) } } });
    case 'typing':
      return create(ServerFrameSchema, { kind: { case: 'typing', value: { conversation: p.conversation, user: p.user, untilMs: BigInt(p.untilMs) } } });
    case 'receipt':
      return create(ServerFrameSchema, { kind: { case: 'receipt', value: receiptFrame(p.receipt) } });
  }
}

export function messageFrame(m: StoredMessage): Message {
  return create(MessageSchema, {
    conversation: m.conversation,
    seq: BigInt(m.seq),
    messageId: m.messageId,
    sender: m.sender,
    senderDevice: m.senderDevice,
    clientMsgId: m.clientMsgId,
    body: m.body,
    // The media reference rides in a reserved meta key of the stored message; clients get it as `media`.
    meta: clientMeta(m.meta),
    serverTs: BigInt(m.serverTs),
    media: mediaRef(m.meta),
  });
}

function mediaRef(meta: Record<string, string>): MediaRef | undefined {
  const r = mediaOfMeta(meta);
  return r ? create(MediaRefSchema, { mediaId: r.mediaId, mime: r.mime, size: BigInt(r.size), sha256: r.sha256, width: r.width, height: r.height, blurhash: r.blurhash ?? '' }) : undefined;
}

export function receiptFrame(r: MemberReceipt): Receipt {
  return create(ReceiptSchema, {
    conversation: r.conversation,
    user: r.user,
    kind: r.kind === 'read' ? ReceiptKind.READ : ReceiptKind.DELIVERED,
    seq: BigInt(r.seq),
  });
}

export function errorFrame(
  reqId: number,
  code: ErrorCode,
  message: string,
  extra: { retryAfterMs?: number; conversation?: string; clientMsgId?: string } = {},
): ServerFrame {
  return create(ServerFrameSchema, {
    reqId,
    kind: {
      case: 'error',
      value: {
        code,
        message,
        retryable: ERROR_CODES[code].retryable,
        retryAfterMs: extra.retryAfterMs ?? 0,
        conversation: extra.conversation ?? '',
        clientMsgId: extra.clientMsgId ?? '',
      },
    },
  });
}

/** The frame answering a forwarded request. */
export function resultFrame(reqId: number, res: CoreResult, about: { conversation?: string; clientMsgId?: string } = {}): ServerFrame | null {
  switch (res.r) {
    case 'send_ack':
      return create(ServerFrameSchema, {
        reqId,
        kind: {
          case: 'sendAck',
          value: {
            conversation: res.ack.conversation,
            clientMsgId: res.ack.clientMsgId,
            messageId: res.ack.messageId,
            seq: BigInt(res.ack.seq),
            serverTs: BigInt(res.ack.serverTs),
            duplicate: res.ack.duplicate,
          },
        },
      });
    case 'sync_page':
      return create(ServerFrameSchema, {
        reqId,
        kind: {
          case: 'syncPage',
          value: {
            messages: res.page.messages.map(messageFrame),
            conversations: res.page.conversations.map((c) => ({
              conversation: c.conversation,
              lastSeq: BigInt(c.lastSeq),
              firstSeq: BigInt(c.firstSeq),
              resyncRequired: c.resyncRequired,
              nextCursor: BigInt(c.nextCursor),
            })),
            hasMore: res.page.hasMore,
            receipts: res.page.receipts.map(receiptFrame),
          },
        },
      });
    case 'history_page':
      return create(ServerFrameSchema, {
        reqId,
        kind: {
          case: 'historyPage',
          value: {
            conversation: res.page.conversation,
            messages: res.page.messages.map(messageFrame),
            hasMore: res.page.hasMore,
            firstSeq: BigInt(res.page.firstSeq),
          },
        },
      });
    case 'direct_opened':
      return create(ServerFrameSchema, {
        reqId,
        kind: {
          case: 'directOpened',
          value: { conversation: res.conversation.id, members: res.conversation.members.map((m) => m.user) },
        },
      });
    case 'conversations':
      return create(ServerFrameSchema, {
        reqId,
        kind: {
          case: 'conversations',
          value: {
            conversations: res.list.map((c) => ({
              conversation: c.conv.id,
              kind: c.conv.kind,
              members: c.conv.members.map((m) => m.user),
              lastSeq: BigInt(c.lastSeq),
            })),
          },
        },
      });
    case 'group_info':
      return create(ServerFrameSchema, { reqId, kind: { case: 'groupInfo', value: groupInfo(res.info) } });
    case 'member_receipts':
      return create(ServerFrameSchema, {
        reqId,
        kind: {
          case: 'memberReceipts',
          value: { conversation: res.detail.conversation, seq: BigInt(res.detail.seq), delivered: res.detail.delivered, read: res.detail.read, members: res.detail.members },
        },
      });
    case 'presence':
      return create(ServerFrameSchema, { reqId, kind: { case: 'presence', value: { users: presenceUsers(res.users) } } });
    case 'media_slot':
      return create(ServerFrameSchema, {
        reqId,
        kind: { case: 'mediaSlot', value: { mediaId: res.slot.mediaId, uploadUrl: res.slot.uploadUrl, expiresAtMs: BigInt(res.slot.expiresAt) } },
      });
    case 'media_url': {
      const u = res.url;
      return create(ServerFrameSchema, {
        reqId,
        kind: { case: 'mediaUrl', value: { mediaId: u.mediaId, url: u.url, expiresAtMs: BigInt(u.expiresAt), mime: u.mime, size: BigInt(u.size), sha256: u.sha256 } },
      });
    }
    case 'push_state': {
      const s = res.state;
      return create(ServerFrameSchema, {
        reqId,
        kind: {
          case: 'pushState',
          value: { registered: s.registered, platform: s.platform, appId: s.appId, mode: s.mode, tokenHint: s.tokenHint, conversation: s.conversation, mutedUntilMs: BigInt(s.mutedUntilMs) },
        },
      });
    }
    case 'ok':
      return null;
    case 'error':
      return errorFrame(reqId, res.code, res.message, { retryAfterMs: res.retryAfterMs, ...about });
  }
}
