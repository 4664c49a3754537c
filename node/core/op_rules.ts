/**
 * The rules an op must meet before the core runs it, written once: id patterns and
 * lengths, user lists and their counts, seq and cursor ranges, page sizes, subject
 * length, meta and message size. Pure functions of the op and the limits, answering
 * with a Refusal (catalog code + message) or null; no throw, so the session (a pure
 * machine answering with frames) and the peer-op validator (op_schema.ts, answering
 * with error results) use them as they are.
 *
 * `checkOp` is the rule set of the client's edge (a socket frame, shards/session.ts),
 * checked once there; `sendContentRule` is the core's, for every send; the other rules
 * are the pieces, for the core's checks of the same rules (issue 13: the core's own
 * copies go in their favour) and for op_schema.ts. Part of the core's contract
 * (node/core/ops.ts), importable by shards/: it may import only protocol/ and ops.ts.
 */
import { MAX_SEQ } from '../../protocol/codec.js';
import { MEDIA_META_KEY, type CoreOp } from './ops.js';

export interface Refusal {
  code: 'invalid_argument' | 'limit_exceeded';
  message: string;
}

/** The limits the rules read; node/config.ts's `Config['limits']` and shards' ShardLimits satisfy it. */
export interface OpLimits {
  maxSyncPage: number;
  maxHistoryPage: number;
  maxConversationMembers: number;
  maxPresenceSubscriptions: number;
}

/** User and device ids: what tokens, the HTTP API and member lists accept. */
export const USER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const USER_ID_WHY = 'user ids of 1..128 chars of [A-Za-z0-9._:@-]';
/** Conversation ids are the server's (d_..., g_...); 1024 only bounds what a client can make the node carry around. */
export const MAX_CONVERSATION_ID_CHARS = 1024;
/** A client's idempotency key: 64 holds a UUID or a ULID with room for a prefix. */
export const MAX_CLIENT_MSG_ID_CHARS = 64;
/** Group subjects, counted in code points (what a user would call characters). */
export const MAX_SUBJECT_CHARS = 256;
/** Group ids as newGroupId makes them: "g_" and 22 base64url characters (128 random bits). */
export const GROUP_ID = /^g_[A-Za-z0-9_-]{22}$/;

const refuse = (field: string, why: string): Refusal => ({ code: 'invalid_argument', message: `${field}: ${why}` });

export function conversationRule(conversation: string): Refusal | null {
  if (!conversation) return refuse('conversation', 'required');
  if (conversation.length > MAX_CONVERSATION_ID_CHARS) return refuse('conversation', 'too long');
  return null;
}

export function clientMsgIdRule(clientMsgId: string): Refusal | null {
  return !clientMsgId || clientMsgId.length > MAX_CLIENT_MSG_ID_CHARS ? refuse('client_msg_id', `must be 1..${MAX_CLIENT_MSG_ID_CHARS} characters`) : null;
}

/**
 * A seq or cursor the node can hold exactly: an integer in 0..2^53 - 1. A bigint from a
 * frame converted with Number() lands at 2^53 or above when it is out of range, so this
 * one check also covers it (the codec refuses such frames first: codec.ts MAX_SEQ).
 */
export function seqRule(field: string, seq: number): Refusal | null {
  return Number.isSafeInteger(seq) && seq >= 0 && seq <= MAX_SEQ ? null : refuse(field, `must be an integer in 0..${MAX_SEQ} (2^53 - 1)`);
}

/** A list of user ids: each well-formed, at most `max` distinct. */
export function usersRule(field: string, users: string[], max: number): Refusal | null {
  if (users.some((u) => !USER_ID.test(u))) return refuse(`${field}[]`, USER_ID_WHY);
  const n = new Set(users).size;
  if (n > max) return { code: 'limit_exceeded', message: `${field}: ${n} users; the limit is ${max}` };
  return null;
}

/** The peer of a direct conversation: a user id. */
export function peerRule(peer: string): Refusal | null {
  if (!peer) return refuse('peer', 'required');
  return USER_ID.test(peer) ? null : refuse('peer', `must be 1..128 chars of [A-Za-z0-9._:@-]`);
}

export function subjectRule(subject: string): Refusal | null {
  return [...subject].length > MAX_SUBJECT_CHARS ? refuse('subject', `at most ${MAX_SUBJECT_CHARS} characters`) : null;
}

export function groupIdRule(id: string): Refusal | null {
  return GROUP_ID.test(id) ? null : refuse('group id', 'malformed');
}

/**
 * Reserved meta keys: system messages (membership changes) are the server's to write,
 * and a message's media reference is set from its media field, never by a client.
 */
export function metaRule(meta: Record<string, string>): Refusal | null {
  if ('system' in meta) return refuse('meta.system', 'reserved for server messages');
  if (MEDIA_META_KEY in meta) return refuse(`meta.${MEDIA_META_KEY}`, 'reserved; attach media with the media field');
  return null;
}

/** Body and meta together, in UTF-8 bytes (what the store holds and every device downloads). */
export function messageSizeRule(body: string, meta: Record<string, string>, max: number): Refusal | null {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most messages are far enough under the
  // limit to pass on their length alone, without counting their bytes.
  let units = body.length;
  for (const k in meta) units += k.length + meta[k].length;
  if (units * 3 <= max) return null;
  let size = Buffer.byteLength(body);
  for (const k in meta) size += Buffer.byteLength(k) + Buffer.byteLength(meta[k]);
  return size > max ? { code: 'limit_exceeded', message: `body and meta are ${size} bytes; the limit is ${max}` } : null;
}

/**
 * What a message may carry: no forged system meta, at most maxMessageBytes. Checked
 * once per send where sockets, the HTTP API and forwarded sends all meet (the core's
 * send), so the socket edge does not count the bytes a second time.
 */
export function sendContentRule(body: string, meta: Record<string, string>, maxMessageBytes: number): Refusal | null {
  return metaRule(meta) ?? messageSizeRule(body, meta, maxMessageBytes);
}

/** A requested page size: 0 means the server's default, more than `max` is refused. */
export function pageRule(limit: number, max: number): Refusal | null {
  return limit > max ? refuse('limit', `at most ${max}`) : null;
}

/**
 * checkOp's rules for a send, by themselves for the socket edge's hot path
 * (shards/session.ts checks a Send frame before it builds the op). The common case,
 * both fields fine, costs four comparisons.
 */
export function sendOpRule(conversation: string, clientMsgId: string): Refusal | null {
  if (conversation && conversation.length <= MAX_CONVERSATION_ID_CHARS && clientMsgId && clientMsgId.length <= MAX_CLIENT_MSG_ID_CHARS) return null;
  return conversationRule(conversation) ?? clientMsgIdRule(clientMsgId);
}

/**
 * Every rule of one op as a client sent it, in the order a client would meet them.
 * What needs the conversation's state (membership, the last seq, a group's size with
 * its current members) stays with the core.
 */
export function checkOp(op: CoreOp, limits: OpLimits): Refusal | null {
  switch (op.op) {
    case 'send':
      // The content (sendContentRule) is checked where every send passes exactly once,
      // whichever edge it came in by: the core's send.
      return sendOpRule(op.conversation, op.clientMsgId);
    case 'ack':
    case 'read':
      return conversationRule(op.conversation) ?? seqRule(`${op.op}.seq`, op.seq);
    case 'sync': {
      if (op.cursors.some((c) => !c.conversation)) return refuse('cursors[].conversation', 'required');
      for (let i = 0; i < op.cursors.length; i++) {
        const r = seqRule(`sync.cursors[${i}].seq`, op.cursors[i].seq);
        if (r) return r;
      }
      return pageRule(op.limit, limits.maxSyncPage);
    }
    case 'history':
      return conversationRule(op.conversation) ?? pageRule(op.limit, limits.maxHistoryPage) ?? seqRule('history.before_seq', op.beforeSeq);
    case 'open_direct':
      return op.peer ? null : refuse('peer', 'required');
    case 'list':
    case 'presence_settings':
      return null;
    case 'create_group':
      return usersRule('members', op.members, limits.maxConversationMembers);
    case 'add_members':
    case 'remove_members':
      return conversationRule(op.conversation) ?? usersRule('users', op.users, limits.maxConversationMembers) ?? (op.users.length === 0 ? refuse('users', 'at least one user') : null);
    case 'leave_group':
    case 'set_subject':
    case 'typing':
      return conversationRule(op.conversation);
    case 'member_receipts':
      return conversationRule(op.conversation) ?? (op.seq < 1 ? refuse('seq', 'must be >= 1') : seqRule('member_receipts.seq', op.seq));
    case 'presence_subscribe':
      return usersRule('users', op.users, limits.maxPresenceSubscriptions);
    case 'media_slot':
      return conversationRule(op.conversation) ?? (Number.isSafeInteger(op.size) && op.size > 0 ? null : refuse('size', 'must be a positive integer (bytes)'));
    case 'media_url':
      return conversationRule(op.conversation) ?? (op.mediaId ? null : refuse('media_id', 'required'));
    case 'push_register':
    case 'push_unregister':
      // Token shapes per platform are the push service's (node/push/registration.ts).
      return null;
    case 'push_mute':
      return conversationRule(op.conversation);
  }
}
