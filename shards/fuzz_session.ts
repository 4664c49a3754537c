/**
 * The session fuzz harness: what a socket shard does with one inbound frame (decode,
 * then session.ts, then encode the reply, as listener.ts does), checked on every
 * step; and a model of one connection's session for fast-check's `fc.commands`
 * (connect, frames good and bad, host replies, live pushes, time passing, reconnect).
 * shards/session.fuzz.test.ts runs it briefly in CI; `npm run bench -- fuzz` runs it
 * for a million frames and more.
 *
 * Properties, checked on every step (a failure throws, naming the step):
 * - nothing but a CatalogError leaves the decoder, and nothing leaves the session or
 *   the reply encoder (any other exception would crash the shard thread);
 * - every reply to a client frame echoes its req_id (0 when it had none usable), and
 *   every error reply has a code from ERROR_CODES with the catalog's retryable flag;
 * - every reply can be read back by a client in the connection's encoding;
 * - a `range` input decodes exactly as its oracle says (fuzz_frames.ts);
 * - a seq or cursor that reaches the host is the exact integer the client sent;
 * - a valid frame is answered as the model predicts, whatever came before it;
 * - the session's invariants (checkInvariants) hold.
 */
import fc from 'fast-check';
import type { ClientFrame, ServerFrame } from '../protocol/gen/client_pb.js';
import { decodeClientFrame, type Encoding } from '../protocol/codec.js';
import { clientFrameFromBytes } from '../protocol/compiled/client_frames.js';
import { CatalogError } from '../protocol/errors.js';
import { ERROR_CODES, type ErrorCode } from '../protocol/codes.js';
import { anyInput, carriedSeq, checkReply, CONVERSATIONS, describeInput, fail, jsonish, validInput, type FuzzInput } from '../protocol/fuzz_frames.js';
import type { StoredMessage } from '../node/store/types.js';
import { errorFrame } from './frames.js';
import { expiry, newSession, onClientFrame, onDeliver, onResult, touch, type FrameEffect, type Limits, type Session } from './session.js';
import type { CoreOp, CoreResult } from '../node/core/ops.js';

/** What a frame came to: an error code, or how it was handled. */
export type Outcome = ErrorCode | 'forward' | 'pong' | 'none';

export interface Fed {
  frame: ClientFrame | null;
  effect: FrameEffect | null;
  reply: ServerFrame | null;
  outcome: Outcome;
}

/** The seqs an op hands to the host, with the field each came from. */
function opSeqs(op: CoreOp): number[] {
  switch (op.op) {
    case 'ack':
    case 'read':
    case 'member_receipts':
      return [op.seq];
    case 'history':
      return [op.beforeSeq];
    case 'sync':
      return op.cursors.map((c) => c.seq);
    default:
      return [];
  }
}

function frameSeqs(f: ClientFrame): bigint[] {
  const k = f.kind;
  switch (k.case) {
    case 'ack':
    case 'read':
    case 'memberReceipts':
      return [k.value.seq];
    case 'history':
      return [k.value.beforeSeq];
    case 'sync':
      return k.value.cursors.map((c) => c.seq);
    default:
      return [];
  }
}

/**
 * One inbound frame through decode -> session -> reply encoding, as listener.ts does
 * it (a decode error is answered with errorFrame(reqId, code) and touches the session).
 */
export function feed(s: Session, limits: Limits, input: FuzzInput, now: number): Fed {
  let frame: ClientFrame;
  try {
    frame = decodeClientFrame(input.bytes, input.isBinary, s.encoding, clientFrameFromBytes);
  } catch (e) {
    if (!(e instanceof CatalogError)) fail(`the decoder threw ${(e as Error)?.stack ?? String(e)}`, input);
    const reply = errorFrame(e.reqId, e.code, e.message);
    checkReply(reply, s.encoding, input);
    if (input.expect && input.enc === s.encoding && input.isBinary === (s.encoding === 'proto')) {
      const x = input.expect;
      if (x.accept) fail(`expected to decode (req_id ${x.reqId}, seq ${x.seq}), got ${e.code}: ${e.message}`, input);
      if (e.code !== x.code || e.reqId !== x.reqId || !e.message.startsWith(`${x.field}: `)) fail(`expected ${x.code} for ${x.field} with req_id ${x.reqId}, got ${e.code} req_id ${e.reqId}: ${e.message}`, input);
    }
    touch(s, now);
    return { frame: null, effect: null, reply, outcome: e.code };
  }
  if (frame.kind.case === undefined) fail('the decoder returned a frame with no kind', input);
  if (input.expect && input.enc === s.encoding) {
    const x = input.expect;
    if (!x.accept) fail(`expected ${x.code} for ${x.field}, but it decoded: ${jsonish(frame)}`, input);
    if (frame.reqId !== x.reqId) fail(`req_id ${frame.reqId}, expected ${x.reqId}`, input);
    if (x.seq !== null && carriedSeq(frame) !== x.seq) fail(`seq ${carriedSeq(frame)}, expected ${x.seq}`, input);
  }
  let effect: FrameEffect;
  try {
    effect = onClientFrame(s, frame, limits, now);
  } catch (e) {
    fail(`the session threw on ${jsonish(frame)}: ${(e as Error)?.stack ?? String(e)}`, input);
  }
  if (effect.kind === 'reply') {
    if (effect.frame.reqId !== frame.reqId) fail(`reply req_id ${effect.frame.reqId} for a frame with req_id ${frame.reqId}`, input);
    checkReply(effect.frame, s.encoding, input);
    const k = effect.frame.kind;
    return { frame, effect, reply: effect.frame, outcome: k.case === 'error' ? (k.value.code as ErrorCode) : k.case === 'pong' ? 'pong' : fail(`unexpected reply ${k.case}`, input) };
  }
  if (effect.kind === 'forward') {
    const sent = frameSeqs(frame);
    const got = opSeqs(effect.op);
    if (sent.length !== got.length || sent.some((v, i) => BigInt(got[i]) !== v || !Number.isSafeInteger(got[i]))) {
      fail(`the host would get seqs ${jsonish(got)} for ${jsonish(sent)}`, input);
    }
  }
  return { frame, effect, reply: null, outcome: effect.kind };
}

// ------------------------------------------------------------------ the model

type Pending = { op: CoreOp['op']; reqId: number; conversation: string; clientMsgId: string };

export interface Model {
  limits: Limits;
  /** Rate limits tight enough to bite (true) or out of the way (false). */
  tight: boolean;
  encoding: Encoding;
  now: number;
  lastSeen: number;
  expMs: number;
  pending: Map<number, Pending>;
  synced: boolean;
  chainOpen: boolean;
  sentUpTo: Map<string, number>;
  lastTypingAt: number;
  /** Counts, for the bench: frames fed and each outcome. */
  stats: Stats;
}

export interface Stats {
  frames: number;
  outcomes: Map<string, number>;
  bySource: Map<string, number>;
}

export function newStats(): Stats {
  return { frames: 0, outcomes: new Map(), bySource: new Map() };
}

export interface Real {
  s: Session;
}

const T0 = 1_700_000_000_000;

/** Limits for one run: the node's defaults, with the rate limits out of the way unless `tight`. */
export function fuzzLimits(base: Limits, tight: boolean): Limits {
  // Small enough that a run of a few dozen commands hits each limit; the in-flight cap
  // bites in both modes.
  return tight
    ? { ...base, frameBurst: 6, frameRatePerSec: 2, sendBurst: 2, sendRatePerSec: 1, maxInflightSends: 2 }
    : { ...base, frameBurst: 1e12, frameRatePerSec: 1e12, sendBurst: 1e12, sendRatePerSec: 1e12, maxInflightSends: 3 };
}

export function initial(limits: Limits, tight: boolean, encoding: Encoding, stats: Stats): { model: Model; real: Real } {
  const expMs = T0 + 3_600_000;
  const model: Model = { limits, tight, encoding, now: T0, lastSeen: T0, expMs, pending: new Map(), synced: false, chainOpen: false, sentUpTo: new Map(), lastTypingAt: -Infinity, stats };
  return { model, real: { s: newSession(1, 'alice', 'phone', encoding, expMs, limits, T0) } };
}

/** The session's invariants, and agreement with the model. */
export function checkInvariants(m: Model, s: Session, after: string): void {
  const bad = (why: string) => fail(`after ${after}: ${why}`);
  const pend = [...s.pending.values()];
  if (s.syncing !== pend.filter((p) => p.op === 'sync').length) bad(`syncing ${s.syncing} but ${pend.filter((p) => p.op === 'sync').length} syncs pending`);
  if (s.inflightSends !== pend.filter((p) => p.op === 'send').length) bad(`inflightSends ${s.inflightSends} but ${pend.filter((p) => p.op === 'send').length} sends pending`);
  if (s.inflightSends > m.limits.maxInflightSends) bad(`${s.inflightSends} sends in flight, the cap is ${m.limits.maxInflightSends}`);
  for (const id of s.pending.keys()) if (!(id < s.nextId && id >= 1)) bad(`pending id ${id} not below nextId ${s.nextId}`);
  const same = (a: Pending | undefined, b: Pending) => !!a && a.op === b.op && a.reqId === b.reqId && a.conversation === b.conversation && a.clientMsgId === b.clientMsgId;
  if (s.pending.size !== m.pending.size || [...m.pending].some(([id, p]) => !same(s.pending.get(id), p))) bad(`pending ${jsonish([...s.pending])}, model ${jsonish([...m.pending])}`);
  if (s.synced !== m.synced) bad(`synced ${s.synced}, model ${m.synced}`);
  if (s.chainOpen !== m.chainOpen) bad(`chainOpen ${s.chainOpen}, model ${m.chainOpen}`);
  if (jsonish([...s.sentUpTo].sort()) !== jsonish([...m.sentUpTo].sort())) bad(`sentUpTo ${jsonish([...s.sentUpTo])}, model ${jsonish([...m.sentUpTo])}`);
  for (const [b, burst] of [[s.frameBucket, m.limits.frameBurst], [s.sendBucket, m.limits.sendBurst]] as const) {
    if (!(b.tokens >= 0 && b.tokens <= burst)) bad(`bucket tokens ${b.tokens} outside 0..${burst}`);
  }
  if (s.lastSeen !== m.lastSeen) bad(`lastSeen ${s.lastSeen}, model ${m.lastSeen}`);
  if (s.encoding !== m.encoding) bad('encoding changed');
}

/** The op onClientFrame must forward for a valid frame (fuzz_frames.ts validFrameInit). */
function expectedOp(f: ClientFrame): CoreOp | 'pong' {
  const k = f.kind;
  switch (k.case) {
    case 'send':
      return { op: 'send', conversation: k.value.conversation, clientMsgId: k.value.clientMsgId, body: k.value.body, meta: { ...k.value.meta } };
    case 'ack':
    case 'read':
      return { op: k.case, conversation: k.value.conversation, seq: Number(k.value.seq) };
    case 'sync':
      return { op: 'sync', cursors: k.value.cursors.map((c) => ({ conversation: c.conversation, seq: Number(c.seq) })), limit: k.value.limit };
    case 'history':
      return { op: 'history', conversation: k.value.conversation, beforeSeq: Number(k.value.beforeSeq), limit: k.value.limit };
    case 'openDirect':
      return { op: 'open_direct', peer: k.value.peer };
    case 'ping':
      return 'pong';
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
    case 'presenceSubscribe':
      return { op: 'presence_subscribe', users: [...k.value.users] };
    case 'typing':
      return { op: 'typing', conversation: k.value.conversation };
    case 'presenceSettings':
      return { op: 'presence_settings', hideLastSeen: k.value.hideLastSeen };
    default:
      throw new Error(`no valid frame of kind ${k.case}`);
  }
}

function count(m: Model, input: FuzzInput, outcome: string): void {
  m.stats.frames++;
  m.stats.outcomes.set(outcome, (m.stats.outcomes.get(outcome) ?? 0) + 1);
  m.stats.bySource.set(input.source, (m.stats.bySource.get(input.source) ?? 0) + 1);
}

/** One inbound frame: any input (valid ones are checked against the model's prediction). */
export class FrameCmd implements fc.Command<Model, Real> {
  constructor(
    readonly input: FuzzInput & { frame?: ClientFrame },
    readonly dt: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    m.now += this.dt;
    const inflight = [...m.pending.values()].filter((p) => p.op === 'send').length;
    const fed = feed(r.s, m.limits, this.input, m.now);
    count(m, this.input, fed.outcome);
    // Any frame, decodable or not, counts as traffic (a decode error touches the session in the shell).
    m.lastSeen = m.now;
    const valid = this.input.frame && this.input.enc === m.encoding;
    if (valid) {
      const f = this.input.frame!;
      const want = expectedOp(f);
      const limited = fed.outcome === 'rate_limited';
      if (want === 'pong') {
        if (fed.outcome !== 'pong' || fed.reply?.reqId !== f.reqId) fail(`a ping got ${fed.outcome}`, this.input);
      } else if (limited && (m.tight || (want.op === 'send' && inflight >= m.limits.maxInflightSends))) {
        const e = fed.reply!.kind.value as { retryAfterMs: number };
        if (!(e.retryAfterMs > 0)) fail('rate_limited without retry_after_ms', this.input);
      } else if (want.op === 'send' && inflight >= m.limits.maxInflightSends) {
        fail(`send over the in-flight cap got ${fed.outcome}`, this.input);
      } else if (want.op === 'typing' && m.now - m.lastTypingAt < m.limits.typingIntervalMs) {
        if (fed.outcome !== 'none') fail(`typing within the interval got ${fed.outcome}`, this.input);
      } else {
        if (fed.effect?.kind !== 'forward') fail(`a valid frame got ${fed.outcome}${fed.reply ? ': ' + jsonish(fed.reply.kind.value) : ''}`, this.input);
        if (jsonish(fed.effect.op) !== jsonish(want)) fail(`forwarded ${jsonish(fed.effect.op)}, expected ${jsonish(want)}`, this.input);
      }
    }
    if (fed.effect?.kind === 'forward') {
      const op = fed.effect.op;
      if (m.pending.has(fed.effect.id)) fail(`id ${fed.effect.id} reused`, this.input);
      const conversation = 'conversation' in op ? op.conversation : '';
      m.pending.set(fed.effect.id, { op: op.op, reqId: fed.frame!.reqId, conversation, clientMsgId: op.op === 'send' ? op.clientMsgId : '' });
      if (op.op === 'typing') m.lastTypingAt = m.now;
    }
    checkInvariants(m, r.s, `frame ${describeInput(this.input)}`);
  }
  toString(): string {
    return `frame(+${this.dt}ms ${describeInput(this.input)})`;
  }
}

/** How the host answers one pending request (its shape is picked when the op is known). */
interface Answer {
  pick: number;
  variant: number;
  code: ErrorCode;
  seq: number;
  hasMore: boolean;
  convs: Array<{ c: number; next: number; resync: boolean }>;
}

function msg(conversation: string, seq: number): StoredMessage {
  return { conversation, seq, messageId: `m${seq}`, sender: 'bob', senderDevice: 'd', clientMsgId: `c${seq}`, body: `b${seq}`, meta: {}, serverTs: T0 + seq };
}

function resultFor(p: Pending, a: Answer): CoreResult {
  if (a.variant % 5 === 0) return { r: 'error', code: a.code, message: 'fuzz', retryAfterMs: a.code === 'rate_limited' ? 10 : 0 };
  const conv = p.conversation || CONVERSATIONS[a.seq % CONVERSATIONS.length];
  switch (p.op) {
    case 'send':
      return { r: 'send_ack', ack: { conversation: conv, clientMsgId: p.clientMsgId, messageId: 'x', seq: a.seq, serverTs: T0, duplicate: a.variant % 2 === 0 } };
    case 'sync': {
      const conversations = a.convs.map(({ c, next, resync }) => ({ conversation: CONVERSATIONS[c % CONVERSATIONS.length], lastSeq: next + (a.hasMore ? 3 : 0), firstSeq: 1, resyncRequired: resync, nextCursor: next }));
      const messages = conversations.filter((c) => c.nextCursor > 0).map((c) => msg(c.conversation, c.nextCursor));
      return { r: 'sync_page', page: { messages, conversations, hasMore: a.hasMore, receipts: [] } };
    }
    case 'history':
      return { r: 'history_page', page: { conversation: conv, messages: a.seq > 0 ? [msg(conv, a.seq)] : [], hasMore: a.hasMore, firstSeq: 1 } };
    case 'member_receipts':
      return { r: 'member_receipts', detail: { conversation: conv, seq: a.seq, delivered: ['bob'], read: [], members: 2 } };
    case 'create_group':
    case 'add_members':
    case 'remove_members':
    case 'leave_group':
    case 'set_subject':
      return { r: 'group_info', info: { conversation: conv, subject: 's', members: [{ user: 'alice', role: 'admin' }, { user: 'bob', role: 'member' }], seq: a.seq } };
    case 'presence_subscribe':
    case 'presence_settings':
      return { r: 'presence', users: [{ user: 'bob', online: a.hasMore, lastSeenMs: a.hasMore ? 0 : T0, lastSeenHidden: false }] };
    case 'list':
      return { r: 'conversations', list: [] };
    default:
      return { r: 'ok' };
  }
}

/** The host answers one pending request. */
class ReplyCmd implements fc.Command<Model, Real> {
  constructor(readonly a: Answer) {}
  check(m: Readonly<Model>): boolean {
    return m.pending.size > 0;
  }
  run(m: Model, r: Real): void {
    const ids = [...m.pending.keys()].sort((x, y) => x - y);
    const id = ids[this.a.pick % ids.length];
    const p = m.pending.get(id)!;
    const res = resultFor(p, this.a);
    let f: ServerFrame | null;
    try {
      f = onResult(r.s, id, res);
    } catch (e) {
      fail(`onResult threw for ${jsonish(res)}: ${(e as Error)?.stack ?? e}`);
    }
    m.pending.delete(id);
    if (res.r === 'ok') {
      if (f !== null) fail(`an ok result produced ${jsonish(f)}`);
    } else {
      if (!f || f.reqId !== p.reqId) fail(`result for req_id ${p.reqId} answered with ${jsonish(f)}`);
      checkReply(f, m.encoding);
      if (res.r === 'error' && p.op === 'send') {
        const e = f.kind.value as { conversation: string; clientMsgId: string };
        if (e.conversation !== p.conversation || e.clientMsgId !== p.clientMsgId) fail('a send error does not name its send');
      }
    }
    if (p.op === 'sync' && res.r === 'sync_page') {
      for (const c of res.page.conversations) {
        const prev = m.sentUpTo.get(c.conversation) ?? 0;
        m.sentUpTo.set(c.conversation, c.resyncRequired ? c.nextCursor : Math.max(prev, c.nextCursor));
      }
      m.chainOpen = res.page.hasMore;
      if (!res.page.hasMore) m.synced = true;
    }
    if (p.op === 'send' && res.r === 'send_ack') {
      const prev = m.sentUpTo.get(res.ack.conversation);
      if (prev !== undefined && res.ack.seq === prev + 1) m.sentUpTo.set(res.ack.conversation, res.ack.seq);
    }
    checkInvariants(m, r.s, `reply ${p.op} -> ${res.r}`);
  }
  toString(): string {
    return `reply(${jsonish(this.a)})`;
  }
}

/** A late or forged host reply for an id that is not pending: ignored. */
class StaleReplyCmd implements fc.Command<Model, Real> {
  constructor(readonly id: number) {}
  check(m: Readonly<Model>): boolean {
    return !m.pending.has(this.id);
  }
  run(m: Model, r: Real): void {
    if (onResult(r.s, this.id, { r: 'ok' }) !== null) fail(`a reply for id ${this.id}, which is not pending, produced a frame`);
    checkInvariants(m, r.s, `stale reply ${this.id}`);
  }
  toString(): string {
    return `stale(${this.id})`;
  }
}

/** A live push of (conversation, seq). */
class DeliverCmd implements fc.Command<Model, Real> {
  constructor(
    readonly c: number,
    readonly seq: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const conversation = CONVERSATIONS[this.c % CONVERSATIONS.length];
    const syncing = [...m.pending.values()].some((p) => p.op === 'sync');
    const sent = m.sentUpTo.get(conversation);
    const want = m.synced && !syncing && !m.chainOpen && (sent === undefined || this.seq > sent);
    const got = onDeliver(r.s, { conversation, seq: this.seq });
    if (got !== want) fail(`push ${conversation}#${this.seq}: ${got}, model ${want} (synced ${m.synced}, syncing ${syncing}, chain ${m.chainOpen}, sent ${sent})`);
    if (got) m.sentUpTo.set(conversation, this.seq);
    checkInvariants(m, r.s, `deliver ${conversation}#${this.seq}`);
  }
  toString(): string {
    return `deliver(${CONVERSATIONS[this.c % CONVERSATIONS.length]}#${this.seq})`;
  }
}

/** Time passes; the heartbeat sweep asks whether to close. */
class TickCmd implements fc.Command<Model, Real> {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    m.now += this.ms;
    const want = m.now - m.lastSeen > m.limits.idleTimeoutMs ? 'idle' : m.expMs > 0 && m.now >= m.expMs ? 'token' : null;
    const got = expiry(r.s, m.limits, m.now);
    if (got !== want) fail(`expiry at +${m.now - T0}ms: ${got}, model ${want}`);
    if (got !== null) reconnect(m, r, m.encoding); // the shell closes it; the client comes back
    checkInvariants(m, r.s, `tick ${this.ms}`);
  }
  toString(): string {
    return `tick(${this.ms})`;
  }
}

function reconnect(m: Model, r: Real, encoding: Encoding): void {
  m.encoding = encoding;
  m.pending = new Map();
  m.synced = false;
  m.chainOpen = false;
  m.sentUpTo = new Map();
  m.lastTypingAt = -Infinity;
  m.lastSeen = m.now;
  m.expMs = m.now + 3_600_000;
  r.s = newSession(r.s.conn + 1, 'alice', 'phone', encoding, m.expMs, m.limits, m.now);
}

/**
 * The socket closes (the shell drops its pending replies) and the client reconnects
 * and authenticates again, in the same encoding (a run is one client's encoding).
 */
class ReconnectCmd implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    reconnect(m, r, m.encoding);
    checkInvariants(m, r.s, 'reconnect');
  }
  toString(): string {
    return 'reconnect';
  }
}

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** The command mix for one connection's life. */
export function sessionCommands(limits: Limits, enc: Encoding): Array<fc.Arbitrary<fc.Command<Model, Real>>> {
  const dt = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 200 }) }, { weight: 1, arbitrary: fc.integer({ min: 200, max: 5_000 }) });
  const anyFrame = fc.tuple(anyInput(limits, enc), dt).map(([i, t]) => new FrameCmd(i, t));
  const validFrame = fc.tuple(validInput(limits, enc), dt).map(([i, t]) => new FrameCmd(i, t));
  const reply = fc
    .record({
      pick: fc.nat(),
      variant: fc.nat(),
      code: fc.constantFrom(...CODES),
      seq: fc.integer({ min: 0, max: 40 }),
      hasMore: fc.boolean(),
      convs: fc.array(fc.record({ c: fc.nat(), next: fc.integer({ min: 0, max: 40 }), resync: fc.boolean() }), { maxLength: 3 }),
    })
    .map((a) => new ReplyCmd(a));
  // One weighted pick per command: mostly frames, replies often enough that pending
  // requests get answered, and reconnects rare enough that rate limits can be reached.
  return [
    fc.oneof(
      { weight: 12, arbitrary: anyFrame },
      { weight: 8, arbitrary: validFrame },
      { weight: 8, arbitrary: reply },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 30 }).map((id) => new StaleReplyCmd(id)) },
      { weight: 4, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 45 })).map(([c, s]) => new DeliverCmd(c, s)) },
      { weight: 2, arbitrary: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 50_000, max: 70_000 })).map((ms) => new TickCmd(ms)) },
      { weight: 1, arbitrary: fc.constant(new ReconnectCmd()) },
    ),
  ];
}

/** One client's connections: the fast-check arbitrary of (tight limits?, encoding, commands). */
export function sessionRun(base: Limits, maxCommands: number): fc.Arbitrary<[boolean, Encoding, Iterable<fc.Command<Model, Real>>]> {
  const loose = fuzzLimits(base, false);
  const byEnc = { json: fc.commands(sessionCommands(loose, 'json'), { maxCommands, size: 'max' }), proto: fc.commands(sessionCommands(loose, 'proto'), { maxCommands, size: 'max' }) };
  return fc.tuple(fc.boolean(), fc.constantFrom<Encoding>('json', 'proto')).chain(([tight, enc]) => byEnc[enc].map((cmds) => [tight, enc, cmds] as [boolean, Encoding, Iterable<fc.Command<Model, Real>>]));
}

/** Run one generated life; `stats` collects counts across runs. */
export function runSession(base: Limits, tight: boolean, encoding: Encoding, cmds: Iterable<fc.Command<Model, Real>>, stats: Stats): void {
  fc.modelRun(() => initial(fuzzLimits(base, tight), tight, encoding, stats), cmds);
}
