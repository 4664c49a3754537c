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
 * a conversation's messages commit, ack and fan out in seq order. Seqs come only from
 * the one live cached state of a conversation this node owns, under the ownership
 * epoch it was loaded with (sequencer.ts: the rule, as a pure state machine; this
 * class is its I/O shell), and every write carries that epoch. `committed` (the
 * highest durable seq per conversation) moves in the same synchronous block that
 * posts the deliveries, which is what lets a sync page and live pushes hand over
 * without a gap (see sync()).
 */
import type { MessageStore } from '../store/store.js';
import type { Conversation, Member, StoredMessage, WriteOp } from '../store/types.js';
import { randomBytes } from 'node:crypto';
import { CatalogError } from '../../protocol/errors.js';
import { directConversationId, ID_PATTERN, newMessageId } from './ids.js';
import { CursorBook } from './receipts.js';
import type { ConnRef, ConnectionRegistry } from './registry.js';
import { GroupReceiptTracker } from './group_receipts.js';
import { PresenceService } from './presence_service.js';
import { loaded, SINGLE_NODE_EPOCH, step, type SeqEffect, type SeqEvent } from './sequencer.js';

import type {
  Caller,
  ClusterHooks,
  ConvState,
  Outbox,
  SendInput,
  ServiceLimits,
  Writer,
} from './chat_types.js';
import { checkSubject, checkUsers, infoOf, isAdmin, promoteIfNoAdmin } from './group_rules.js';
import type { ConversationSyncInfo, GroupInfo, HistoryPage, MemberReceiptsDetail, SendAck, SyncPage } from './ops.js';

export type {
  Writer,
  Outbox,
  ServiceLimits,
  Caller,
  ClusterHooks,
  RemoteOrigin,
  SendInput,
} from './chat_types.js';
export { MAX_SUBJECT_CHARS } from './chat_types.js';

export class ChatService {
  private readonly convs = new Map<string, ConvState>();
  /** Loads in flight, each under the epoch it will be cached for. */
  private readonly loading = new Map<string, { epoch: number; p: Promise<ConvState | null> }>();
  private readonly inflight = new Map<string, Promise<SendAck>>();
  private readonly userConvs = new Map<string, Promise<string[]>>();
  private readonly groupReceipts = new GroupReceiptTracker();
  /** Group conversation -> when its aggregate flush is due (one timer each). */
  private readonly receiptFlush = new Map<string, NodeJS.Timeout>();
  private readonly lastReceiptFlush = new Map<string, number>();
  readonly presence: PresenceService;
  /** Set by a clustered host (node/cluster/); null on a single node. */
  cluster: ClusterHooks | null = null;
  /**
   * Conversations owned by other nodes: the highest seq whose delivery reached this
   * node. sync() reads such conversations fresh from the store and then raises their
   * last seq to this, in the same synchronous block that decides has_more, which is
   * how a page and the pushes forwarded by the owner hand over without a gap.
   */
  private readonly remoteSeen = new Map<string, number>();

  constructor(
    private readonly store: MessageStore,
    private readonly writer: Writer,
    private readonly registry: ConnectionRegistry,
    private readonly outbox: Outbox,
    private readonly limits: ServiceLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.presence = new PresenceService(
      { store, writer, push: (to, p) => this.outbox.push?.(to, p), now, onHidden: (u, h) => this.cluster?.presenceSetting(u, h) },
      {
        maxSubscriptions: limits.maxPresenceSubscriptions ?? 256,
        debounceMs: limits.presenceOfflineDebounceMs ?? 5_000,
        intervalMs: limits.presenceIntervalMs ?? 1_000,
      },
    );
    // The registry outlives a restart of this service: start from who is online now.
    const online = registry.observe((ev, ref) => (ev === 'open' ? this.presence.opened(ref) : this.presence.closed(ref)));
    for (const ref of online) this.presence.opened(ref);
  }

  /** Stop timers (the host calls this when the chat child stops). */
  close(): void {
    this.presence.stop();
    for (const t of this.receiptFlush.values()) clearTimeout(t);
    this.receiptFlush.clear();
  }

  // ------------------------------------------------------------------ conversations

  /** Find or create the 1:1 conversation of two users (idempotent, deterministic id). */
  async openDirect(user: string, peer: string): Promise<Conversation> {
    if (!ID_PATTERN.test(peer)) throw new CatalogError('invalid_argument', 'peer: must be 1..128 chars of [A-Za-z0-9._:@-]');
    if (peer === user) throw new CatalogError('forbidden', 'a direct conversation needs two different users');
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
    await this.writer.submit({ kind: 'conversation', conversation: conv }, this.ownedEpoch(id));
    this.loading.delete(id);
    this.userConvs.delete(user);
    this.userConvs.delete(peer);
    const st = await this.state(id);
    if (!st) throw new CatalogError('unavailable', 'conversation was not readable after creation');
    return st.conv;
  }

  async listConversations(user: string): Promise<Array<{ conv: Conversation; lastSeq: number }>> {
    const ids = await this.conversationsOf(user);
    const out: Array<{ conv: Conversation; lastSeq: number }> = [];
    for (const id of ids) {
      const st = await this.state(id);
      if (st && st.memberSet.has(user)) out.push({ conv: st.conv, lastSeq: st.seq.committed });
    }
    return out;
  }

  // ------------------------------------------------------------------ send

  async send(caller: Caller, input: SendInput): Promise<SendAck> {
    if (!input.clientMsgId || input.clientMsgId.length > 64) {
      throw new CatalogError('invalid_argument', 'client_msg_id: must be 1..64 characters');
    }
    // System messages (membership changes) are the server's to write; no client may forge one.
    if ('system' in input.meta) throw new CatalogError('invalid_argument', 'meta.system: reserved for server messages');
    let size = Buffer.byteLength(input.body);
    for (const [k, v] of Object.entries(input.meta)) size += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (size > this.limits.maxMessageBytes) {
      throw new CatalogError('limit_exceeded', `body and meta are ${size} bytes; the limit is ${this.limits.maxMessageBytes}`);
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
    // While we awaited, a write may have failed or the shard may have moved (and even
    // come back under a new epoch): take the live state now, never the one we held.
    st = await this.sequencing(caller.user, input.conversation);
    // Assign and submit in one tick: FIFO writer order == seq order.
    const { first: seq, epoch } = this.assign(st, 1);
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
      await this.writer.submit({ kind: 'message', message }, epoch);
    } catch (e) {
      // The seq was not stored. Retire the state: the next assignment reloads the
      // counter from the store, so no seq is skipped (the writer fails everything
      // queued behind a failed batch, so nothing after this seq was stored either).
      this.feed(st, { t: 'write_failed' });
      throw e;
    }
    this.onCommitted(st, message, caller);
    return ackOf(message, false);
  }

  /** Runs synchronously after a message is durable: move `committed`, fan out. */
  private onCommitted(st: ConvState, message: StoredMessage, caller: Caller, recipients: Iterable<string> = st.conv.members.map((m) => m.user)): void {
    // Acked, so delivered, even from a state retired meanwhile: it is durable.
    this.feed(st, { t: 'durable', seq: message.seq });
    if (st.conv.kind === 'group' && !message.meta.system) this.groupReceipts.track(st.conv.id, message.sender, message.seq);
    const origin = caller.conn;
    const t0 = caller.t0 ?? 0;
    const to: ConnRef[] = [];
    const users = [...recipients];
    for (const user of users) {
      for (const ref of this.registry.connectionsOf(user)) {
        if (origin && ref.shard === origin.shard && ref.conn === origin.conn) continue;
        to.push(ref);
      }
    }
    if (to.length) this.outbox.deliver(to, message, t0);
    this.cluster?.deliver(users, message, caller.origin ?? null, t0);
    this.maybeTrim(st);
  }

  /**
   * A delivery forwarded by the owner of `conversation` reached this node (called
   * synchronously before it is handed to the local sockets; see remoteSeen).
   */
  remoteDelivered(conversation: string, seq: number): void {
    if ((this.remoteSeen.get(conversation) ?? 0) >= seq) return;
    // Bounded: forgetting a watermark only narrows the hand-over for a sync that is in
    // flight at that very moment; the next sync or push closes any gap.
    if (this.remoteSeen.size >= 100_000) this.remoteSeen.clear();
    this.remoteSeen.set(conversation, seq);
  }

  /**
   * Drop cached state of the conversations `which` selects (their shard moved). The
   * states are retired, so a send still holding one cannot take a seq from it.
   */
  forget(which: (conversation: string) => boolean): void {
    for (const [id, st] of [...this.convs]) if (which(id)) this.feed(st, { t: 'epoch', epoch: null });
    for (const id of [...this.loading.keys()]) if (which(id)) this.loading.delete(id);
    for (const id of [...this.remoteSeen.keys()]) if (which(id)) this.remoteSeen.delete(id);
  }

  private maybeTrim(st: ConvState): void {
    const keep = this.limits.retentionMessages;
    if (keep <= 0) return;
    // Trim in steps of 10% so retention costs one write per many messages.
    const slack = Math.max(1, Math.floor(keep / 10));
    if (st.seq.committed - st.firstSeq + 1 <= keep + slack) return;
    const firstSeq = st.seq.committed - keep + 1;
    st.firstSeq = firstSeq;
    this.writer.submit({ kind: 'trim', conversation: st.conv.id, firstSeq }, st.seq.epoch).catch(() => {
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
    // A device cannot acknowledge what does not exist yet: such a cursor is a client
    // bug (or a store that lost data), and accepting it would withhold live pushes up
    // to it, which the client would silently never get.
    const last = st.seq.committed;
    if (delivered > last || read > last) {
      throw new CatalogError('invalid_argument', `seq: ${Math.max(delivered, read)} is above the conversation's last seq ${last}`);
    }
    const { changed, receipts } = st.cursors.apply(caller.user, caller.device, delivered, read);
    if (!changed) return;
    // Cursors are persisted through the writer but not awaited: a lost cursor update
    // only means a device may be re-sent messages it has, which it dedups by seq.
    this.writer.submit({ kind: 'cursor', cursor: changed }, st.seq.epoch).catch(() => {});
    if (receipts.length === 0) return;
    if (st.conv.kind === 'group') {
      this.scheduleGroupReceipts(st.conv.id);
      return;
    }
    const to: ConnRef[] = [];
    for (const m of st.conv.members) {
      for (const ref of this.registry.connectionsOf(m.user)) {
        if (caller.conn && ref.shard === caller.conn.shard && ref.conn === caller.conn.conn) continue;
        to.push(ref);
      }
    }
    if (to.length) this.outbox.receipts(to, receipts);
    this.cluster?.receipts(st.conv.members.map((m) => m.user), receipts);
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
    /** Conversations read fresh whose page stopped at a hole: the last seq before it. */
    const gapAt = new Map<string, number>();
    for (const id of ids) {
      const st = await this.state(id);
      if (!st || this.visibleUpTo(st, caller.user) < 0) continue;
      states.push(st);
      let from = given.get(id) ?? 0;
      const resyncRequired = from < st.firstSeq - 1;
      if (resyncRequired) from = st.firstSeq - 1;
      let next = from;
      const room = pageLimit - messages.length;
      const upTo = this.visibleUpTo(st, caller.user);
      // Read fresh (owned elsewhere): the store may hold a row above a hole that its
      // owner has not filled yet (a stale owner's unacked write that landed late; the
      // store keeps it, node/store). Hand out only the gapless run, so a device's
      // cursor never passes a seq it has not got. Below what the owner has pushed here
      // (remoteSeen) the seqs are final, and a hole there is one for good.
      const fresh = this.convs.get(id) !== st;
      if (room > 0 && from < upTo) {
        const got = await this.store.readAfter(id, from, Math.min(room, upTo - from));
        const final = this.remoteSeen.get(id) ?? 0;
        for (const m of got) {
          if (m.seq > upTo) break;
          if (fresh && m.seq !== next + 1 && next >= final) {
            gapAt.set(id, next);
            break;
          }
          messages.push(m);
          next = m.seq;
        }
      }
      infos.push({ conversation: id, lastSeq: upTo, firstSeq: st.firstSeq, resyncRequired, nextCursor: next });
    }
    // The hand-over check (synchronous from here to the reply).
    let hasMore = false;
    for (let i = 0; i < infos.length; i++) {
      const st = states[i];
      const id = st.conv.id;
      // A cursor is checked against the last seq the store or the owner knows, not
      // against the gapless run handed out below.
      let last = st.seq.committed;
      if (this.cluster && this.convs.get(id) !== st) {
        const seen = this.remoteSeen.get(id) ?? 0;
        const gap = gapAt.get(id);
        // Above a hole the owner has not reached, the rows are not the conversation's
        // yet: the last seq is the hole's start (or what the owner pushed since).
        const upTo = Math.max(gap ?? st.seq.committed, seen);
        last = Math.max(last, seen);
        st.seq = { ...st.seq, committed: upTo };
      }
      infos[i].lastSeq = Math.max(0, this.visibleUpTo(st, caller.user));
      const asked = given.get(id);
      if (asked !== undefined && asked > last) {
        throw new CatalogError('invalid_argument', `cursors: ${asked} for ${id} is above the conversation's last seq ${last}`);
      }
      if (infos[i].nextCursor < infos[i].lastSeq) hasMore = true;
    }
    // Groups report receipts as aggregates (group_receipts) and on request
    // (member_receipts), not as one watermark per member in every sync page.
    const receipts = hasMore ? [] : states.filter((s) => s.conv.kind === 'direct').flatMap((s) => s.cursors.memberReceipts().filter((r) => r.user !== caller.user));
    return { messages, conversations: infos, hasMore, receipts };
  }

  /** `caller` null: an app backend over the HTTP API, which may read any conversation. */
  async history(caller: Caller | null, conversation: string, beforeSeq: number, limit: number): Promise<HistoryPage> {
    const st = await this.reader(caller ? caller.user : null, conversation);
    const upTo = caller ? this.visibleUpTo(st, caller.user) : st.seq.committed;
    const n = clampLimit(limit, Math.min(50, this.limits.maxHistoryPage), this.limits.maxHistoryPage);
    const before = beforeSeq > 0 ? Math.min(beforeSeq, upTo + 1) : upTo + 1;
    const got = await this.store.readBefore(conversation, before, n);
    const messages = got.filter((m) => m.seq <= upTo);
    const oldest = messages.length ? messages[messages.length - 1].seq : before;
    return { conversation, messages, hasMore: oldest > st.firstSeq, firstSeq: st.firstSeq };
  }

  // ------------------------------------------------------------------ groups

  /**
   * Create a group: the caller is its admin, `members` join as members. Seq 1 is the
   * system message {"system":"group_created"}.
   */
  async createGroup(caller: Caller, subject: string, members: string[], id = newGroupId()): Promise<GroupInfo> {
    checkSubject(subject);
    const others = [...new Set(members)].filter((u) => u !== caller.user);
    checkUsers(others);
    if (others.length + 1 > this.limits.maxConversationMembers) {
      throw new CatalogError('limit_exceeded', `a group of ${others.length + 1} members; the limit is ${this.limits.maxConversationMembers}`);
    }
    if (!/^g_[A-Za-z0-9_-]{22}$/.test(id)) throw new CatalogError('invalid_argument', 'group id: malformed');
    const conv: Conversation = {
      id,
      kind: 'group',
      members: [{ user: caller.user, role: 'admin' as const }, ...others.map((user) => ({ user, role: 'member' as const }))],
      createdAt: this.now(),
      subject,
    };
    const message = this.systemMessage(id, 1, caller, { system: 'group_created', by: caller.user, subject });
    await this.writer.submitMany(
      [
        { kind: 'conversation', conversation: conv },
        { kind: 'message', message },
      ],
      this.ownedEpoch(id),
    );
    for (const m of conv.members) this.userConvs.delete(m.user);
    const st = await this.state(id);
    if (!st) throw new CatalogError('unavailable', 'conversation was not readable after creation');
    this.onCommitted(st, message, caller);
    return infoOf(st, 1);
  }

  async addMembers(caller: Caller, conversation: string, users: string[]): Promise<GroupInfo> {
    const wanted = [...new Set(users)];
    checkUsers(wanted);
    return this.changeGroup(caller, conversation, true, (st) => {
      const add = wanted.filter((u) => !st.memberSet.has(u));
      if (st.memberSet.size + add.length > this.limits.maxConversationMembers) {
        throw new CatalogError('limit_exceeded', `${st.memberSet.size} + ${add.length} members; the limit is ${this.limits.maxConversationMembers}`);
      }
      if (add.length === 0) return null;
      return { add: add.map((user) => ({ user, role: 'member' as const })), remove: [], meta: { system: 'member_added', users: add.join(','), by: caller.user } };
    });
  }

  async removeMembers(caller: Caller, conversation: string, users: string[]): Promise<GroupInfo> {
    const wanted = [...new Set(users)];
    checkUsers(wanted);
    return this.changeGroup(caller, conversation, true, (st) => {
      const remove = wanted.filter((u) => st.memberSet.has(u));
      if (remove.length === 0) return null;
      return { add: promoteIfNoAdmin(st, remove), remove, meta: { system: 'member_removed', users: remove.join(','), by: caller.user } };
    });
  }

  async leaveGroup(caller: Caller, conversation: string): Promise<GroupInfo> {
    return this.changeGroup(caller, conversation, false, (st) => ({
      add: promoteIfNoAdmin(st, [caller.user]),
      remove: [caller.user],
      meta: { system: 'member_left', users: caller.user, by: caller.user },
    }));
  }

  async setSubject(caller: Caller, conversation: string, subject: string): Promise<GroupInfo> {
    checkSubject(subject);
    return this.changeGroup(caller, conversation, true, (st) =>
      st.conv.subject === subject ? null : { add: [], remove: [], subject, meta: { system: 'subject_changed', subject, by: caller.user } },
    );
  }

  /**
   * One membership / subject change, ordered with the messages: the system message
   * takes the next seq, and the change and the message commit in one batch. Who may
   * send and read changes at assignment (a removed user cannot sneak a message in after
   * its removal); who gets pushes changes when the system message commits, and the
   * removed users still get that message, so they learn of it.
   */
  private async changeGroup(
    caller: Caller,
    conversation: string,
    adminOnly: boolean,
    plan: (st: ConvState) => { add: Member[]; remove: string[]; subject?: string; meta: Record<string, string> } | null,
  ): Promise<GroupInfo> {
    const st = await this.sequencing(caller.user, conversation);
    if (st.conv.kind !== 'group') throw new CatalogError('forbidden', 'direct conversations have no membership changes');
    if (adminOnly && !isAdmin(st, caller.user)) throw new CatalogError('forbidden', 'only a group admin may do this');
    const change = plan(st);
    if (!change) return infoOf(st, st.seq.committed);
    // Up to 3 ops (members, subject, message) commit together.
    const { first: seq, epoch } = this.assign(st, 1, 3);
    for (const m of change.add) {
      st.memberSet.add(m.user);
      st.former.delete(m.user);
    }
    for (const u of change.remove) {
      st.memberSet.delete(u);
      st.former.set(u, seq);
    }
    const message = this.systemMessage(st.conv.id, seq, caller, change.meta);
    const ops: WriteOp[] = [{ kind: 'members', conversation: st.conv.id, add: change.add, remove: change.remove.map((user) => ({ user, untilSeq: seq })) }];
    if (change.subject !== undefined) ops.push({ kind: 'subject', conversation: st.conv.id, subject: change.subject });
    ops.push({ kind: 'message', message });
    try {
      await this.writer.submitMany(ops, epoch);
    } catch (e) {
      this.feed(st, { t: 'write_failed' });
      throw e;
    }
    const before = st.conv.members.map((m) => m.user);
    const removed = new Set(change.remove);
    const roles = new Map(change.add.map((m) => [m.user, m.role]));
    const members = st.conv.members.filter((m) => !removed.has(m.user)).map((m) => ({ ...m, role: roles.get(m.user) ?? m.role }));
    for (const m of change.add) if (!members.some((x) => x.user === m.user)) members.push(m);
    st.conv = { ...st.conv, members, subject: change.subject ?? st.conv.subject };
    for (const m of change.add) this.userConvs.delete(m.user);
    this.onCommitted(st, message, caller, new Set([...before, ...members.map((m) => m.user)]));
    if (removed.size) this.scheduleGroupReceipts(st.conv.id);
    return infoOf(st, seq);
  }

  private systemMessage(conversation: string, seq: number, caller: Caller, meta: Record<string, string>): StoredMessage {
    const messageId = newMessageId();
    return { conversation, seq, messageId, sender: caller.user, senderDevice: caller.device, clientMsgId: `sys:${messageId}`, body: '', meta, serverTs: this.now() };
  }

  /** Who of the members (other than its sender) has received / read message `seq`. */
  async memberReceipts(caller: Caller, conversation: string, seq: number): Promise<MemberReceiptsDetail> {
    const st = await this.member(caller.user, conversation);
    if (!Number.isInteger(seq) || seq < st.firstSeq || seq > st.seq.committed) {
      throw new CatalogError('invalid_argument', `seq: must be a stored seq of the conversation (${st.firstSeq}..${st.seq.committed})`);
    }
    const [m] = await this.store.readAfter(conversation, seq - 1, 1);
    const sender = m && m.seq === seq ? m.sender : '';
    const delivered: string[] = [];
    const read: string[] = [];
    let members = 0;
    for (const { user } of st.conv.members) {
      if (user === sender) continue;
      members++;
      const w = st.cursors.watermark(user);
      if (Math.max(w.delivered, w.read) >= seq) delivered.push(user);
      if (w.read >= seq) read.push(user);
    }
    return { conversation, seq, delivered: delivered.sort(), read: read.sort(), members };
  }

  /** Ephemeral: relayed to the other members' online devices, never stored. */
  async typing(caller: Caller, conversation: string): Promise<void> {
    const st = await this.member(caller.user, conversation);
    const untilMs = this.now() + (this.limits.typingTtlMs ?? 6_000);
    const to: ConnRef[] = [];
    for (const m of st.conv.members) {
      if (m.user === caller.user) continue;
      for (const ref of this.registry.connectionsOf(m.user)) to.push(ref);
    }
    if (to.length) this.outbox.push?.(to, { k: 'typing', conversation, user: caller.user, untilMs });
    this.cluster?.push(st.conv.members.map((m) => m.user).filter((u) => u !== caller.user), { k: 'typing', conversation, user: caller.user, untilMs });
  }

  /** At most one aggregate flush per group per interval, however many cursors move. */
  private scheduleGroupReceipts(conversation: string): void {
    if (this.receiptFlush.has(conversation)) return;
    const interval = this.limits.groupReceiptIntervalMs ?? 250;
    const last = this.lastReceiptFlush.get(conversation) ?? -Infinity;
    const wait = Math.max(0, last + interval - this.now());
    const t = setTimeout(() => {
      this.receiptFlush.delete(conversation);
      this.lastReceiptFlush.set(conversation, this.now());
      this.flushGroupReceipts(conversation);
    }, wait);
    t.unref();
    this.receiptFlush.set(conversation, t);
  }

  private flushGroupReceipts(conversation: string): void {
    const st = this.convs.get(conversation);
    if (!st) return;
    const members = st.conv.members.map((m) => m.user);
    for (const c of this.groupReceipts.changes(conversation, members, (u) => st.cursors.watermark(u))) {
      const to = [...this.registry.connectionsOf(c.sender)];
      const push = { k: 'group_receipts' as const, conversation, members: c.members, counts: c.counts };
      if (to.length) this.outbox.push?.(to, push);
      this.cluster?.push([c.sender], push);
    }
  }

  // ------------------------------------------------------------------ state

  private async member(user: string | null, conversation: string): Promise<ConvState> {
    if (!conversation) throw new CatalogError('invalid_argument', 'conversation: required');
    const st = await this.state(conversation);
    if (!st || (user !== null && !st.memberSet.has(user))) {
      throw new CatalogError('not_member', `not a member of conversation ${conversation}`);
    }
    return st;
  }

  /** Like member(), but former members may read too (up to visibleUpTo). */
  private async reader(user: string | null, conversation: string): Promise<ConvState> {
    if (!conversation) throw new CatalogError('invalid_argument', 'conversation: required');
    const st = await this.state(conversation);
    if (!st || (user !== null && this.visibleUpTo(st, user) < 0)) {
      throw new CatalogError('not_member', `not a member of conversation ${conversation}`);
    }
    return st;
  }

  /** The last seq `user` may read: committed for members, the removal for former ones, -1 for others. */
  private visibleUpTo(st: ConvState, user: string): number {
    if (st.memberSet.has(user)) return st.seq.committed;
    const until = st.former.get(user);
    return until === undefined ? -1 : Math.min(until, st.seq.committed);
  }

  private conversationsOf(user: string): Promise<string[]> {
    // In a cluster the owners of this user's conversations are elsewhere and change
    // them without telling this node: read the index every time.
    if (this.cluster) return this.store.listUserConversations(user);
    let p = this.userConvs.get(user);
    if (!p) {
      p = this.store.listUserConversations(user);
      this.userConvs.set(user, p);
      p.catch(() => this.userConvs.delete(user));
    }
    return p;
  }

  /** This node's current epoch for the conversation's shard (null: owned elsewhere or moving). */
  private epochOf(id: string): number | null {
    return this.cluster ? this.cluster.epochOf(id) : SINGLE_NODE_EPOCH;
  }

  /** The current epoch of a conversation this node must own for the op to run here. */
  private ownedEpoch(id: string): number {
    const epoch = this.epochOf(id);
    if (epoch === null) throw new CatalogError('unavailable', `conversation ${id} is owned by another node now; retry`, 250);
    return epoch;
  }

  /**
   * The live cached state of a conversation `user` is a member of, loaded under the
   * current epoch: the only state a seq may come from. Refused (retryable) when the
   * node does not own the conversation now, or lost and re-took it during the load.
   */
  private async sequencing(user: string, conversation: string): Promise<ConvState> {
    this.ownedEpoch(conversation);
    const st = await this.member(user, conversation);
    if (st.seq.retired !== null || st.seq.epoch !== this.epochOf(conversation) || this.convs.get(conversation) !== st) {
      throw new CatalogError('unavailable', `conversation ${conversation} moved while it was loading; retry`, 250);
    }
    return st;
  }

  /** Take `count` seqs from a live state (synchronously: the caller submits in the same tick). */
  private assign(st: ConvState, count: number, ops = count): { first: number; epoch: number } {
    const room = this.writer.room ? this.writer.room() : Number.MAX_SAFE_INTEGER;
    // The queue must take every op of the change; the sequencer counts seqs, so scale.
    const effects = this.feed(st, { t: 'assign', epoch: this.epochOf(st.conv.id), room: Math.floor((room * count) / ops), count });
    for (const f of effects) {
      if (f.t === 'write') return { first: f.first, epoch: f.epoch };
      if (f.t === 'refuse') {
        if (f.code === 'overloaded') throw new CatalogError('overloaded', 'the store write queue is full; retry', 100);
        throw new CatalogError('unavailable', `conversation ${st.conv.id} is moving (${f.why}); retry`, 250);
      }
    }
    throw new Error('sequencer: assign produced neither a write nor a refusal');
  }

  /** Run one sequencer event on a state and carry out the cache effects. */
  private feed(st: ConvState, ev: SeqEvent): SeqEffect[] {
    const { state, effects } = step(st.seq, ev);
    st.seq = state;
    for (const f of effects) {
      if (f.t === 'drop' && this.convs.get(st.conv.id) === st) this.convs.delete(st.conv.id);
    }
    return effects;
  }

  private state(id: string): Promise<ConvState | null> {
    const epoch = this.epochOf(id);
    // Owned elsewhere: a fresh read every time, never cached (the owner changes it).
    if (epoch === null) return this.load(id, null);
    const have = this.convs.get(id);
    if (have) {
      if (have.seq.epoch === epoch && have.seq.retired === null) return Promise.resolve(have);
      this.feed(have, { t: 'epoch', epoch });
    }
    const pending = this.loading.get(id);
    if (pending && pending.epoch === epoch) return pending.p;
    const p = this.load(id, epoch);
    const entry = { epoch, p };
    this.loading.set(id, entry);
    const done = (): void => {
      if (this.loading.get(id) === entry) this.loading.delete(id);
    };
    p.then(done, done);
    return p;
  }

  /**
   * Read a conversation's state from the store. `epoch` null: owned elsewhere, a
   * private read-only copy. Otherwise the state is cached as the live one only if the
   * node still holds that same epoch when the reads are done; a state read across an
   * epoch change is handed back retired (good for reads, never for a seq).
   */
  private async load(id: string, epoch: number | null): Promise<ConvState | null> {
    const conv = await this.store.getConversation(id);
    if (!conv) return null;
    const [last, first, cursors] = await Promise.all([
      this.store.lastSeq(id),
      this.store.firstSeq(id),
      this.store.getCursors(id),
    ]);
    const st: ConvState = {
      conv,
      memberSet: new Set(conv.members.map((m) => m.user)),
      former: new Map((conv.former ?? []).map((f) => [f.user, f.untilSeq])),
      seq: loaded(epoch ?? NOT_OWNED, last),
      firstSeq: first,
      cursors: new CursorBook(id, cursors),
    };
    if (epoch === null || this.epochOf(id) !== epoch) {
      st.seq = step(st.seq, { t: 'epoch', epoch: null }).state;
      return st;
    }
    const raced = this.convs.get(id);
    if (raced && raced.seq.epoch === epoch && raced.seq.retired === null) return raced;
    this.convs.set(id, st);
    return st;
  }

  /**
   * The store failed a batch. Called by the writer's sink before any promise of the
   * batch settles, so no send can take a seq from a counter that ran past an unstored
   * one; the writer fails everything queued behind the batch too.
   */
  writeFailed(): void {
    for (const st of [...this.convs.values()]) this.feed(st, { t: 'write_failed' });
    this.convs.clear();
  }
}

/** The epoch of a state read while the conversation is owned elsewhere (never current). */
const NOT_OWNED = -1;

function newGroupId(): string {
  return 'g_' + randomBytes(16).toString('base64url');
}

export { newGroupId };

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
