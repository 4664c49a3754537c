/**
 * The state one node host shares between its supervised children, and the children
 * themselves as services (supervisor/service_child.ts) and thread specs. node/main.ts
 * arranges them into the supervision tree.
 *
 * Restarts rebuild what a child owns: a restarted store child reopens the store and
 * the writer; a restarted chat child starts from empty caches (it reloads seqs from
 * the store); a restarted shard starts with no sockets (its clients reconnect and
 * resync, and their in-flight sends are retried and deduped).
 */
import path from 'node:path';
import type { ChildSpecInput, Service } from '../../supervisor/index.js';
import { threadChild } from '../../supervisor/index.js';
import { BatchWriter } from '../store/batch_writer.js';
import { SqliteStore } from '../store/sqlite_store.js';
import { openCassandraStore } from '../store/cassandra_store.js';
import type { MessageStore } from '../store/store.js';
import type { WriteOp } from '../store/types.js';
import { ChatService } from '../core/chat_service.js';
import { ConnectionRegistry } from '../core/registry.js';
import { sendLimitRules, writerOptions, type Config } from '../config.js';
import { createVerifier, type Verifier } from '../auth/verify.js';
import { TicketStore } from '../auth/tickets.js';
import type { HttpRequest, HttpResponse, ShardInit } from '../../shards/messages.js';
import { BatchingOutbox } from './outbox.js';
import { ShardLink } from './shard_link.js';
import { HostMetrics } from './metrics.js';
import { meteredStore } from '../store/metered_store.js';
import { faultHook } from './faults.js';
import { TaskPool } from '../tasks/task_pool.js';
import type { AuthConfig } from '../auth/types.js';
import type { Writer } from '../core/chat_types.js';
import type { Caller } from '../core/chat_service.js';
import { runOp, toErrorResult } from '../core/run_op.js';
import { ClusterNode } from '../cluster/cluster_node.js';
import { SendLimiter } from '../core/send_limits.js';
import type { FenceClaim } from '../cluster/fence.js';
import { TlsReloader } from './tls_reload.js';
import type { CoreOp, CoreResult } from '../core/ops.js';

/** A write and the fence it was accepted under (null: single node or not conversation-scoped). */
export interface FencedOp {
  op: WriteOp;
  claim: FenceClaim | null;
}

export type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export const log: Log = (level, msg, fields = {}) => {
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + '\n');
};

export class Host {
  store: MessageStore | null = null;
  writer: BatchWriter<FencedOp> | null = null;
  /** Cluster membership, routing and shard ownership; null on a single node. */
  readonly cluster: ClusterNode | null;
  service: ChatService | null = null;
  readonly registry = new ConnectionRegistry();
  readonly links: Array<ShardLink | undefined> = [];
  readonly outbox = new BatchingOutbox((i) => this.links[i]);
  readonly verifier: Verifier;
  readonly tickets: TicketStore;
  readonly metrics: HostMetrics;
  tasks: TaskPool | null = null;
  draining = false;
  /** Per-user and per-conversation send buckets (node/core/send_limits.ts); outlive chat restarts. */
  readonly sendLimits: SendLimiter;
  /** The certificate the shards serve and its reload (SIGHUP, file change); null without TLS. */
  readonly tls: TlsReloader | null;

  constructor(
    readonly cfg: Config,
    /** The port every shard listens on (resolved before start when the config says 0). */
    readonly port: number,
  ) {
    this.verifier = createVerifier(this.authConfig());
    this.tickets = new TicketStore({ ttlMs: cfg.auth.ticketTtlMs });
    this.metrics = new HostMetrics(this);
    this.sendLimits = new SendLimiter(sendLimitRules(cfg.limits));
    this.tls = cfg.listen.tls
      ? new TlsReloader({
          config: cfg.listen.tls,
          dir: path.join(cfg.node.dataDir, 'tls'),
          log,
          apply: (files, gen) => {
            const links = this.links.filter((l): l is ShardLink => l !== undefined);
            return Promise.all(links.map(async (l) => ({ shard: l.shard, error: await l.reloadTls(gen, files) })));
          },
        })
      : null;
    const scheme = cfg.listen.tls ? 'https' : 'http';
    this.cluster = cfg.cluster.enabled
      ? new ClusterNode({
          cfg,
          httpUrl: `${scheme}://${cfg.listen.host}:${port}`,
          chat: () => this.service,
          flushWriter: async () => {
            await this.writer?.flush().catch(() => undefined);
          },
          registry: this.registry,
          outbox: this.outbox,
          local: (caller, op) => this.runLocal(caller, op),
          refuse: (ref) => this.links[ref.shard]?.post({ t: 'close', conn: ref.conn, reason: 'overloaded' }),
          log,
        })
      : null;
  }

  /** Run a client's op: here, or (in a cluster) at the owner of its conversation. Never throws. */
  run(caller: Caller, op: CoreOp): Promise<CoreResult> {
    const go = (): Promise<CoreResult> => (this.cluster ? this.cluster.run(caller, op) : this.runLocal(caller, op));
    // The user bucket is charged where the socket is (HTTP API sends have no socket and skip it).
    return op.op === 'send' && caller.conn ? this.sendLimits.user(caller.user, this.cluster?.userNodes(caller.user) ?? 1, go) : go();
  }

  private runLocal(caller: Caller, op: CoreOp): Promise<CoreResult> {
    const go = (): Promise<CoreResult> =>
      Promise.resolve()
        .then(() => runOp(this.chat(), caller, op))
        .catch((e: unknown) => toErrorResult(e, log));
    // The conversation buckets are charged where the conversation's owner runs the op.
    return op.op === 'send' ? this.sendLimits.conversation(op.conversation, caller.user, go) : go();
  }

  chat(): ChatService {
    if (!this.service) throw Object.assign(new Error('the chat service is restarting'), { code: 'unavailable' });
    return this.service;
  }

  // ------------------------------------------------------------------ children

  /** The store and its batch writer. Stopping flushes what was accepted, then closes. */
  storeService(): Service {
    return {
      start: async () => {
        const cfg = this.cfg;
        const store: MessageStore = meteredStore(
          cfg.store.kind === 'cassandra'
            ? await openCassandraStore(cfg.store.cassandra, { migrate: cfg.store.cassandra.migrateOnStart })
            : new SqliteStore(cfg.store.sqlite.file),
          this.metrics.store,
        );
        const fault = faultHook();
        this.store = store;
        const cluster = this.cluster;
        this.writer = new BatchWriter<FencedOp>(async (items) => {
          const ops = items.map((i) => i.op);
          try {
            if (cluster) await cluster.commit(claimsOf(items), () => store.commit(ops));
            else await store.commit(ops);
          } catch (e) {
            this.service?.writeFailed();
            throw e;
          }
          fault?.(ops);
        }, writerOptions(cfg.store));
      },
      stop: async () => {
        await this.writer?.close();
        await this.store?.close();
        this.writer = null;
        this.store = null;
      },
    };
  }

  /** Conversations, sequencing, receipts: in-memory caches over the store. */
  chatService(): Service {
    return {
      start: async () => {
        if (!this.store || !this.writer) throw new Error('the store is not running');
        const l = this.cfg.limits;
        this.service = new ChatService(this.store, this.fencedWriter(this.writer), this.registry, this.outbox, {
          maxMessageBytes: l.maxMessageBytes,
          defaultSyncPage: l.defaultSyncPage,
          maxSyncPage: l.maxSyncPage,
          maxHistoryPage: l.maxHistoryPage,
          maxConversationMembers: l.maxConversationMembers,
          retentionMessages: this.cfg.store.retentionMessages,
          maxPresenceSubscriptions: l.maxPresenceSubscriptions,
          presenceOfflineDebounceMs: l.presenceOfflineDebounceMs,
          presenceIntervalMs: l.presenceIntervalMs,
          groupReceiptIntervalMs: l.groupReceiptIntervalMs,
          typingTtlMs: l.typingTtlMs,
        });
        if (this.cluster) {
          this.service.cluster = this.cluster.hooks;
          this.cluster.attachChat(this.service);
        }
      },
      stop: async () => {
        this.service?.close();
        this.service = null;
      },
    };
  }

  /** The writer as the chat service sees it: each op carries its fence (the epoch it was sequenced under). */
  private fencedWriter(w: BatchWriter<FencedOp>): Writer {
    const claim = (op: WriteOp, epoch?: number): FencedOp => ({ op, claim: this.cluster ? this.cluster.claimOf(op, epoch) : null });
    return {
      submit: (op, epoch) => {
        try {
          return w.submit(claim(op, epoch));
        } catch (e) {
          return Promise.reject(e as Error);
        }
      },
      submitMany: (ops, epoch) => {
        try {
          return w.submitMany(ops.map((op) => claim(op, epoch)));
        } catch (e) {
          return Promise.reject(e as Error);
        }
      },
      room: () => w.room(),
    };
  }

  /** The piscina pool for CPU-heavy work off the socket threads. */
  taskService(threads: number): Service {
    const pool = new TaskPool(this.authConfig(), threads);
    return {
      start: async () => {
        await pool.start();
        this.tasks = pool;
      },
      stop: async () => {
        this.tasks = null;
        await pool.stop();
      },
    };
  }

  authConfig(): AuthConfig {
    const a = this.cfg.auth;
    return { issuer: a.issuer || undefined, audience: a.audience || undefined, clockToleranceSec: a.clockToleranceSec, ticketTtlMs: a.ticketTtlMs, keys: a.keys };
  }

  /** One socket shard: a worker thread running shards/shard_main.ts. */
  shardSpec(shard: number, http: (req: HttpRequest) => Promise<HttpResponse>): ChildSpecInput {
    const init: ShardInit = {
      shard,
      nodeId: this.cfg.node.id,
      host: this.cfg.listen.host,
      port: this.port,
      // The last validated snapshot, updated in place by a reload: a restarted shard gets it.
      tls: this.tls?.live ?? null,
      limits: this.cfg.limits,
      auth: this.cfg.auth,
      fault: process.env.SWITCHBOARD_TEST_FAULT ?? '',
    };
    return {
      id: `shard-${shard}`,
      // Long enough for the shard to send goaway and close its sockets.
      shutdown: 10_000,
      start: threadChild({
        entry: new URL('../../shards/shard_main.ts', import.meta.url),
        workerData: init as unknown as Record<string, unknown>,
        awaitReady: true,
        startTimeoutMs: 30_000,
        // A uWS thread that stops answering cannot be killed safely: the supervisor
        // escalates and the host exits for its OS-level restarter.
        heartbeat: { intervalMs: 2_000, timeoutMs: 20_000 },
        onSpawn: (worker) => {
          this.links[shard] = new ShardLink(shard, worker, {
            run: (caller, op) => this.run(caller, op),
            registry: this.registry,
            http,
            redeem: (t) => this.tickets.redeem(t),
            verify: (token) => (this.tasks ? this.tasks.verifyToken(token) : Promise.reject(new Error('the task pool is restarting'))),
            log,
            onDrained: () => {},
          });
          worker.once('exit', () => {
            this.links[shard] = undefined;
            this.registry.removeShard(shard);
          });
        },
      }),
    };
  }
}


/** The distinct fences of a batch (one per shard and token). */
function claimsOf(items: FencedOp[]): FenceClaim[] {
  const seen = new Map<string, FenceClaim>();
  for (const i of items) if (i.claim) seen.set(`${i.claim.shard}:${i.claim.token}`, i.claim);
  return [...seen.values()];
}
