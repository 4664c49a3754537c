/**
 * The connection engine under SwitchboardClient (client.ts): PROTOCOL.md §6 minus the
 * app-facing calls.
 *
 *   connect (token in a header, or a ticket) → welcome → sync until has_more is false
 *   → ack what was stored → resend the outbox → live pushes
 *
 * It reconnects on its own with full-jitter backoff (a goaway's delay first), stops on
 * terminal closes, keeps cursors, held messages, watermarks and the outbox in an
 * SdkStorage, holds each message once (by (conversation, seq)), fills seq gaps with a
 * sync and realigns when the server is behind the device.
 */
import type { ServerFrame, Message } from '../gen/client_pb.js';
import { ReceiptKind } from '../gen/client_pb.js';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { closeAction } from './close_policy.js';
import { credentials, type Auth } from './credentials.js';
import { DEFAULTS, type ClientOptions } from './options.js';
import { realClock } from './clock.js';
import { Connection, RequestError, type FrameInit, type WebSocketCtor } from './connection.js';
import { Emitter } from './events.js';
import { Outbox } from './outbox.js';
import { Conversation } from './state.js';
import { MemoryStorage } from './storage.js';
import type { ConnectionStatus, ConversationInfo, PersistedState, PresenceState, SdkEvents, StoredMessage } from './types.js';

export type { Auth, ClientOptions };

export class Engine extends Emitter<SdkEvents> {
  /** Set from the welcome (or the token's owner once seen). */
  user = '';
  device = '';
  status: ConnectionStatus = 'offline';
  protected readonly o: Required<Omit<ClientOptions, 'WebSocket' | 'fetch' | 'tokenVia' | 'user'>> & Pick<ClientOptions, 'WebSocket' | 'fetch' | 'tokenVia'>;
  protected readonly convs = new Map<string, Conversation>();
  protected readonly outbox: Outbox;
  protected readonly presenceState = new Map<string, PresenceState>();
  protected readonly typingState = new Map<string, Map<string, number>>();
  protected presenceWatch: string[] = [];
  protected conn: Connection | null = null;
  protected live = false;
  protected stopped = true;
  protected attempt = 0;
  protected authFailures = 0;
  protected goawayMs: number | null = null;
  protected reconnectTimer: unknown = null;
  protected welcomeTimer: unknown = null;
  protected heartbeatTimer: unknown = null;
  protected ackTimer: unknown = null;
  protected listTimer: unknown = null;
  protected gapTimers = new Map<string, unknown>();
  protected ackDirty = new Set<string>();
  protected readSent = new Map<string, number>();
  protected lastTyping = new Map<string, number>();
  protected syncing = false;
  protected syncAgain = false;
  protected skewMs = 0;
  protected heartbeatMs = 20_000;
  protected typingIntervalMs = 1_000;
  protected saveQueued: Promise<void> | null = null;
  protected saveChain: Promise<void> = Promise.resolve();
  protected loaded: Promise<void> | null = null;

  constructor(opts: ClientOptions) {
    super();
    this.user = opts.user ?? '';
    this.o = {
      storage: new MemoryStorage(),
      encoding: 'json',
      backoff: DEFAULT_BACKOFF,
      clock: realClock,
      random: Math.random,
      sendTimeoutMs: DEFAULTS.sendTimeoutMs,
      requestTimeoutMs: DEFAULTS.requestTimeoutMs,
      welcomeTimeoutMs: DEFAULTS.welcomeTimeoutMs,
      syncLimit: 0,
      ...opts,
    };
    this.outbox = new Outbox({
      clock: this.o.clock,
      random: this.o.random,
      backoff: this.o.backoff,
      sendTimeoutMs: this.o.sendTimeoutMs,
      transmit: (e) =>
        this.conn?.open
          ? this.conn.send({ kind: { case: 'send', value: { conversation: e.conversation, clientMsgId: e.clientMsgId, body: e.body, meta: e.meta, ...(e.media ? { media: { mediaId: e.media.mediaId } } : {}) } } })
          : null,
      changed: (conversation) => this.emit('outbox', { conversation }),
    });
  }

  // ------------------------------------------------------------------ lifecycle

  /** Load the stored state and connect (reconnecting until close() or a terminal close). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.load();
    this.connect();
  }

  /** Close the socket and stop reconnecting. State stays in storage. */
  async close(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.conn?.close(1000, 'client closed');
    this.conn = null;
    this.setStatus('stopped');
    await this.persist();
  }

  /** Drop the current socket as if the network failed (reconnects with backoff). */
  disconnect(): void {
    this.conn?.close(1006, 'dropped by the app');
  }

  /**
   * The network is back (a browser's `online` event): connect now instead of waiting
   * out the backoff. Harmless when connected or already connecting.
   */
  reconnectNow(): void {
    if (this.stopped || this.reconnectTimer === null) return;
    this.o.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.attempt = 0;
    this.connect();
  }

  protected load(): Promise<void> {
    this.loaded ??= this.o.storage.load().then((s) => {
      if (!s) return;
      for (const c of s.conversations) this.convs.set(c.id, Conversation.restore(c));
      this.outbox.entries = s.outbox;
      for (const e of s.outbox) this.outbox.durable.add(e.clientMsgId);
    });
    return this.loaded;
  }

  protected connect(): void {
    if (this.stopped) return;
    this.setStatus('connecting');
    void this.openSocket().catch((e: unknown) => {
      const err = e instanceof RequestError ? e : new RequestError('unavailable', String((e as Error)?.message ?? e), true);
      this.lost(err.code === 'unauthenticated' || err.code === 'token_expired' ? 4401 : 1006, err.message);
    });
  }

  protected async openSocket(): Promise<void> {
    const Ctor = this.o.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!Ctor) throw new Error('no WebSocket: pass options.WebSocket (e.g. the ws package) on Node < 22');
    const via = this.o.tokenVia ?? (this.o.WebSocket ? 'header' : 'ticket');
    const { url, headers } = await credentials(this.o.url, this.o.auth, via, this.o.fetch ?? globalThis.fetch);
    if (this.stopped) return;
    const ws = headers ? new Ctor(url, [`switchboard.v1.${this.o.encoding}`], { headers }) : new Ctor(url, [`switchboard.v1.${this.o.encoding}`]);
    const conn = new Connection(
      ws,
      this.o.encoding,
      this.o.clock,
      (f) => this.onFrame(conn, f),
      (code, reason) => {
        if (this.conn === conn) this.lost(code, reason);
      },
    );
    this.conn = conn;
    this.welcomeTimer = this.o.clock.setTimeout(() => conn.close(1006, 'no welcome'), this.o.welcomeTimeoutMs);
  }

  /** The socket is gone (or never came up): decide from the close code what next. */
  protected lost(code: number, reason: string): void {
    this.conn = null;
    this.live = false;
    this.outbox.pause();
    this.clearTimers();
    if (this.stopped) return this.status === 'stopped' ? undefined : this.setStatus('stopped');
    const action = closeAction(code);
    const canRefresh = 'ticket' in this.o.auth || typeof this.o.auth.token === 'function';
    if (action === 'terminal' || (action === 'reauth' && (!canRefresh || ++this.authFailures > 2))) {
      this.stopped = true;
      this.emit('error', { code: code === 4402 ? 'token_expired' : code === 4401 ? 'unauthenticated' : 'protocol_violation', message: `closed ${code}${reason ? `: ${reason}` : ''}` });
      return this.setStatus('stopped', { closeCode: code, reason });
    }
    const wait = this.goawayMs ?? backoffDelay(this.attempt++, this.o.backoff, this.o.random);
    this.goawayMs = null;
    this.setStatus('offline', { closeCode: code, reason, retryInMs: wait });
    this.reconnectTimer = this.o.clock.setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, wait);
  }

  protected clearTimers(): void {
    for (const t of [this.reconnectTimer, this.welcomeTimer, this.heartbeatTimer, this.ackTimer, this.listTimer, ...this.gapTimers.values()]) if (t !== null) this.o.clock.clearTimeout(t);
    this.reconnectTimer = this.welcomeTimer = this.heartbeatTimer = this.ackTimer = this.listTimer = null;
    this.gapTimers.clear();
  }

  protected setStatus(status: ConnectionStatus, extra: Omit<SdkEvents['status'], 'status'> = {}): void {
    this.status = status;
    this.emit('status', { status, ...extra });
  }

  // ------------------------------------------------------------------ inbound

  protected onFrame(conn: Connection, f: ServerFrame): void {
    if (conn !== this.conn) return;
    const k = f.kind;
    switch (k.case) {
      case 'welcome':
        this.o.clock.clearTimeout(this.welcomeTimer);
        this.welcomeTimer = null;
        this.user = k.value.user;
        this.device = k.value.device;
        this.skewMs = Number(k.value.serverTs) - this.o.clock.now();
        this.heartbeatMs = k.value.heartbeatMs || this.heartbeatMs;
        this.attempt = 0;
        this.authFailures = 0;
        this.setStatus('syncing');
        this.scheduleHeartbeat(conn);
        void this.sync();
        return;
      case 'sendAck':
        return this.onSendAck(k.value);
      case 'message':
        if (this.ingest(k.value)) this.afterNewMessages([k.value.conversation]);
        return;
      case 'receipt': {
        const c = this.conv(k.value.conversation);
        const kind = k.value.kind === ReceiptKind.READ ? 'read' : 'delivered';
        const seq = Number(k.value.seq);
        if (k.value.user === this.user && kind === 'read' && seq > c.myRead) c.myRead = seq;
        if (c.raise(kind, k.value.user, seq) || k.value.user === this.user) {
          void this.persist();
          this.emit('receipts', { conversation: c.id });
        }
        return;
      }
      case 'groupReceipts': {
        const c = this.conv(k.value.conversation);
        for (const x of k.value.counts) c.groupCounts[String(Number(x.seq))] = { delivered: x.delivered, read: x.read, members: k.value.members };
        void this.persist();
        this.emit('receipts', { conversation: c.id });
        return;
      }
      case 'typing': {
        const m = this.typingState.get(k.value.conversation) ?? new Map<string, number>();
        const until = Number(k.value.untilMs) - this.skewMs;
        m.set(k.value.user, until);
        this.typingState.set(k.value.conversation, m);
        this.emit('typing', { conversation: k.value.conversation, user: k.value.user, untilMs: until });
        return;
      }
      case 'presence':
        return this.onPresence(k.value.users);
      case 'goaway':
        this.goawayMs = k.value.reconnectAfterMs;
        return;
      case 'error':
        if (f.reqId && this.outbox.owns(f.reqId)) {
          const failed = this.outbox.refused(f.reqId, k.value);
          if (failed) this.emit('error', { code: k.value.code, message: k.value.message, conversation: failed.conversation, clientMsgId: failed.clientMsgId });
          if (failed) void this.persist();
          return;
        }
        this.emit('error', { code: k.value.code, message: k.value.message, conversation: k.value.conversation || undefined });
        return;
      default:
        return;
    }
  }

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

  protected scheduleHeartbeat(conn: Connection): void {
    // Browsers answer the node's WebSocket pings without telling the page, so a dead
    // network shows only as silence: after a heartbeat with no frame, ping, and drop the
    // socket if that goes unanswered too (then reconnect with backoff).
    this.heartbeatTimer = this.o.clock.setTimeout(() => {
      if (conn !== this.conn || !conn.open) return;
      if (this.o.clock.now() - conn.lastFrameAt < this.heartbeatMs) return this.scheduleHeartbeat(conn);
      conn.request({ kind: { case: 'ping', value: { ts: BigInt(this.o.clock.now()) } } }, Math.min(this.heartbeatMs, 10_000)).then(
        () => this.scheduleHeartbeat(conn),
        () => conn.close(1006, 'no pong'),
      );
    }, this.heartbeatMs);
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

  /** Send a frame and wait for its reply (an `error` reply rejects with RequestError). */
  request(init: FrameInit): Promise<ServerFrame> {
    if (!this.conn?.open) return Promise.reject(new RequestError('unavailable', 'offline', true));
    return this.conn.request(init, this.o.requestTimeoutMs);
  }

  protected conv(id: string): Conversation {
    let c = this.convs.get(id);
    if (!c) this.convs.set(id, (c = new Conversation(id)));
    return c;
  }

  // ------------------------------------------------------------------ storage

  /** Save a snapshot; calls made while one is queued share it. Resolves once durable. */
  persist(): Promise<void> {
    if (this.saveQueued) return this.saveQueued;
    const p = this.saveChain.then(async () => {
      this.saveQueued = null;
      const ids = this.outbox.entries.map((e) => e.clientMsgId);
      const snap: PersistedState = { version: 1, conversations: [...this.convs.values()].map((c) => c.snapshot()), outbox: this.outbox.entries.map((e) => ({ ...e })) };
      try {
        await this.o.storage.save(snap);
        for (const id of ids) this.outbox.durable.add(id);
      } catch (e) {
        this.emit('error', { code: 'storage', message: `could not save state: ${(e as Error).message}` });
      }
    });
    this.saveQueued = p;
    this.saveChain = p;
    return p;
  }
}
