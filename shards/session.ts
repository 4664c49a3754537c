/**
 * One connection's session, as a pure state machine: (state, event, now) -> effects.
 * The uWS listener (listener.ts) is the I/O shell that feeds it frames and carries
 * out what it returns.
 *
 * Live pushes and sync pages hand over without gaps or duplicates:
 * - Live pushes start after the connection's first complete sync (the last page,
 *   has_more = false): before it the server cannot know what the device holds, and
 *   pushing anyway would hand it seq 40 before the 1..39 it is about to sync.
 * - While a sync is outstanding, live pushes are dropped: the host cuts each sync
 *   page in the same tick as it checks for newer commits, so anything dropped here is
 *   either in a later page or flips has_more.
 * - After the last page, a push is sent only if its seq is above what this
 *   connection has already been sent for the conversation (`sentUpTo`).
 */
import { create } from '@bufbuild/protobuf';
import { ServerFrameSchema, type ClientFrame, type ServerFrame } from '../protocol/gen/client_pb.js';
import { MAX_SEQ, type Encoding } from '../protocol/codec.js';
import type { ShardLimits } from './shard_config.js';
import { errorFrame, resultFrame } from './frames.js';
import { newBucket, take, type Bucket } from './rate_limit.js';
import type { CoreOp, CoreResult } from '../node/core/ops.js';

export interface Session {
  conn: number;
  user: string;
  device: string;
  encoding: Encoding;
  /** Token expiry (ms since epoch). */
  expMs: number;
  lastSeen: number;
  sendBucket: Bucket;
  frameBucket: Bucket;
  /** Sync requests sent to the host and not answered yet. */
  syncing: number;
  /** The last sync page said has_more: the client is mid-way through a sync. */
  chainOpen: boolean;
  /** True once a sync has completed; live pushes flow only after that. */
  synced: boolean;
  sentUpTo: Map<string, number>;
  /** Internal request id -> what the client asked. */
  pending: Map<number, { reqId: number; op: CoreOp['op']; conversation: string; clientMsgId: string }>;
  nextId: number;
  inflightSends: number;
  /** When this connection's last typing notice was forwarded (-Infinity: never). */
  lastTypingAt: number;
}

export type Limits = ShardLimits;

export function newSession(conn: number, user: string, device: string, encoding: Encoding, expMs: number, limits: Limits, now: number): Session {
  return {
    conn,
    user,
    device,
    encoding,
    expMs,
    lastSeen: now,
    sendBucket: newBucket(limits.sendBurst, now),
    frameBucket: newBucket(limits.frameBurst, now),
    syncing: 0,
    chainOpen: false,
    synced: false,
    sentUpTo: new Map(),
    pending: new Map(),
    nextId: 1,
    inflightSends: 0,
    lastTypingAt: -Infinity,
  };
}

/** What the shell must do after a client frame. */
export type FrameEffect =
  | { kind: 'reply'; frame: ServerFrame }
  | { kind: 'forward'; id: number; op: CoreOp }
  | { kind: 'none' };

const MAX_ID = 1024;
function bad(field: string, why: string): string {
  return `${field}: ${why}`;
}

function checkConversation(c: string): string | null {
  if (!c) return bad('conversation', 'required');
  if (c.length > MAX_ID) return bad('conversation', 'too long');
  return null;
}

/**
 * A seq or cursor as the number the host works with, or null when a number cannot
 * hold it exactly. decodeClientFrame already refuses these (codec.ts MAX_SEQ); this
 * keeps the one bigint -> number conversion from ever rounding, whoever built the frame.
 */
const MAX_SEQ_BIG = BigInt(MAX_SEQ);
function seqOf(v: bigint): number | null {
  return v >= 0n && v <= MAX_SEQ_BIG ? Number(v) : null;
}
const seqRange = (field: string) => bad(field, `must be an integer in 0..${MAX_SEQ} (2^53 - 1)`);

const USER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** A list of user ids: each well-formed, at most `max` distinct. */
function checkUsers(field: string, users: string[], max: number): { code: 'invalid_argument' | 'limit_exceeded'; message: string } | null {
  if (users.some((u) => !USER_ID.test(u))) return { code: 'invalid_argument', message: bad(`${field}[]`, 'user ids of 1..128 chars of [A-Za-z0-9._:@-]') };
  const n = new Set(users).size;
  if (n > max) return { code: 'limit_exceeded', message: bad(field, `${n} users; the limit is ${max}`) };
  return null;
}

export function onClientFrame(s: Session, frame: ClientFrame, limits: Limits, now: number): FrameEffect {
  s.lastSeen = now;
  const reqId = frame.reqId;
  const k = frame.kind;
  if (k.case === 'ping') {
    return { kind: 'reply', frame: create(ServerFrameSchema, { reqId, kind: { case: 'pong', value: { ts: k.value.ts, serverTs: BigInt(now) } } }) };
  }
  const wait = take(s.frameBucket, limits.frameRatePerSec, limits.frameBurst, now);
  if (wait > 0) return { kind: 'reply', frame: errorFrame(reqId, 'rate_limited', 'too many frames on this connection', { retryAfterMs: wait }) };

  let op: CoreOp;
  let conversation = '';
  let clientMsgId = '';
  switch (k.case) {
    case 'send': {
      const v = k.value;
      conversation = v.conversation;
      clientMsgId = v.clientMsgId;
      const err = checkConversation(v.conversation) ?? (!v.clientMsgId || v.clientMsgId.length > 64 ? bad('client_msg_id', 'must be 1..64 characters') : null);
      if (err) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', err, { conversation, clientMsgId }) };
      const w = take(s.sendBucket, limits.sendRatePerSec, limits.sendBurst, now);
      if (w > 0) return { kind: 'reply', frame: errorFrame(reqId, 'rate_limited', 'send rate limit exceeded', { retryAfterMs: w, conversation, clientMsgId }) };
      if (s.inflightSends >= limits.maxInflightSends) {
        return { kind: 'reply', frame: errorFrame(reqId, 'rate_limited', `more than ${limits.maxInflightSends} sends awaiting their ack`, { retryAfterMs: 50, conversation, clientMsgId }) };
      }
      s.inflightSends++;
      op = { op: 'send', conversation: v.conversation, clientMsgId: v.clientMsgId, body: v.body, meta: { ...v.meta } };
      break;
    }
    case 'ack':
    case 'read': {
      const err = checkConversation(k.value.conversation);
      if (err) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', err) };
      conversation = k.value.conversation;
      const seq = seqOf(k.value.seq);
      if (seq === null) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', seqRange(`${k.case}.seq`)) };
      op = { op: k.case, conversation, seq };
      break;
    }
    case 'sync': {
      const cursors = k.value.cursors.map((c) => ({ conversation: c.conversation, seq: seqOf(c.seq) }));
      if (cursors.some((c) => !c.conversation)) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', bad('cursors[].conversation', 'required')) };
      const over = cursors.findIndex((c) => c.seq === null);
      if (over >= 0) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', seqRange(`sync.cursors[${over}].seq`)) };
      if (k.value.limit > limits.maxSyncPage) {
        return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', bad('limit', `at most ${limits.maxSyncPage}`)) };
      }
      s.syncing++;
      op = { op: 'sync', cursors: cursors as Array<{ conversation: string; seq: number }>, limit: k.value.limit };
      break;
    }
    case 'history': {
      const err = checkConversation(k.value.conversation);
      if (err) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', err) };
      if (k.value.limit > limits.maxHistoryPage) {
        return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', bad('limit', `at most ${limits.maxHistoryPage}`)) };
      }
      conversation = k.value.conversation;
      const beforeSeq = seqOf(k.value.beforeSeq);
      if (beforeSeq === null) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', seqRange('history.before_seq')) };
      op = { op: 'history', conversation, beforeSeq, limit: k.value.limit };
      break;
    }
    case 'openDirect':
      if (!k.value.peer) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', bad('peer', 'required')) };
      op = { op: 'open_direct', peer: k.value.peer };
      break;
    case 'listConversations':
      op = { op: 'list' };
      break;
    case 'createGroup': {
      const err = checkUsers('members', k.value.members, limits.maxConversationMembers);
      if (err) return { kind: 'reply', frame: errorFrame(reqId, err.code, err.message) };
      op = { op: 'create_group', subject: k.value.subject, members: [...k.value.members] };
      break;
    }
    case 'addMembers':
    case 'removeMembers': {
      const err = checkConversation(k.value.conversation);
      if (err) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', err) };
      const uerr = checkUsers('users', k.value.users, limits.maxConversationMembers);
      if (uerr) return { kind: 'reply', frame: errorFrame(reqId, uerr.code, uerr.message) };
      if (k.value.users.length === 0) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', bad('users', 'at least one user')) };
      conversation = k.value.conversation;
      op = { op: k.case === 'addMembers' ? 'add_members' : 'remove_members', conversation, users: [...k.value.users] };
      break;
    }
    case 'leaveGroup':
    case 'setSubject':
    case 'memberReceipts':
    case 'typing': {
      const err = checkConversation(k.value.conversation);
      if (err) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', err) };
      conversation = k.value.conversation;
      if (k.case === 'leaveGroup') op = { op: 'leave_group', conversation };
      else if (k.case === 'setSubject') op = { op: 'set_subject', conversation, subject: k.value.subject };
      else if (k.case === 'memberReceipts') {
        if (k.value.seq < 1n) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', bad('seq', 'must be >= 1')) };
        const seq = seqOf(k.value.seq);
        if (seq === null) return { kind: 'reply', frame: errorFrame(reqId, 'invalid_argument', seqRange('member_receipts.seq')) };
        op = { op: 'member_receipts', conversation, seq };
      } else {
        // Typing is advisory: notices faster than the interval are dropped, not refused.
        if (now - s.lastTypingAt < limits.typingIntervalMs) return { kind: 'none' };
        s.lastTypingAt = now;
        op = { op: 'typing', conversation };
      }
      break;
    }
    case 'presenceSubscribe': {
      const err = checkUsers('users', k.value.users, limits.maxPresenceSubscriptions);
      if (err) return { kind: 'reply', frame: errorFrame(reqId, err.code, err.message) };
      op = { op: 'presence_subscribe', users: [...k.value.users] };
      break;
    }
    case 'presenceSettings':
      op = { op: 'presence_settings', hideLastSeen: k.value.hideLastSeen };
      break;
    default:
      return { kind: 'reply', frame: errorFrame(reqId, 'unknown_frame_type', 'the frame carries no known kind') };
  }
  const id = s.nextId++;
  s.pending.set(id, { reqId, op: op.op, conversation, clientMsgId });
  return { kind: 'forward', id, op };
}

/** The host answered request `id`; returns the frame to send, if any. */
export function onResult(s: Session, id: number, res: CoreResult): ServerFrame | null {
  const p = s.pending.get(id);
  if (!p) return null;
  s.pending.delete(id);
  if (p.op === 'send') s.inflightSends = Math.max(0, s.inflightSends - 1);
  if (p.op === 'sync') {
    if (res.r === 'sync_page') {
      for (const c of res.page.conversations) {
        const prev = s.sentUpTo.get(c.conversation) ?? 0;
        // A resync restarts the conversation: what was sent before no longer counts.
        s.sentUpTo.set(c.conversation, c.resyncRequired ? c.nextCursor : Math.max(prev, c.nextCursor));
      }
      s.chainOpen = res.page.hasMore;
      if (!res.page.hasMore) s.synced = true;
    }
    s.syncing = Math.max(0, s.syncing - 1);
  }
  if (p.op === 'send' && res.r === 'send_ack') {
    const prev = s.sentUpTo.get(res.ack.conversation);
    if (prev !== undefined && res.ack.seq === prev + 1) s.sentUpTo.set(res.ack.conversation, res.ack.seq);
  }
  return resultFrame(p.reqId, res, { conversation: p.conversation, clientMsgId: p.clientMsgId });
}

/** A live push for this connection: send it or not. */
export function onDeliver(s: Session, m: { conversation: string; seq: number }): boolean {
  // Held back until the first sync is complete, while a sync is in flight, and while
  // the client is between pages of one (the page it has not asked for yet holds them).
  if (!s.synced || s.syncing > 0 || s.chainOpen) return false;
  const sent = s.sentUpTo.get(m.conversation);
  if (sent !== undefined && m.seq <= sent) return false;
  s.sentUpTo.set(m.conversation, m.seq);
  return true;
}

export type Expiry = 'idle' | 'token' | null;

/** Heartbeat sweep: should this connection be closed now? */
export function expiry(s: Session, limits: Limits, now: number): Expiry {
  if (now - s.lastSeen > limits.idleTimeoutMs) return 'idle';
  if (s.expMs > 0 && now >= s.expMs) return 'token';
  return null;
}

/** Pongs and any other inbound traffic keep a connection alive. */
export function touch(s: Session, now: number): void {
  s.lastSeen = now;
}
