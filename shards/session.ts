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
import { ServerFrameSchema, type ClientFrame, type Send, type ServerFrame } from '../protocol/gen/client_pb.js';
import type { Encoding } from '../protocol/codec.js';
import type { ShardLimits } from './shard_config.js';
import { errorFrame, resultFrame } from './frames.js';
import { take, type Bucket } from './rate_limit.js';
import type { CoreOp, CoreResult } from '../node/core/ops.js';
import { checkOp, sendOpRule } from '../node/core/op_rules.js';

/** What the client asked for with one request forwarded to the host. */
export interface Pending {
  reqId: number;
  op: CoreOp['op'];
  conversation: string;
  clientMsgId: string;
}

/** Shared by every session that has none: read-only, never written (see Session). */
const NO_SENT: ReadonlyMap<string, number> = new Map();
const NO_PENDING: ReadonlyMap<number, Pending> = new Map();

/**
 * The session's times are kept as milliseconds since this module loaded, not since the
 * epoch: a number of the epoch's size (~1.8e12) is a double, and V8 boxes a double
 * field in a heap number of its own (16 B per field per session); a small integer
 * stays in the object. Past ~24 days of uptime (2^31 ms) they become doubles again:
 * the same values, boxed, so only the memory changes. Read and written as epoch ms
 * through the accessors below, so callers never see the offset.
 */
const EPOCH = Date.now();
/** Stored for "never" (a typing notice) or "no expiry" (a token without exp). */
const NEVER = -(2 ** 30);

/**
 * One connection's state, laid out for the idle connection (issue 14): a class, so
 * every session shares one hidden class with its fields in place; the two rate
 * buckets inline as four numbers instead of two objects (56 B each); the two Maps
 * created on first use (an empty Map is 184 B, and an idle connection that never
 * sent or synced needs neither). Readers see `sentUpTo` and `pending` as read-only
 * maps (an empty shared one until the first write).
 */
export class Session {
  /** Times since EPOCH (see there): last inbound frame, the two buckets' refills, token expiry, last typing notice. */
  private seenRel: number;
  private sendAtRel: number;
  private frameAtRel: number;
  private readonly expRel: number;
  private typingRel = NEVER;
  /** Token bucket of sends (rate_limit.ts take): tokens left; refilled at sendAt. */
  sendTokens: number;
  /** Token bucket of frames. */
  frameTokens: number;
  /** Sync requests sent to the host and not answered yet. */
  syncing = 0;
  /** The last sync page said has_more: the client is mid-way through a sync. */
  chainOpen = false;
  /** True once a sync has completed; live pushes flow only after that. */
  synced = false;
  nextId = 1;
  inflightSends = 0;
  /** Per conversation: the highest seq this connection has been sent (null: none yet). */
  private sent: Map<string, number> | null = null;
  /** Internal request id -> what the client asked (null: none yet). */
  private asked: Map<number, Pending> | null = null;

  constructor(
    readonly conn: number,
    readonly user: string,
    readonly device: string,
    readonly encoding: Encoding,
    /** Token expiry (ms since epoch; 0 or less: none). */
    expMs: number,
    limits: Limits,
    now: number,
  ) {
    this.seenRel = now - EPOCH;
    this.sendTokens = limits.sendBurst;
    this.sendAtRel = now - EPOCH;
    this.frameTokens = limits.frameBurst;
    this.frameAtRel = now - EPOCH;
    this.expRel = expMs > 0 ? expMs - EPOCH : NEVER;
  }

  /** Last inbound frame (ms since epoch). */
  get lastSeen(): number {
    return this.seenRel + EPOCH;
  }
  set lastSeen(ms: number) {
    this.seenRel = ms - EPOCH;
  }
  /** When the send bucket was last refilled (ms since epoch). */
  get sendAt(): number {
    return this.sendAtRel + EPOCH;
  }
  set sendAt(ms: number) {
    this.sendAtRel = ms - EPOCH;
  }
  get frameAt(): number {
    return this.frameAtRel + EPOCH;
  }
  set frameAt(ms: number) {
    this.frameAtRel = ms - EPOCH;
  }
  /** Token expiry (ms since epoch), 0 for none. */
  get expMs(): number {
    return this.expRel === NEVER ? 0 : this.expRel + EPOCH;
  }
  /** When this connection's last typing notice was forwarded (-Infinity: never). */
  get lastTypingAt(): number {
    return this.typingRel === NEVER ? -Infinity : this.typingRel + EPOCH;
  }
  set lastTypingAt(ms: number) {
    this.typingRel = ms === -Infinity ? NEVER : ms - EPOCH;
  }

  get sentUpTo(): ReadonlyMap<string, number> {
    return this.sent ?? NO_SENT;
  }

  get pending(): ReadonlyMap<number, Pending> {
    return this.asked ?? NO_PENDING;
  }

  /** The send bucket as a value (a copy: the session keeps its fields inline). */
  get sendBucket(): Bucket {
    return { tokens: this.sendTokens, at: this.sendAt };
  }

  get frameBucket(): Bucket {
    return { tokens: this.frameTokens, at: this.frameAt };
  }

  setSent(conversation: string, seq: number): void {
    (this.sent ??= new Map()).set(conversation, seq);
  }

  ask(id: number, p: Pending): void {
    (this.asked ??= new Map()).set(id, p);
  }

  /**
   * The pending request `id`, removed; undefined if there is none. The map goes when
   * it empties: an idle connection has nothing pending (its sync was answered), and a
   * new Map per burst of requests costs far less than one kept per idle socket.
   */
  answered(id: number): Pending | undefined {
    const m = this.asked;
    if (m === null) return undefined;
    const p = m.get(id);
    if (p !== undefined) {
      m.delete(id);
      if (m.size === 0) this.asked = null;
    }
    return p;
  }

  /** Take a send token: 0 when allowed, else the ms to wait (rate_limit.ts take). */
  takeSend(limits: Limits, now: number): number {
    const w = takeScratch(this.sendTokens, this.sendAt, limits.sendRatePerSec, limits.sendBurst, now);
    this.sendTokens = SCRATCH.tokens;
    this.sendAt = SCRATCH.at;
    return w;
  }

  takeFrame(limits: Limits, now: number): number {
    const w = takeScratch(this.frameTokens, this.frameAt, limits.frameRatePerSec, limits.frameBurst, now);
    this.frameTokens = SCRATCH.tokens;
    this.frameAt = SCRATCH.at;
    return w;
  }
}

/** take() on a bucket held inline as two numbers: the bucket after it is left in SCRATCH. */
function takeScratch(tokens: number, at: number, ratePerSec: number, burst: number, now: number): number {
  SCRATCH.tokens = tokens;
  SCRATCH.at = at;
  return take(SCRATCH, ratePerSec, burst, now);
}

/** One bucket reused by every take (the thread runs one take at a time). */
const SCRATCH: Bucket = { tokens: 0, at: 0 };

export type Limits = ShardLimits;

export function newSession(conn: number, user: string, device: string, encoding: Encoding, expMs: number, limits: Limits, now: number): Session {
  return new Session(conn, user, device, encoding, expMs, limits, now);
}

/** What the shell must do after a client frame. */
export type FrameEffect =
  | { kind: 'reply'; frame: ServerFrame }
  | { kind: 'forward'; id: number; op: CoreOp }
  | { kind: 'none' };

export function onClientFrame(s: Session, frame: ClientFrame, limits: Limits, now: number): FrameEffect {
  s.lastSeen = now;
  const reqId = frame.reqId;
  const k = frame.kind;
  if (k.case === 'ping') {
    return { kind: 'reply', frame: create(ServerFrameSchema, { reqId, kind: { case: 'pong', value: { ts: k.value.ts, serverTs: BigInt(now) } } }) };
  }
  const wait = s.takeFrame(limits, now);
  if (wait > 0) return { kind: 'reply', frame: errorFrame(reqId, 'rate_limited', 'too many frames on this connection', { retryAfterMs: wait }) };

  if (k.case === 'send') return onSend(s, reqId, k.value, limits, now);
  const op = opOf(k);
  if (!op) return { kind: 'reply', frame: errorFrame(reqId, 'unknown_frame_type', 'the frame carries no known kind') };
  // The op's rules, once, here at the edge (node/core/op_rules.ts).
  const refused = checkOp(op, limits);
  if (refused) return { kind: 'reply', frame: errorFrame(reqId, refused.code, refused.message) };
  // Then what this connection's own state decides.
  if (op.op === 'sync') s.syncing++;
  else if (op.op === 'typing') {
    // Typing is advisory: notices faster than the interval are dropped, not refused.
    if (now - s.lastTypingAt < limits.typingIntervalMs) return { kind: 'none' };
    s.lastTypingAt = now;
  }
  return forward(s, reqId, op, 'conversation' in op ? op.conversation : '', '');
}

/**
 * The hot path, a Send: checkOp's send rules (sendOpRule) on the frame's fields, then
 * this connection's send rate and in-flight bound; the op is built only once it passed
 * (the generic way cost about 10 ns more per frame).
 */
function onSend(s: Session, reqId: number, v: Send, limits: Limits, now: number): FrameEffect {
  const conversation = v.conversation;
  const clientMsgId = v.clientMsgId;
  const refused = sendOpRule(conversation, clientMsgId);
  if (refused) return { kind: 'reply', frame: errorFrame(reqId, refused.code, refused.message, { conversation, clientMsgId }) };
  const w = s.takeSend(limits, now);
  if (w > 0) return { kind: 'reply', frame: errorFrame(reqId, 'rate_limited', 'send rate limit exceeded', { retryAfterMs: w, conversation, clientMsgId }) };
  if (s.inflightSends >= limits.maxInflightSends) {
    return { kind: 'reply', frame: errorFrame(reqId, 'rate_limited', `more than ${limits.maxInflightSends} sends awaiting their ack`, { retryAfterMs: 50, conversation, clientMsgId }) };
  }
  s.inflightSends++;
  const send = { op: 'send', conversation, clientMsgId, body: v.body, meta: { ...v.meta } } as const;
  return forward(s, reqId, v.media?.mediaId ? { ...send, mediaId: v.media.mediaId } : send, conversation, clientMsgId);
}

function forward(s: Session, reqId: number, op: CoreOp, conversation: string, clientMsgId: string): FrameEffect {
  const id = s.nextId++;
  s.ask(id, { reqId, op: op.op, conversation, clientMsgId });
  return { kind: 'forward', id, op };
}

/**
 * A client frame (other than a Send: onSend) as the op it asks for, field by field,
 * or null for a kind this server does not know. Seqs become numbers: one beyond 2^53 - 1 lands at 2^53 or
 * above, which the seq rule refuses (the codec has refused such frames already).
 */
function opOf(k: ClientFrame['kind']): CoreOp | null {
  switch (k.case) {
    case 'ack':
    case 'read':
      return { op: k.case, conversation: k.value.conversation, seq: Number(k.value.seq) };
    case 'sync':
      return { op: 'sync', cursors: k.value.cursors.map((c) => ({ conversation: c.conversation, seq: Number(c.seq) })), limit: k.value.limit };
    case 'history':
      return { op: 'history', conversation: k.value.conversation, beforeSeq: Number(k.value.beforeSeq), limit: k.value.limit };
    case 'openDirect':
      return { op: 'open_direct', peer: k.value.peer };
    case 'listConversations':
      return { op: 'list' };
    case 'createGroup':
      return { op: 'create_group', subject: k.value.subject, members: [...k.value.members] };
    case 'addMembers':
      return { op: 'add_members', conversation: k.value.conversation, users: [...k.value.users] };
    case 'removeMembers':
      return { op: 'remove_members', conversation: k.value.conversation, users: [...k.value.users] };
    case 'leaveGroup':
      return { op: 'leave_group', conversation: k.value.conversation };
    case 'setSubject':
      return { op: 'set_subject', conversation: k.value.conversation, subject: k.value.subject };
    case 'memberReceipts':
      return { op: 'member_receipts', conversation: k.value.conversation, seq: Number(k.value.seq) };
    case 'typing':
      return { op: 'typing', conversation: k.value.conversation };
    case 'presenceSubscribe':
      return { op: 'presence_subscribe', users: [...k.value.users] };
    case 'presenceSettings':
      return { op: 'presence_settings', hideLastSeen: k.value.hideLastSeen };
    case 'mediaSlot':
      return { op: 'media_slot', conversation: k.value.conversation, size: Number(k.value.size), mime: k.value.mime, sha256: k.value.sha256 };
    case 'mediaUrl':
      return { op: 'media_url', conversation: k.value.conversation, mediaId: k.value.mediaId };
    case 'pushRegister': {
      const v = k.value;
      const sub = v.subscription ? { endpoint: v.subscription.endpoint, p256dh: v.subscription.p256dh, auth: v.subscription.auth } : null;
      return { op: 'push_register', platform: v.platform, token: v.token, subscription: sub, appId: v.appId, mode: v.mode };
    }
    case 'pushUnregister':
      return { op: 'push_unregister' };
    case 'pushMute':
      return { op: 'push_mute', conversation: k.value.conversation, durationSec: k.value.durationSec, forever: k.value.forever };
    default:
      return null;
  }
}

/** The host answered request `id`; returns the frame to send, if any. */
export function onResult(s: Session, id: number, res: CoreResult): ServerFrame | null {
  const p = s.answered(id);
  if (!p) return null;
  if (p.op === 'send') s.inflightSends = Math.max(0, s.inflightSends - 1);
  if (p.op === 'sync') {
    if (res.r === 'sync_page') {
      for (const c of res.page.conversations) {
        const prev = s.sentUpTo.get(c.conversation) ?? 0;
        // A resync restarts the conversation: what was sent before no longer counts.
        s.setSent(c.conversation, c.resyncRequired ? c.nextCursor : Math.max(prev, c.nextCursor));
      }
      s.chainOpen = res.page.hasMore;
      if (!res.page.hasMore) s.synced = true;
    }
    s.syncing = Math.max(0, s.syncing - 1);
  }
  if (p.op === 'send' && res.r === 'send_ack') {
    const prev = s.sentUpTo.get(res.ack.conversation);
    if (prev !== undefined && res.ack.seq === prev + 1) s.setSent(res.ack.conversation, res.ack.seq);
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
  s.setSent(m.conversation, m.seq);
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
