/**
 * ChatService: the delivery contract of one node.
 *
 *   send  -> membership check -> dedup (in-flight map, then the durable key)
 *         -> next seq -> batch writer -> durable -> ack + push to online devices
 *   ack / read -> device cursors (watermarks) -> member receipts to the others
 *   sync  -> pages of everything after the device's cursors, in seq order
 *   history -> pages backwards from a seq
 *
 * Ordering: seqs are assigned and submitted to the FIFO writer in the same tick, so
 * a conversation's messages commit, ack and fan out in seq order. `committed` (the
 * highest durable seq per conversation) moves in the same synchronous block that
 * posts the deliveries, which is what lets a sync page and live pushes hand over
 * without a gap (see sync()).
 */
import type { MessageStore } from '../store/store.js';
import type { Conversation, StoredMessage, WriteOp } from '../store/types.js';
import { ChatError } from './errors.js';
import { directConversationId, ID_PATTERN, newMessageId } from './ids.js';
import { CursorBook, type MemberReceipt } from './receipts.js';
import type { ConnRef, ConnectionRegistry } from './registry.js';

export interface Writer {
  submit(op: WriteOp): Promise<void>;
}

/** Where the service sends what it pushes; the host routes it to socket shards. */
export interface Outbox {
  /** t0: when the send arrived (ms since epoch), carried for send->deliver timing. */
  deliver(to: ConnRef[], message: StoredMessage, t0?: number): void;
  receipts(to: ConnRef[], receipts: MemberReceipt[]): void;
}

export interface ServiceLimits {
  maxMessageBytes: number;
  defaultSyncPage: number;
  maxSyncPage: number;
  maxHistoryPage: number;
  maxConversationMembers: number;
  retentionMessages: number;
}

export interface Caller {
  user: string;
  device: string;
  /** The connection the request came on (excluded from its own pushes); null for HTTP. */
  conn: ConnRef | null;
  /** When the request arrived (ms since epoch); 0 = unknown. */
  t0?: number;
}

export interface SendInput {
  conversation: string;
  clientMsgId: string;
  body: string;
  meta: Record<string, string>;
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

interface ConvState {
  conv: Conversation;
  memberSet: Set<string>;
  /** Highest seq handed out (>= committed). */
  assigned: number;
  /** Highest durable seq whose deliveries have been posted. */
  committed: number;
  firstSeq: number;
  cursors: CursorBook;
}

export class ChatService {
  private readonly convs = new Map<string, ConvState>();
  private readonly loading = new Map<string, Promise<ConvState | null>>();
  private readonly inflight = new Map<string, Promise<SendAck>>();
  private readonly userConvs = new Map<string, Promise<string[]>>();

  constructor(
    private readonly store: MessageStore,
    private readonly writer: Writer,
    private readonly registry: ConnectionRegistry,
    private readonly outbox: Outbox,
    private readonly limits: ServiceLimits,
    private readonly now: () => number = Date.now,
  ) {}

  // ------------------------------------------------------------------ conversations

  /** Find or create the 1:1 conversation of two users (idempotent, deterministic id). */
  async openDirect(user: string, peer: string): Promise<Conversation> {
    if (!ID_PATTERN.test(peer)) throw new ChatError('invalid_argument', 'peer: must be 1..128 chars of [A-Za-z0-9._:@-]');
    if (peer === user) throw new ChatError('forbidden', 'a direct conversation needs two different users');
    const id = directConversationId(user, peer);
    const existing = await this.state(id);
    if (existing) return existing.conv;
    const conv: Conversation = {
      id,
      kind: 'direct',
      members: [user, peer].sort().map((u) => ({ user: u, role: 'member' as const })),
      createdAt: this.now(),
      subject: '',
    };
    await this.writer.submit({ kind: 'conversation', conversation: conv });
    this.loading.delete(id);
    this.userConvs.delete(user);
    this.userConvs.delete(peer);
    const st = await this.state(id);
    if (!st) throw new ChatError('unavailable', 'conversation was not readable after creation');
    return st.conv;
  }

  async listConversations(user: string): Promise<Array<{ conv: Conversation; lastSeq: number }>> {
    const ids = await this.conversationsOf(user);
    const out: Array<{ conv: Conversation; lastSeq: number }> = [];
    for (const id of ids) {
      const st = await this.state(id);
      if (st && st.memberSet.has(user)) out.push({ conv: st.conv, lastSeq: st.committed });
    }
    return out;
  }

  // ------------------------------------------------------------------ send

  async send(caller: Caller, input: SendInput): Promise<SendAck> {
    if (!input.clientMsgId || input.clientMsgId.length > 64) {
      throw new ChatError('invalid_argument', 'client_msg_id: must be 1..64 characters');
    }
    let size = Buffer.byteLength(input.body);
    for (const [k, v] of Object.entries(input.meta)) size += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (size > this.limits.maxMessageBytes) {
      throw new ChatError('limit_exceeded', `body and meta are ${size} bytes; the limit is ${this.limits.maxMessageBytes}`);
    }
    const st = await this.member(caller.user, input.conversation);
    const key = `${st.conv.id}\u0000${caller.user}\u0000${input.clientMsgId}`;
    const pending = this.inflight.get(key);
    if (pending) return { ...(await pending), duplicate: true };
    const p = this.doSend(st, caller, input);
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      this.inflight.delete(key);
    }
  }

  private async doSend(st: ConvState, caller: Caller, input: SendInput): Promise<SendAck> {
    const prior = await this.store.findByClientMsgId(st.conv.id, caller.user, input.clientMsgId);
    if (prior) return ackOf(prior, true);
    // A write failed while we awaited: the counters were dropped, reload them rather
    // than hand out a seq after one that was never stored.
    if (this.convs.get(st.conv.id) !== st) st = await this.member(caller.user, input.conversation);
    // Assign and submit in one tick: FIFO writer order == seq order.
    const seq = ++st.assigned;
    const message: StoredMessage = {
      conversation: st.conv.id,
      seq,
      messageId: newMessageId(),
      sender: caller.user,
      senderDevice: caller.device,
      clientMsgId: input.clientMsgId,
      body: input.body,
      meta: input.meta,
      serverTs: this.now(),
    };
    try {
      await this.writer.submit({ kind: 'message', message });
    } catch (e) {
      // The seq was not stored. Reload the counter from the store before the next
      // assignment so no seq is skipped (the writer fails everything queued behind a
      // failed batch, so nothing after this seq was stored either).
      this.invalidate(st.conv.id);
      throw e;
    }
    this.onCommitted(st, message, caller.conn, caller.t0 ?? 0);
    return ackOf(message, false);
  }

  /** Runs synchronously after a message is durable: move `committed`, fan out. */
  private onCommitted(st: ConvState, message: StoredMessage, origin: ConnRef | null, t0: number): void {
    if (message.seq > st.committed) st.committed = message.seq;
    const to: ConnRef[] = [];
    for (const m of st.conv.members) {
      for (const ref of this.registry.connectionsOf(m.user)) {
        if (origin && ref.shard === origin.shard && ref.conn === origin.conn) continue;
        to.push(ref);
      }
    }
    if (to.length) this.outbox.deliver(to, message, t0);
    this.maybeTrim(st);
  }

  private maybeTrim(st: ConvState): void {
    const keep = this.limits.retentionMessages;
    if (keep <= 0) return;
    // Trim in steps of 10% so retention costs one write per many messages.
    const slack = Math.max(1, Math.floor(keep / 10));
    if (st.committed - st.firstSeq + 1 <= keep + slack) return;
    const firstSeq = st.committed - keep + 1;
    st.firstSeq = firstSeq;
    this.writer.submit({ kind: 'trim', conversation: st.conv.id, firstSeq }).catch(() => {
      /* retried on the next message */
    });
  }

  // ------------------------------------------------------------------ receipts

  async ack(caller: Caller, conversation: string, seq: number): Promise<void> {
    await this.moveCursor(caller, conversation, seq, 0);
  }

  async read(caller: Caller, conversation: string, seq: number): Promise<void> {
    await this.moveCursor(caller, conversation, seq, seq);
  }

  private async moveCursor(caller: Caller, conversation: string, delivered: number, read: number): Promise<void> {
    const st = await this.member(caller.user, conversation);
    // A device cannot acknowledge what does not exist yet.
    const cap = st.committed;
    const { changed, receipts } = st.cursors.apply(caller.user, caller.device, Math.min(delivered, cap), Math.min(read, cap));
    if (!changed) return;
    // Cursors are persisted through the writer but not awaited: a lost cursor update
    // only means a device may be re-sent messages it has, which it dedups by seq.
    this.writer.submit({ kind: 'cursor', cursor: changed }).catch(() => {});
    if (receipts.length === 0) return;
    const to: ConnRef[] = [];
    for (const m of st.conv.members) {
      for (const ref of this.registry.connectionsOf(m.user)) {
        if (caller.conn && ref.shard === caller.conn.shard && ref.conn === caller.conn.conn) continue;
        to.push(ref);
      }
    }
    if (to.length) this.outbox.receipts(to, receipts);
  }

  // ------------------------------------------------------------------ sync & history

  /**
   * One page of everything after the given cursors. Conversations without a cursor
   * start at 0. The page is cut at `limit` messages; the caller repeats with
   * nextCursor until hasMore is false.
   *
   * Hand-over to live pushes: a message committed before the final check below is in
   * this page or flips hasMore; one committed after it is pushed live, and pushes
   * leave the host in a later macrotask (host/outbox.ts) than this reply, which is
   * posted from microtasks, so the shard sees the page first.
   */
  async sync(caller: Caller, cursors: Array<{ conversation: string; seq: number }>, limit: number): Promise<SyncPage> {
    const pageLimit = clampLimit(limit, this.limits.defaultSyncPage, this.limits.maxSyncPage);
    const given = new Map(cursors.map((c) => [c.conversation, c.seq]));
    const ids = [...(await this.conversationsOf(caller.user))].sort();
    const messages: StoredMessage[] = [];
    const infos: ConversationSyncInfo[] = [];
    const states: ConvState[] = [];
    for (const id of ids) {
      const st = await this.state(id);
      if (!st || !st.memberSet.has(caller.user)) continue;
      states.push(st);
      let from = given.get(id) ?? 0;
      const resyncRequired = from < st.firstSeq - 1;
      if (resyncRequired) from = st.firstSeq - 1;
      let next = from;
      const room = pageLimit - messages.length;
      if (room > 0 && from < st.committed) {
        const got = await this.store.readAfter(id, from, Math.min(room, st.committed - from));
        for (const m of got) if (m.seq <= st.committed) messages.push(m);
        if (got.length) next = got[got.length - 1].seq;
      }
      infos.push({ conversation: id, lastSeq: st.committed, firstSeq: st.firstSeq, resyncRequired, nextCursor: next });
    }
    // The hand-over check (synchronous from here to the reply).
    let hasMore = false;
    for (let i = 0; i < infos.length; i++) {
      infos[i].lastSeq = states[i].committed;
      if (infos[i].nextCursor < states[i].committed) hasMore = true;
    }
    const receipts = hasMore ? [] : states.flatMap((s) => s.cursors.memberReceipts().filter((r) => r.user !== caller.user));
    return { messages, conversations: infos, hasMore, receipts };
  }

  /** `caller` null: an app backend over the HTTP API, which may read any conversation. */
  async history(caller: Caller | null, conversation: string, beforeSeq: number, limit: number): Promise<HistoryPage> {
    const st = await this.member(caller ? caller.user : null, conversation);
    const n = clampLimit(limit, Math.min(50, this.limits.maxHistoryPage), this.limits.maxHistoryPage);
    const before = beforeSeq > 0 ? Math.min(beforeSeq, st.committed + 1) : st.committed + 1;
    const got = await this.store.readBefore(conversation, before, n);
    const messages = got.filter((m) => m.seq <= st.committed);
    const oldest = messages.length ? messages[messages.length - 1].seq : before;
    return { conversation, messages, hasMore: oldest > st.firstSeq, firstSeq: st.firstSeq };
  }

  // ------------------------------------------------------------------ state

  private async member(user: string | null, conversation: string): Promise<ConvState> {
    if (!conversation) throw new ChatError('invalid_argument', 'conversation: required');
    const st = await this.state(conversation);
    if (!st || (user !== null && !st.memberSet.has(user))) {
      throw new ChatError('not_member', `not a member of conversation ${conversation}`);
    }
    return st;
  }

  private conversationsOf(user: string): Promise<string[]> {
    let p = this.userConvs.get(user);
    if (!p) {
      p = this.store.listUserConversations(user);
      this.userConvs.set(user, p);
      p.catch(() => this.userConvs.delete(user));
    }
    return p;
  }

  private state(id: string): Promise<ConvState | null> {
    const have = this.convs.get(id);
    if (have) return Promise.resolve(have);
    let p = this.loading.get(id);
    if (!p) {
      p = this.load(id);
      this.loading.set(id, p);
      p.then(
        () => this.loading.delete(id),
        () => this.loading.delete(id),
      );
    }
    return p;
  }

  private async load(id: string): Promise<ConvState | null> {
    const conv = await this.store.getConversation(id);
    if (!conv) return null;
    const [last, first, cursors] = await Promise.all([
      this.store.lastSeq(id),
      this.store.firstSeq(id),
      this.store.getCursors(id),
    ]);
    const raced = this.convs.get(id);
    if (raced) return raced;
    const st: ConvState = {
      conv,
      memberSet: new Set(conv.members.map((m) => m.user)),
      assigned: last,
      committed: last,
      firstSeq: first,
      cursors: new CursorBook(id, cursors),
    };
    this.convs.set(id, st);
    return st;
  }

  /** Forget the cached counters of a conversation; the next use reloads them. */
  private invalidate(id: string): void {
    this.convs.delete(id);
  }

  /**
   * The store failed a batch. Called by the writer's sink before any promise of the
   * batch settles, so no send can take a seq from a counter that ran past an unstored
   * one; the writer fails everything queued behind the batch too.
   */
  writeFailed(): void {
    this.convs.clear();
  }
}

function ackOf(m: StoredMessage, duplicate: boolean): SendAck {
  return {
    conversation: m.conversation,
    clientMsgId: m.clientMsgId,
    messageId: m.messageId,
    seq: m.seq,
    serverTs: m.serverTs,
    duplicate,
  };
}

function clampLimit(asked: number, dflt: number, max: number): number {
  if (!asked || asked <= 0) return dflt;
  return Math.min(asked, max);
}
