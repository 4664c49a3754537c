/**
 * PROTOCOL.md §6's data half of the SDK engine: sync pages until has_more is false,
 * hold each message once by (conversation, seq), match our own sends to the outbox,
 * ack what was stored, fill seq gaps with a sync, realign when the server is behind,
 * read marks, presence and the conversation list. The connection's life is engine.ts.
 */
import type { Message } from '../gen/client_pb.js';
import { ReceiptKind } from '../gen/client_pb.js';
import { DEFAULTS } from './options.js';
import { Connection, RequestError } from './connection.js';
import type { ConversationInfo, PresenceState, StoredMessage } from './types.js';

import { EngineState } from './engine_state.js';

export abstract class SyncEngine extends EngineState {
  protected onSendAck(a: { conversation: string; clientMsgId: string; messageId: string; seq: bigint; serverTs: bigint }): void {
    const entry = this.outbox.acked(a.conversation, a.clientMsgId);
    if (!entry) return; // a late duplicate of an ack already handled
    const c = this.conv(a.conversation);
    const m: StoredMessage = {
      conversation: a.conversation,
      seq: Number(a.seq),
      messageId: a.messageId,
      sender: this.user,
      senderDevice: this.device,
      clientMsgId: a.clientMsgId,
      body: entry.body,
      meta: entry.meta,
      serverTs: Number(a.serverTs),
      ...(entry.media ? { media: entry.media } : {}),
    };
    if (c.add(m)) this.emit('message', m);
    this.afterNewMessages([a.conversation]);
  }

  /** Store a message from a push, a page or history; true if it was new. Matches our own to the outbox. */
  protected ingest(p: Message): boolean {
    const m: StoredMessage = {
      conversation: p.conversation,
      seq: Number(p.seq),
      messageId: p.messageId,
      sender: p.sender,
      senderDevice: p.senderDevice,
      clientMsgId: p.clientMsgId,
      body: p.body,
      meta: { ...p.meta },
      serverTs: Number(p.serverTs),
      ...(p.media ? { media: { mediaId: p.media.mediaId, mime: p.media.mime, size: Number(p.media.size), sha256: p.media.sha256, width: p.media.width, height: p.media.height } } : {}),
    };
    if (m.sender === this.user) this.outbox.acked(m.conversation, m.clientMsgId);
    const c = this.conv(m.conversation);
    // A message from someone ends their typing indicator there, as it does in every chat app.
    this.typingState.get(m.conversation)?.delete(m.sender);
    if (m.meta.system) c.fromSystemMessage(m);
    if (c.kind === '') this.learnConversations();
    const fresh = c.add(m);
    if (fresh) this.emit('message', m);
    return fresh;
  }

  /**
   * A message for a conversation this device knows nothing about (a peer opened it, or
   * added us to a group): ask for the list, which has its kind and members. Debounced,
   * so a sync page full of new conversations costs one request.
   */
  protected learnConversations(): void {
    if (this.listTimer !== null) return;
    this.listTimer = this.o.clock.setTimeout(() => {
      this.listTimer = null;
      if (this.live) void this.refreshConversations().catch(() => undefined);
    }, DEFAULTS.listDelayMs);
  }

  /** Persist, then ack (§6.2: ack only what is durably stored); look for gaps. */
  protected afterNewMessages(conversations: string[]): void {
    for (const id of conversations) {
      this.ackDirty.add(id);
      this.checkGap(id);
    }
    void this.persist();
    if (this.ackTimer === null) {
      this.ackTimer = this.o.clock.setTimeout(() => {
        this.ackTimer = null;
        void this.flushAcks();
      }, DEFAULTS.ackDelayMs);
    }
  }

  protected async flushAcks(onlyLive = true): Promise<void> {
    await this.persist();
    const conn = this.conn;
    if (!conn?.open || (onlyLive && !this.live)) return;
    for (const id of this.ackDirty) {
      const c = this.conv(id);
      if (c.cursor > c.acked) {
        conn.send({ kind: { case: 'ack', value: { conversation: id, seq: BigInt(c.cursor) } } });
        c.acked = c.cursor;
      }
    }
    this.ackDirty.clear();
    void this.persist();
  }

  /** A held seq above cursor + 1 that is not our own in-flight send: sync (§6.2 "Gap"). */
  protected checkGap(id: string): void {
    const c = this.conv(id);
    if (!c.hasGap() || this.gapTimers.has(id)) return;
    this.gapTimers.set(
      id,
      this.o.clock.setTimeout(() => {
        this.gapTimers.delete(id);
        if (this.live && this.conv(id).hasGap()) void this.sync();
      }, DEFAULTS.gapWaitMs),
    );
  }

  protected onPresence(users: Array<{ user: string; online: boolean; lastSeenMs: bigint; lastSeenHidden: boolean }>): void {
    const list = users.map((u) => ({ user: u.user, online: u.online, lastSeenMs: Number(u.lastSeenMs), lastSeenHidden: u.lastSeenHidden }));
    for (const u of list) {
      this.presenceState.set(u.user, u);
      // Nobody types while offline: drop their indicators at once rather than at until_ms.
      if (!u.online) for (const m of this.typingState.values()) m.delete(u.user);
    }
    this.emit('presence', { users: list });
  }

  // ------------------------------------------------------------------ sync (§6.1)

  /** Sync until has_more is false; run again if asked while running. Safe at any time. */
  async sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    let used: Connection | null = null;
    try {
      do {
        this.syncAgain = false;
        const conn = (used = this.conn);
        if (!conn?.open) return;
        try {
          await this.syncPages(conn);
        } catch (e) {
          // §5.5: a cursor above the server's last seq refuses the whole sync. It means
          // the server lost messages this device holds (a restored backup): align with
          // list_conversations' last seqs and sync again; anything else is a real failure.
          if (!(e instanceof RequestError && e.code === 'invalid_argument' && (await this.alignAhead()))) throw e;
          this.syncAgain = true;
          continue;
        }
        if (conn !== this.conn) return;
        if (!this.live) {
          this.live = true;
          this.setStatus('online');
          for (const c of this.convs.values()) if (c.myRead > (this.readSent.get(c.id) ?? 0)) this.sendRead(c.id);
          if (this.presenceWatch.length) void this.watchPresence(this.presenceWatch).catch(() => undefined);
          void this.refreshConversations().catch(() => undefined);
          this.outbox.resume();
        }
      } while (this.syncAgain);
    } catch (e) {
      // A sync that fails (timeout, refused) leaves the socket in an unknown state: drop
      // it and start over with backoff rather than show a half-synced view as live.
      if (used === this.conn) used?.close(1006, `sync failed: ${(e as Error).message}`);
    } finally {
      this.syncing = false;
      // A newer socket asked for a sync while this one was finishing: run it now.
      if (this.conn?.open && (this.syncAgain || this.conn !== used)) void this.sync();
    }
  }

  protected async syncPages(conn: Connection): Promise<void> {
    const touched = new Set<string>();
    for (;;) {
      const cursors = [...this.convs.values()].map((c) => ({ conversation: c.id, seq: BigInt(c.cursor) }));
      const f = await conn.request({ kind: { case: 'sync', value: { cursors, limit: this.o.syncLimit } } }, this.o.requestTimeoutMs);
      if (f.kind.case !== 'syncPage') throw new Error(`sync answered with ${f.kind.case}`);
      const page = f.kind.value;
      for (const cs of page.conversations) {
        const c = this.conv(cs.conversation);
        if (cs.resyncRequired) {
          c.reset(Number(cs.firstSeq));
          this.emit('resync', { conversation: c.id });
        }
      }
      for (const m of page.messages) if (this.ingest(m)) touched.add(m.conversation);
      for (const cs of page.conversations) {
        const c = this.conv(cs.conversation);
        c.lastSeq = Math.max(c.lastSeq, Number(cs.lastSeq));
        c.firstSeq = Number(cs.firstSeq);
        c.advance();
      }
      if (!page.hasMore) {
        for (const r of page.receipts) {
          const c = this.conv(r.conversation);
          if (c.raise(r.kind === ReceiptKind.READ ? 'read' : 'delivered', r.user, Number(r.seq))) this.emit('receipts', { conversation: c.id });
        }
        break;
      }
    }
    if (touched.size) this.emit('conversations', {});
    for (const c of this.convs.values()) if (c.cursor > c.acked) this.ackDirty.add(c.id);
    if (conn === this.conn) await this.flushAcks(false);
  }

  /** Drop what this device holds above each conversation's last seq on the server; true if anything moved. */
  protected async alignAhead(): Promise<boolean> {
    const f = await this.request({ kind: { case: 'listConversations', value: {} } });
    if (f.kind.case !== 'conversations') return false;
    let moved = false;
    for (const s of f.kind.value.conversations) {
      const c = this.convs.get(s.conversation);
      if (c && c.cursor > Number(s.lastSeq)) {
        c.dropAbove(Number(s.lastSeq));
        this.emit('resync', { conversation: c.id });
        moved = true;
      }
    }
    return moved;
  }

  // ------------------------------------------------------------------ protocol requests the engine makes itself

  protected sendRead(id: string): void {
    const c = this.conv(id);
    if (!this.conn?.open || !this.live || c.myRead <= 0) return;
    this.conn.send({ kind: { case: 'read', value: { conversation: id, seq: BigInt(c.myRead) } } });
    this.readSent.set(id, c.myRead);
  }

  async watchPresence(users: string[]): Promise<PresenceState[]> {
    this.presenceWatch = [...new Set(users)];
    const f = await this.request({ kind: { case: 'presenceSubscribe', value: { users: this.presenceWatch } } });
    if (f.kind.case !== 'presence') throw new Error(`presence_subscribe answered with ${f.kind.case}`);
    this.onPresence(f.kind.value.users);
    return this.presenceWatch.map((u) => this.presenceState.get(u)!).filter(Boolean);
  }

  /** Every conversation of the user with its kind, members and last seq (list_conversations). */
  async refreshConversations(): Promise<ConversationInfo[]> {
    const f = await this.request({ kind: { case: 'listConversations', value: {} } });
    if (f.kind.case !== 'conversations') throw new Error(`list_conversations answered with ${f.kind.case}`);
    for (const s of f.kind.value.conversations) {
      const c = this.conv(s.conversation);
      c.kind = s.kind === 'group' ? 'group' : 'direct';
      c.members = s.members;
      c.lastSeq = Math.max(c.lastSeq, Number(s.lastSeq));
    }
    void this.persist();
    this.emit('conversations', {});
    return [...this.convs.values()];
  }
}
