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
 *
 * One object at run time, three files by role: this one is the connection's life
 * (connect, welcome, heartbeat, close codes, backoff) and the inbound dispatch;
 * sync_engine.ts the data half (pages, held messages, acks, gaps); engine_state.ts
 * the state and the calls both use.
 */
import type { ServerFrame } from '../gen/client_pb.js';
import { ReceiptKind } from '../gen/client_pb.js';
import { backoffDelay } from './backoff.js';
import { closeAction } from './close_policy.js';
import { credentials, type Auth } from './credentials.js';
import { type ClientOptions } from './options.js';
import { Connection, RequestError, type WebSocketCtor } from './connection.js';
import { Conversation } from './state.js';
import { SyncEngine } from './sync_engine.js';

export type { Auth, ClientOptions };

export class Engine extends SyncEngine {
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
}
