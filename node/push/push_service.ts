/**
 * PushService: push notifications over one push store (opened by openPushStore beside
 * the message store: a SQLite file on a single node, the message keyspace on
 * Cassandra), the providers and the outbox, with the calls the node makes
 * (node/push/push_node.ts wires them):
 *
 *   register / unregister / list / mute  socket frames and HTTP API routes
 *   committed(message, members)          the fan-out, after each commit (owner only)
 *   acquire(shard) / release(shard)      shard ownership (single node: shard 0 at start)
 *
 * The owed rows themselves are written ahead of each commit by owing_store.ts.
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { StoredMessage } from '../store/types.js';
import { createCassandraClient } from '../store/cassandra_store.js';
import type { PushProvider } from './provider.js';
import type { PushStore } from './push_store.js';
import { SqlitePushStore } from './sqlite_push_store.js';
import { CassandraPushStore } from './cassandra_push_store.js';
import { PushOutbox } from './outbox.js';
import type { Log, MessageSource, PushOwnership } from './outbox_deps.js';
import { PushMetrics } from './metrics.js';
import { checkDeviceCap, checkMute, checkRegistration, type RegistrationInput, type RegistrationPolicy } from './registration.js';
import type { PushPlatform, PushRegistration } from './types.js';
import { CatalogError } from '../../protocol/errors.js';
import { redactToken } from './tokens.js';

export interface PushServiceDeps {
  cfg: Config;
  messages: MessageSource;
  /** Whether the device has a live connection anywhere in the cell. */
  online: (user: string, device: string) => boolean;
  ownership: PushOwnership;
  /** Provider clients by platform (node/push/providers/); null when that platform is off. */
  providers: Partial<Record<PushPlatform, PushProvider>>;
  /** Created once per process (metrics register once); absent in tests that do not look. */
  metrics?: PushMetrics;
  log?: Log;
}

/** A registration as shown back to its owner: the token redacted. */
export interface RegistrationView {
  platform: PushPlatform;
  device: string;
  appId: string;
  mode: PushRegistration['mode'];
  token: string;
}

export class PushService {
  readonly outbox: PushOutbox;
  readonly metrics: PushMetrics | null;
  private readonly policy: RegistrationPolicy;
  private readonly depthTimer: NodeJS.Timeout;

  constructor(
    readonly store: PushStore,
    private readonly deps: PushServiceDeps,
    /** close() closes the store too (false when the store belongs to the caller). */
    private readonly ownsStore = true,
  ) {
    const p = deps.cfg.push;
    this.metrics = deps.metrics ?? null;
    this.policy = {
      enabled: new Set(Object.keys(deps.providers) as PushPlatform[]),
      allowHttp: { webpush: p.webpush.allowHttp, webhook: p.webhook.allowHttp },
      webhookOrigins: p.webhook.allowedOrigins,
      webpushHosts: p.webpush.endpointHosts,
    };
    this.outbox = new PushOutbox(
      {
        store,
        messages: deps.messages,
        providers: (platform) => deps.providers[platform] ?? null,
        online: deps.online,
        ownership: deps.ownership,
        claimer: `${deps.cfg.node.id}:${randomUUID().slice(0, 8)}`,
        metrics: this.metrics ?? undefined,
        log: deps.log,
      },
      p,
    );
    this.depthTimer = setInterval(() => {
      const d = this.outbox.depth();
      this.metrics?.depth.set({ kind: 'owed' }, d.owed);
      this.metrics?.depth.set({ kind: 'pending' }, d.pending);
    }, 1_000);
    this.depthTimer.unref();
  }

  /** This device's registration as the socket's push_state reply shows it. */
  async stateOf(user: string, device: string): Promise<RegistrationView | null> {
    return (await this.list(user)).find((r) => r.device === device) ?? null;
  }

  /** Register (or replace) the push registration of the caller's device. */
  async register(user: string, device: string, input: RegistrationInput): Promise<RegistrationView> {
    const reg = checkRegistration(user, device, input, this.policy, Date.now());
    checkDeviceCap(await this.store.devicesOf([user]), device, this.deps.cfg.push.maxDevicesPerUser);
    if ((await this.store.register(reg)) === 'dead_token') {
      throw new CatalogError('invalid_argument', 'token: the push provider reported this token as unregistered; get a fresh one from the OS');
    }
    this.deps.log?.('info', 'push registration', { user, device, platform: reg.platform, mode: reg.mode, token: redactToken(reg.token) });
    return viewOf(reg);
  }

  async unregister(user: string, device: string): Promise<boolean> {
    return this.store.unregister(user, device);
  }

  async list(user: string): Promise<RegistrationView[]> {
    return (await this.store.devicesOf([user])).map(viewOf);
  }

  /** Mute (or unmute) a conversation for the user; resolves the mute's end (0: not muted). */
  async mute(user: string, conversation: string, mute: { durationSec: number; forever: boolean }): Promise<number> {
    const until = checkMute(conversation, mute, Date.now());
    await this.store.setMute(user, conversation, until);
    return until;
  }

  committed(message: StoredMessage, members: readonly string[]): void {
    this.outbox.committed(message, members);
  }

  acquire(shard: number): Promise<void> {
    return this.outbox.acquire(shard);
  }

  release(shard: number): void {
    this.outbox.release(shard);
  }

  async close(): Promise<void> {
    clearInterval(this.depthTimer);
    await this.outbox.close();
    await Promise.all(Object.values(this.deps.providers).map((p) => p.close().catch(() => undefined)));
    if (this.ownsStore) await this.store.close();
  }
}

/** The push store for this node's message store: a SQLite file of its own, or the Cassandra keyspace. */
export async function openPushStore(cfg: Config): Promise<PushStore> {
  if (cfg.store.kind === 'cassandra') {
    const client = createCassandraClient(cfg.store.cassandra);
    await client.connect();
    return new CassandraPushStore(client, cfg.store.cassandra.keyspace, true);
  }
  const file = cfg.push.sqliteFile || path.join(cfg.node.dataDir, 'push.sqlite');
  mkdirSync(path.dirname(file), { recursive: true });
  return new SqlitePushStore(file);
}

function viewOf(r: PushRegistration): RegistrationView {
  return { platform: r.platform, device: r.device, appId: r.appId, mode: r.mode, token: redactToken(r.token) };
}
