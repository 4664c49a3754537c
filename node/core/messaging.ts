/**
 * Messages: 1:1 conversations, send (dedup by client_msg_id, one seq from the live
 * state, acked only once durable), what happens when a message is durable (the
 * sequencer moves `committed`, fan-out through the port, retention trimming), and the
 * reads: sync pages (with the hand-over to live pushes) and history.
 */
import { CatalogError } from '../../protocol/errors.js';
import type { Caller, ConvState, SendInput, ServiceLimits, Writer } from './chat_types.js';
import { visibleUpTo, type ConversationCache } from './conversations.js';
import { originOf, type FanoutPort } from './fanout_port.js';
import { directConversationId, newMessageId } from './ids.js';
import { DedupFilter, type Drainable } from './dedup_filter.js';
import { enforce } from './enforce.js';
import { clientMsgIdRule, peerRule, sendContentRule } from './op_rules.js';
import { MEDIA_META_KEY, type ConversationSyncInfo, type HistoryPage, type SendAck, type SyncPage } from './ops.js';
import type { MediaPort } from './media_port.js';
import type { ReceiptService } from './receipt_service.js';
import type { MessageStore } from '../store/store.js';
import type { Conversation, StoredMessage } from '../store/types.js';

export class Messaging {
  /** Sends in flight by (conversation, sender, client_msg_id): a resend joins the first. */
  private readonly inflight = new Map<string, Promise<SendAck>>();
  /** Skips the dedup read of a certainly new client_msg_id (the argument: dedup_filter.ts). */
  readonly dedup: DedupFilter;

  constructor(
    private readonly convs: ConversationCache,
    private readonly store: MessageStore,
    private readonly writer: Writer,
    private readonly fanout: FanoutPort,
    private readonly receipts: ReceiptService,
    private readonly limits: ServiceLimits,
    private readonly now: () => number,
    private readonly media: MediaPort | null = null,
  ) {
    this.dedup = new DedupFilter(store, drainable(writer), convs.clustered);
  }

  // ------------------------------------------------------------------ conversations

  /** Find or create the 1:1 conversation of two users (idempotent, deterministic id). */
  async openDirect(user: string, peer: string): Promise<Conversation> {
    enforce(peerRule(peer));
    if (peer === user) throw new CatalogError('forbidden', 'a direct conversation needs two different users');
    const id = directConversationId(user, peer);
    const existing = await this.convs.state(id);
    if (existing) return existing.conv;
    const conv: Conversation = {
      id,
      kind: 'direct',
      members: [user, peer].sort().map((u) => ({ user: u, role: 'member' as const })),
      createdAt: this.now(),
      subject: '',
    };
    await this.writer.submit({ kind: 'conversation', conversation: conv }, this.convs.ownedEpoch(id));
    this.convs.created(id, [user, peer]);
    const st = await this.convs.state(id);
    if (!st) throw new CatalogError('unavailable', 'conversation was not readable after creation');
    return st.conv;
  }

  async listConversations(user: string): Promise<Array<{ conv: Conversation; lastSeq: number }>> {
    const ids = await this.convs.conversationsOf(user);
    const out: Array<{ conv: Conversation; lastSeq: number }> = [];
    for (const id of ids) {
      const st = await this.convs.state(id);
      if (st && st.memberSet.has(user)) out.push({ conv: st.conv, lastSeq: st.seq.committed });
    }
    return out;
  }

  // ------------------------------------------------------------------ send

  async send(caller: Caller, input: SendInput): Promise<SendAck> {
    enforce(clientMsgIdRule(input.clientMsgId));
    // Every send passes here exactly once (socket, HTTP API, forwarded): no forged
    // system or media meta, at most maxMessageBytes.
    enforce(sendContentRule(input.body, input.meta, this.limits.maxMessageBytes));
    const st = await this.convs.member(caller.user, input.conversation);
    const key = `${st.conv.id}\u0000${caller.user}\u0000${input.clientMsgId}`;
    const pending = this.inflight.get(key);
    if (pending) return { ...(await pending), duplicate: true };
    const p = this.doSend(caller, input);
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      this.inflight.delete(key);
    }
  }

  private async doSend(caller: Caller, input: SendInput): Promise<SendAck> {
    const prior = this.dedup.certainlyNew(input.conversation, caller.user, input.clientMsgId)
      ? null
      : await this.store.findByClientMsgId(input.conversation, caller.user, input.clientMsgId);
    if (prior) return ackOf(prior, true);
    let meta = input.meta;
    if (input.mediaId) {
      // Checked and pinned before the seq is taken (GC cannot collect it while we store);
      // the reference travels in the stored message's meta under the reserved key.
      if (!this.media) throw new CatalogError('unavailable', 'media is not enabled on this node (media.enabled)');
      const ref = await this.media.attach(caller.user, input.mediaId, input.conversation);
      meta = { ...input.meta, [MEDIA_META_KEY]: JSON.stringify(ref) };
    }
    // While we awaited, a write may have failed or the shard may have moved (and even
    // come back under a new epoch): take the live state now, never the one we held.
    const st = await this.convs.sequencing(caller.user, input.conversation);
    // Assign and submit in one tick: FIFO writer order == seq order.
    const { first: seq, epoch } = this.convs.assign(st, 1);
    const message: StoredMessage = {
      conversation: st.conv.id,
      seq,
      messageId: newMessageId(),
      sender: caller.user,
      senderDevice: caller.device,
      clientMsgId: input.clientMsgId,
      body: input.body,
      meta,
      serverTs: this.now(),
    };
    // Recorded before the submit, whatever its outcome: a resend must read the store.
    this.dedup.record(message.conversation, message.sender, message.clientMsgId);
    try {
      await this.writer.submit({ kind: 'message', message }, epoch);
    } catch (e) {
      // The seq was not stored. Retire the state: the next assignment reloads the
      // counter from the store, so no seq is skipped (the writer fails everything
      // queued behind a failed batch, so nothing after this seq was stored either).
      this.convs.feed(st, { t: 'write_failed' });
      throw e;
    }
    this.committed(st, message, caller);
    if (input.mediaId && this.media) {
      // The pin from attach() already keeps the media; this records which message carries it.
      this.media.referenced(input.mediaId, message.conversation, message.seq).catch(() => undefined);
    }
    return ackOf(message, false);
  }

  /**
   * Runs synchronously after a message is durable: move `committed`, fan out to
   * `recipients` (default: the members), trim.
   */
  committed(st: ConvState, message: StoredMessage, caller: Caller, recipients: Iterable<string> = st.conv.members.map((m) => m.user)): void {
    // Acked, so delivered, even from a state retired meanwhile: it is durable.
    this.convs.feed(st, { t: 'durable', seq: message.seq });
    if (st.conv.kind === 'group' && !message.meta.system) this.receipts.trackGroupMessage(st.conv.id, message.sender, message.seq);
    this.fanout.message([...recipients], message, originOf(caller), caller.t0 ?? 0);
    this.maybeTrim(st);
  }

  private maybeTrim(st: ConvState): void {
    const keep = this.limits.retentionMessages;
    if (keep <= 0) return;
    // Trim in steps of 10% so retention costs one write per many messages.
    const slack = Math.max(1, Math.floor(keep / 10));
    if (st.seq.committed - st.firstSeq + 1 <= keep + slack) return;
    const firstSeq = st.seq.committed - keep + 1;
    st.firstSeq = firstSeq;
    this.writer
      .submit({ kind: 'trim', conversation: st.conv.id, firstSeq }, st.seq.epoch)
      // The trimmed messages' media is no longer carried: GC may take it after the grace.
      .then(() => this.media?.trimmed(st.conv.id, firstSeq))
      .catch(() => {
        /* retried on the next message (a media release that failed: at the next trim, which covers it) */
      });
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
    const ids = [...(await this.convs.conversationsOf(caller.user))].sort();
    const messages: StoredMessage[] = [];
    const infos: ConversationSyncInfo[] = [];
    const states: ConvState[] = [];
    /** Conversations read fresh whose page stopped at a hole: the last seq before it. */
    const gapAt = new Map<string, number>();
    for (const id of ids) {
      const st = await this.convs.state(id);
      if (!st || visibleUpTo(st, caller.user) < 0) continue;
      states.push(st);
      let from = given.get(id) ?? 0;
      const resyncRequired = from < st.firstSeq - 1;
      if (resyncRequired) from = st.firstSeq - 1;
      let next = from;
      const room = pageLimit - messages.length;
      const upTo = visibleUpTo(st, caller.user);
      // Read fresh (owned elsewhere): the store may hold a row above a hole that its
      // owner has not filled yet (a stale owner's unacked write that landed late; the
      // store keeps it, node/store). Hand out only the gapless run, so a device's
      // cursor never passes a seq it has not got. Below what the owner has pushed here
      // (remoteSeen) the seqs are final, and a hole there is one for good.
      const fresh = this.convs.isFresh(st);
      if (room > 0 && from < upTo) {
        const got = await this.store.readAfter(id, from, Math.min(room, upTo - from));
        const final = this.convs.seenRemotely(id);
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
      if (this.convs.clustered && this.convs.isFresh(st)) {
        const seen = this.convs.seenRemotely(id);
        const gap = gapAt.get(id);
        // Above a hole the owner has not reached, the rows are not the conversation's
        // yet: the last seq is the hole's start (or what the owner pushed since).
        const upTo = Math.max(gap ?? st.seq.committed, seen);
        last = Math.max(last, seen);
        st.seq = { ...st.seq, committed: upTo };
      }
      infos[i].lastSeq = Math.max(0, visibleUpTo(st, caller.user));
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
    const st = await this.convs.reader(caller ? caller.user : null, conversation);
    const upTo = caller ? visibleUpTo(st, caller.user) : st.seq.committed;
    // Why 50: one screen of history; a client pages back for more.
    const n = clampLimit(limit, Math.min(50, this.limits.maxHistoryPage), this.limits.maxHistoryPage);
    const before = beforeSeq > 0 ? Math.min(beforeSeq, upTo + 1) : upTo + 1;
    const got = await this.store.readBefore(conversation, before, n);
    const messages = got.filter((m) => m.seq <= upTo);
    const oldest = messages.length ? messages[messages.length - 1].seq : before;
    return { conversation, messages, hasMore: oldest > st.firstSeq, firstSeq: st.firstSeq };
  }
}

/**
 * The writer as the dedup filter's barrier, when it is the node's write path: it drains
 * (`flush`) and reports failed batches (`onFailure`). A bare BatchWriter (the unit
 * tests of the chat service, which hold dedup reads open on purpose) keeps every read.
 */
function drainable(writer: Writer): Drainable | null {
  const w = writer as Writer & Partial<Drainable> & { onFailure?: unknown };
  return typeof w.flush === 'function' && typeof w.onFailure === 'function' ? (w as Writer & Drainable) : null;
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
