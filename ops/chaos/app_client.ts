/**
 * One device of a user, behaving like an app (PROTOCOL.md §6), recording what it
 * sees into the run's history (history.ts):
 *
 * - an **outbox**: a message gets its client_msg_id once, when created, and is sent
 *   (up to `maxInflight` at a time) until a send_ack answers it: after a retryable
 *   error (waiting retry_after_ms), after no reply within `attemptTimeoutMs`, and
 *   after every reconnect, always with the same client_msg_id;
 * - **dedup by (conversation, seq)**: a message at a seq already held is ignored;
 *   one with different content there is recorded (a disagreement);
 * - **cursors**: the highest seq held contiguously; on connect, and on a gap in the
 *   live pushes, it syncs from its cursors until has_more is false;
 * - **receipts**: a delivered ack (debounced) after messages arrive, a read receipt
 *   now and then.
 *
 * A connection that gives no reply within `attemptTimeoutMs` is presumed dead (the
 * node may be frozen): the device closes it with a close frame, so the socket
 * lingers and a frozen node that resumes still reads what was queued (late acks on
 * it are recorded as acks too), and reconnects to the next endpoint. With a long
 * `attemptTimeoutMs` the device simply keeps its socket through a freeze.
 *
 * The messages held and the cursors are held_messages.ts; the data shapes are
 * device_types.ts; this file is the device's I/O: connections, requests, the outbox
 * and the receipt timers.
 */
import { TestClient } from '../../protocol/client.js';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import { ERROR_CODES } from '../../protocol/codes.js';
import type { Via } from './history.js';
import { HeldMessages } from './held_messages.js';
import type { Conn, DeviceOptions, DeviceStats, Endpoint, OutboxEntry } from './device_types.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AppDevice {
  readonly key: string;
  readonly stats: DeviceStats = { connects: 0, connectFailures: 0, deadConnections: 0, resends: 0, retryableErrors: {}, closeCodes: {}, lateAcks: 0, gapSyncs: 0, syncRefused: {}, receipts: 0 };
  /** Conversations this device has seen (from sync pages and sends). */
  readonly conversations = new Set<string>();
  lastError = '';
  private readonly outbox = new Map<string, OutboxEntry>();
  /** Messages held, deduplicated, and the cursors (held_messages.ts). */
  private readonly view: HeldMessages;
  private conn: Conn | null = null;
  private closedForGood = false;
  private loop: Promise<void> | null = null;
  private epIdx = 0;
  private ackTimer: NodeJS.Timeout | null = null;
  private readonly ackDirty = new Set<string>();
  private acksSent = 0;
  private gapTimer: NodeJS.Timeout | null = null;
  private pumpTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private syncing = false;
  /** After a refused sync: sync once with no cursors and take the server's. */
  private resetCursors = false;
  private readonly wake = new Set<() => void>();

  constructor(readonly o: DeviceOptions) {
    this.key = `${o.user}/${o.device}`;
    this.view = new HeldMessages(this.key, o.history, this.conversations);
  }

  get node(): string {
    return this.conn?.node ?? '';
  }

  get connected(): boolean {
    return !!this.conn?.ready;
  }

  /** Start connecting (and keep reconnecting) in the background. */
  start(): this {
    this.loop ??= this.run();
    this.watchdog = setInterval(() => this.checkDeadline(), 200);
    return this;
  }

  /** The user hits send: into the outbox, out as soon as there is room. */
  send(conv: string, clientMsgId: string, body: string): void {
    this.conversations.add(conv);
    this.o.history.sent.push({ conv, user: this.o.user, device: this.o.device, clientMsgId, body, at: Date.now() });
    this.outbox.set(clientMsgId, { conv, clientMsgId, body, attempts: 0, inflight: null, notBefore: 0, backoff: 100 });
    this.pump();
  }

  pending(): number {
    return this.outbox.size;
  }

  /** Sends on the wire of the current connection, awaiting their reply. */
  inflight(): number {
    let n = 0;
    for (const p of this.conn?.pending.values() ?? []) if (p.kind === 'send') n++;
    return n;
  }

  /** Wait until the outbox is empty, or `deadline`. */
  async drain(deadline: number): Promise<boolean> {
    while (this.outbox.size > 0 && Date.now() < deadline) await this.waitWake(Math.min(500, deadline - Date.now()));
    return this.outbox.size === 0;
  }

  /** Give up on what is left in the outbox (recorded as unresolved). */
  abandonOutbox(): void {
    for (const e of this.outbox.values()) this.o.history.unresolved.push({ conv: e.conv, user: this.o.user, device: this.o.device, clientMsgId: e.clientMsgId });
    this.outbox.clear();
  }

  /**
   * The final check's view: a sync with no cursors (everything the server has for this
   * user), recorded as 'final' observations. Retries on other connections until `deadline`.
   */
  async fullSync(deadline: number): Promise<void> {
    let last = '';
    while (Date.now() < deadline) {
      const c = await this.ready(deadline);
      if (!c) break;
      try {
        const convs = new Set<string>();
        await this.syncOn(c, 'final', convs);
        this.o.history.finals.push({ device: this.key, user: this.o.user, conversations: [...convs], complete: true });
        return;
      } catch (e) {
        last = (e as Error).message;
        await sleep(300);
      }
    }
    this.o.history.finals.push({ device: this.key, user: this.o.user, conversations: [...this.conversations], complete: false, error: `final sync did not complete: ${last || this.lastError || 'no connection'}` });
  }

  async close(): Promise<void> {
    this.closedForGood = true;
    for (const t of [this.ackTimer, this.gapTimer, this.pumpTimer]) if (t) clearTimeout(t);
    if (this.watchdog) clearInterval(this.watchdog);
    const c = this.conn;
    this.conn = null;
    if (c) this.drop(c, 'terminate');
    this.notify();
    await this.loop?.catch(() => undefined);
  }

  // ---- connection ------------------------------------------------------------------

  private async run(): Promise<void> {
    let backoff = this.o.minBackoffMs ?? 100;
    while (!this.closedForGood) {
      const ep = this.o.endpoints[this.epIdx++ % this.o.endpoints.length];
      const started = Date.now();
      let conn: Conn | null = null;
      try {
        conn = await this.connect(ep);
        this.conn = conn;
        this.stats.connects++;
        await this.syncOn(conn, 'sync');
        conn.ready = true;
        this.epIdx--; // next time, try this endpoint first again
        this.notify();
        this.pump();
        await conn.closed;
      } catch (e) {
        this.lastError = `${ep.name}: ${(e as Error).message}`;
        if (!conn) this.stats.connectFailures++;
        if (conn) this.drop(conn, 'terminate');
      }
      if (this.conn === conn) this.conn = null;
      this.releaseInflight(conn);
      this.notify();
      if (this.closedForGood) break;
      if (Date.now() - started > 5_000) backoff = this.o.minBackoffMs ?? 100;
      await sleep(backoff / 2 + Math.random() * backoff);
      backoff = Math.min(this.o.maxBackoffMs ?? 1_000, backoff * 2);
    }
  }

  private async connect(ep: Endpoint): Promise<Conn> {
    const timeoutMs = this.o.connectTimeoutMs ?? 3_000;
    const client = await TestClient.connect({ url: ep.url(), token: await this.o.token(), timeoutMs });
    let finish!: () => void;
    const closed = new Promise<void>((r) => (finish = r));
    const conn: Conn = { client, endpoint: ep.name, node: ep.name, pending: new Map(), ready: false, dead: false, closed, finish };
    client.ws.once('close', (code: number) => {
      this.stats.closeCodes[code] = (this.stats.closeCodes[code] ?? 0) + 1;
      conn.dead = true;
      for (const p of conn.pending.values()) if (p.kind === 'sync') p.reject(new Error(`closed ${code}`));
      finish();
    });
    client.onFrame = (f) => this.onFrame(conn, f);
    try {
      const w = await client.waitFor((f) => f.kind.case === 'welcome', timeoutMs);
      if (w.kind.case === 'welcome') conn.node = w.kind.value.node || ep.name;
    } catch (e) {
      client.terminate();
      throw e;
    }
    client.frames.length = 0;
    return conn;
  }

  /** Connected and synced, or null at the deadline / when closed. */
  private async ready(deadline: number): Promise<Conn | null> {
    while (!this.closedForGood && Date.now() < deadline) {
      if (this.conn?.ready && !this.conn.dead) return this.conn;
      await this.waitWake(Math.min(500, deadline - Date.now()));
    }
    return null;
  }

  private drop(c: Conn, how: 'close' | 'terminate'): void {
    c.dead = true;
    c.ready = false;
    try {
      if (how === 'close') c.client.close();
      else c.client.terminate();
    } catch {
      // already closed
    }
  }

  /** Sends in flight on a dead connection go back to the outbox (resent after the next sync). */
  private releaseInflight(c: Conn | null): void {
    if (!c) return;
    for (const e of this.outbox.values()) if (e.inflight?.conn === c) e.inflight = null;
  }

  private checkDeadline(): void {
    const c = this.conn;
    if (!c || c.dead) return;
    const now = Date.now();
    for (const p of c.pending.values()) {
      if (now - p.at > this.o.attemptTimeoutMs) {
        this.stats.deadConnections++;
        this.lastError = `no reply from ${c.node} in ${this.o.attemptTimeoutMs} ms`;
        // A close frame, not a reset: the socket lingers (a frozen node still reads what was queued).
        this.drop(c, 'close');
        for (const q of c.pending.values()) if (q.kind === 'sync') q.reject(new Error('no reply'));
        if (this.conn === c) this.conn = null;
        this.releaseInflight(c);
        // The run loop waits on `closed`, which a frozen peer would not complete.
        c.finish();
        return;
      }
    }
  }

  // ---- requests --------------------------------------------------------------------

  private request(c: Conn, init: Parameters<TestClient['send']>[0]): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      if (c.dead) return reject(new Error('connection closed'));
      const at = Date.now();
      let reqId: number;
      try {
        reqId = c.client.send(init);
      } catch (e) {
        return reject(e as Error);
      }
      c.pending.set(reqId, {
        kind: 'sync',
        at,
        resolve: (f) => {
          c.pending.delete(reqId);
          resolve(f);
        },
        reject: (e) => {
          c.pending.delete(reqId);
          reject(e);
        },
      });
    });
  }

  /** Sync until has_more is false. mode 'final': no cursors, every message recorded as the final view. */
  private async syncOn(c: Conn, via: Via, convs?: Set<string>): Promise<void> {
    const full = via === 'final' || this.resetCursors;
    const cursors = new Map<string, number>(full ? [] : [...this.view.cursor]);
    this.syncing = true;
    try {
      for (;;) {
        const f = await this.request(c, { kind: { case: 'sync', value: { cursors: [...cursors].map(([conversation, seq]) => ({ conversation, seq: BigInt(seq) })), limit: 500 } } });
        if (f.kind.case === 'error') {
          const code = f.kind.value.code;
          this.stats.syncRefused[code] = (this.stats.syncRefused[code] ?? 0) + 1;
          if (!ERROR_CODES[code as keyof typeof ERROR_CODES]?.retryable) this.resetCursors = true;
          throw new Error(`sync answered ${code}: ${f.kind.value.message}`);
        }
        if (f.kind.case !== 'syncPage') throw new Error(`sync answered with ${f.kind.case}`);
        const page = f.kind.value;
        for (const m of page.messages) this.view.hold(m, via);
        for (const cs of page.conversations) {
          cursors.set(cs.conversation, Number(cs.nextCursor));
          this.conversations.add(cs.conversation);
          convs?.add(cs.conversation);
        }
        if (!page.hasMore) break;
      }
      if (full && via !== 'final') {
        // The server's cursors replace ours (ours may point above what is stored).
        for (const [conv, seq] of cursors) this.view.cursor.set(conv, seq);
        for (const conv of cursors.keys()) this.view.advance(conv);
        this.resetCursors = false;
      }
    } finally {
      this.syncing = false;
    }
    if (via !== 'final') this.scheduleAck([...cursors.keys()]);
  }

  private onFrame(c: Conn, f: ServerFrame): void {
    c.client.frames.length = 0; // replies are matched here, not through TestClient.frames
    const p = f.reqId ? c.pending.get(f.reqId) : undefined;
    if (p?.kind === 'sync') return p.resolve(f);
    if (p?.kind === 'send') {
      c.pending.delete(f.reqId);
      return this.onSendReply(c, p.entry, f);
    }
    switch (f.kind.case) {
      case 'message': {
        const m = f.kind.value;
        if (this.view.hold(m, 'live')) {
          this.scheduleAck([m.conversation]);
          if (Number(m.seq) > (this.view.cursor.get(m.conversation) ?? 0) + 1) this.scheduleGapSync();
        }
        break;
      }
      case 'receipt':
      case 'groupReceipts':
        this.stats.receipts++;
        break;
      case 'sendAck': {
        // A reply whose request this connection no longer tracks (given up on): still an ack.
        const a = f.kind.value;
        const e = this.outbox.get(a.clientMsgId);
        this.stats.lateAcks++;
        this.recordAck(c, a.conversation, a.clientMsgId, Number(a.seq), a.messageId, a.duplicate, e?.body);
        if (e) this.outbox.delete(a.clientMsgId);
        this.notify();
        break;
      }
      default:
        break;
    }
  }

  private onSendReply(c: Conn, e: OutboxEntry, f: ServerFrame): void {
    if (e.inflight?.conn === c) e.inflight = null;
    if (f.kind.case === 'sendAck') {
      const a = f.kind.value;
      if (!this.outbox.has(e.clientMsgId) || c.dead) this.stats.lateAcks++;
      this.recordAck(c, e.conv, e.clientMsgId, Number(a.seq), a.messageId, a.duplicate, e.body);
      this.outbox.delete(e.clientMsgId);
      this.notify();
      this.pump();
      return;
    }
    if (f.kind.case === 'error') {
      const { code, retryAfterMs, message } = f.kind.value;
      if (ERROR_CODES[code as keyof typeof ERROR_CODES]?.retryable) {
        this.stats.retryableErrors[code] = (this.stats.retryableErrors[code] ?? 0) + 1;
        e.notBefore = Date.now() + Math.max(retryAfterMs, e.backoff / 2 + Math.random() * e.backoff);
        e.backoff = Math.min(2_000, e.backoff * 2);
        this.schedulePump(e.notBefore - Date.now());
        return;
      }
      if (this.outbox.delete(e.clientMsgId))
        this.o.history.failures.push({ conv: e.conv, user: this.o.user, device: this.o.device, clientMsgId: e.clientMsgId, error: `${code}: ${message}`, at: Date.now() });
      this.notify();
      this.pump();
      return;
    }
    this.o.history.failures.push({ conv: e.conv, user: this.o.user, device: this.o.device, clientMsgId: e.clientMsgId, error: `send answered with ${f.kind.case}`, at: Date.now() });
    this.outbox.delete(e.clientMsgId);
  }

  private recordAck(c: Conn, conv: string, clientMsgId: string, seq: number, messageId: string, duplicate: boolean, body: string | undefined): void {
    this.o.history.acks.push({ conv, user: this.o.user, device: this.o.device, clientMsgId, seq, messageId, duplicate, at: Date.now(), node: c.node });
    // Own sends count once acked (PROTOCOL.md §6): held at their seq, the cursor moves.
    this.view.holdOwn(conv, seq, messageId, this.o.user, clientMsgId, body ?? '');
  }

  // ---- the outbox ------------------------------------------------------------------

  private pump(): void {
    const c = this.conn;
    if (!c || !c.ready || c.dead || this.closedForGood) return;
    const max = this.o.maxInflight ?? 4;
    let inflight = 0;
    for (const p of c.pending.values()) if (p.kind === 'send') inflight++;
    const now = Date.now();
    let soonest = Infinity;
    for (const e of this.outbox.values()) {
      if (inflight >= max) break;
      if (e.inflight) continue;
      if (e.notBefore > now) {
        soonest = Math.min(soonest, e.notBefore - now);
        continue;
      }
      let reqId: number;
      try {
        reqId = c.client.send({ kind: { case: 'send', value: { conversation: e.conv, clientMsgId: e.clientMsgId, body: e.body } } });
      } catch {
        return; // socket closing: the run loop reconnects
      }
      if (e.attempts++ > 0) this.stats.resends++;
      e.inflight = { conn: c, reqId, at: now };
      c.pending.set(reqId, { kind: 'send', entry: e, at: now });
      inflight++;
    }
    if (soonest < Infinity) this.schedulePump(soonest);
  }

  private schedulePump(ms: number): void {
    if (this.pumpTimer) return;
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = null;
      this.pump();
    }, Math.max(1, ms));
  }

  private scheduleGapSync(): void {
    if (this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      const c = this.conn;
      if (!c?.ready || c.dead || this.syncing) return;
      this.stats.gapSyncs++;
      this.syncOn(c, 'sync').catch(() => undefined);
    }, 300);
  }

  private scheduleAck(convs: string[]): void {
    for (const c of convs) this.ackDirty.add(c);
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const c = this.conn;
      if (!c?.ready || c.dead) return;
      const readEvery = this.o.readEvery ?? 5;
      for (const conv of this.ackDirty) {
        const seq = this.view.cursor.get(conv) ?? 0;
        if (seq <= 0) continue;
        const read = readEvery > 0 && ++this.acksSent % readEvery === 0;
        try {
          c.client.send({ kind: read ? { case: 'read', value: { conversation: conv, seq: BigInt(seq) } } : { case: 'ack', value: { conversation: conv, seq: BigInt(seq) } } });
        } catch {
          break;
        }
      }
      this.ackDirty.clear();
    }, this.o.ackDelayMs ?? 150);
  }

  // ---- waiting ---------------------------------------------------------------------

  private notify(): void {
    for (const w of [...this.wake]) w();
  }

  private waitWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wake.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(1, ms));
      this.wake.add(done);
    });
  }
}
