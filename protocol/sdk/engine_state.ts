/**
 * The SDK engine's state and the few calls every part uses (status, requests,
 * conversations, saving to storage): the base of sync_engine.ts (what arrives and what
 * is owed) and engine.ts (the connection's life). Split by role; one object at run time.
 */
import type { ServerFrame } from '../gen/client_pb.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { DEFAULTS, type ClientOptions } from './options.js';
import { realClock } from './clock.js';
import { Connection, RequestError, type FrameInit } from './connection.js';
import { Emitter } from './events.js';
import { Outbox } from './outbox.js';
import { Conversation } from './state.js';
import { MemoryStorage } from './storage.js';
import type { ConnectionStatus, PersistedState, PresenceState, SdkEvents } from './types.js';


export abstract class EngineState extends Emitter<SdkEvents> {
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

  protected setStatus(status: ConnectionStatus, extra: Omit<SdkEvents['status'], 'status'> = {}): void {
    this.status = status;
    this.emit('status', { status, ...extra });
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
