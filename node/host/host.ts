/**
 * One node host: the state its supervised children share (the connection registry,
 * the outbox to socket shards, the fan-out port, auth, send limits, TLS) and its
 * children as named factories (storeChild, chatChild, tasksChild, shardsChild).
 * node/main.ts arranges them, with the cluster's, into the supervision tree.
 *
 * Running services reach each other through `services` (a typed registry: a child
 * publishes what it runs once started and withdraws it before it stops).
 *
 * Restarts rebuild what a child owns: a restarted store child reopens the store and
 * the write path; a restarted chat child starts from empty caches (it reloads seqs
 * from the store); a restarted shard starts with no sockets (its clients reconnect
 * and resync, and their in-flight sends are retried and deduped).
 */
import path from 'node:path';
import type { ChildSpecInput, Service } from '../../supervisor/index.js';
import { ServiceRegistry, serviceChild, supervisorSpec, threadChild } from '../../supervisor/index.js';
import { SqliteWorkerStore } from '../store/sqlite_worker_store.js';
import { openCassandraStore } from '../store/cassandra_store.js';
import type { MessageStore } from '../store/store.js';
import { WritePath } from '../store/write_path.js';
import { meteredStore } from '../store/metered_store.js';
import { ChatService, type Caller } from '../core/chat_service.js';
import { ConnectionRegistry } from '../core/registry.js';
import type { FanoutPort } from '../core/fanout_port.js';
import { LocalFanout } from '../core/local_fanout.js';
import { runOp, toErrorResult } from '../core/run_op.js';
import { SendLimiter } from '../core/send_limits.js';
import type { CoreOp, CoreResult } from '../core/ops.js';
import { sendLimitRules, writerOptions, type Config } from '../config.js';
import { createVerifier, type Verifier } from '../auth/verify.js';
import { TicketStore } from '../auth/tickets.js';
import type { AuthConfig } from '../auth/types.js';
import type { HttpRequest, HttpResponse, ShardInit } from '../../shards/messages.js';
import { TaskPool } from '../tasks/task_pool.js';
import { ClusterNode } from '../cluster/cluster_node.js';
import type { FenceClaim } from '../cluster/fence.js';
import { BatchingOutbox } from './outbox.js';
import { ShardLink } from './shard_link.js';
import { createOpRing } from '../../shards/op_ring.js';
import { HostMetrics } from './metrics.js';
import { faultHook } from './faults.js';
import { TlsReloader } from './tls_reload.js';
import { PushNode } from '../push/push_node.js';
import type { MediaPort } from '../core/media_port.js';
import { isDebug, log, logger, logLevel, traceId } from '../../supervisor/log.js';

// The process's one logger (pino; fields and levels: docs/LOGS.md).
export { log, type Log } from '../../supervisor/log.js';

/** The services the host's children run, by name (see `Host.services`). */
export interface HostServices {
  /** The store behind its batch writer and (in a cell) the fence: the store child. */
  writePath: WritePath<FenceClaim>;
  /** Conversations, sequencing, receipts, presence: the chat child. */
  chat: ChatService;
  /** The piscina pool for CPU-heavy work off the socket threads: the tasks child. */
  tasks: TaskPool;
}

export class Host {
  readonly services = new ServiceRegistry<HostServices>();
  /** Media attachments (node/media/media_host.ts, set by node/main.ts); null when media.enabled is false. */
  media: MediaPort | null = null;
  /** Cluster membership, routing and shard ownership; null on a single node. */
  readonly cluster: ClusterNode | null;
  readonly registry = new ConnectionRegistry();
  readonly links: Array<ShardLink | undefined> = [];
  readonly outbox = new BatchingOutbox((i) => this.links[i]);
  /** Where the chat service fans out: this node's sockets, and in a cell the other nodes. */
  readonly fanout: FanoutPort;
  readonly verifier: Verifier;
  readonly tickets: TicketStore;
  readonly metrics: HostMetrics;
  draining = false;
  /** Per-user and per-conversation send buckets (node/core/send_limits.ts); outlive chat restarts. */
  readonly sendLimits: SendLimiter;
  /** The certificate the shards serve and its reload (SIGHUP, file change); null without TLS. */
  readonly tls: TlsReloader | null;
  /** Push notifications for offline devices (node/push/push_node.ts); inert when no provider is enabled. */
  readonly push: PushNode;

  constructor(
    readonly cfg: Config,
    /** The port every shard listens on (resolved before start when the config says 0). */
    readonly port: number,
  ) {
    this.verifier = createVerifier(this.authConfig());
    this.tickets = new TicketStore({ ttlMs: cfg.auth.ticketTtlMs });
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
    const local = new LocalFanout(this.registry, this.outbox);
    this.cluster = cfg.cluster.enabled
      ? new ClusterNode({
          cfg,
          httpUrl: `${scheme}://${cfg.listen.host}:${port}`,
          chat: () => this.services.peek('chat'),
          flushWriter: async () => {
            await this.services.peek('writePath')?.flush();
          },
          registry: this.registry,
          outbox: this.outbox,
          local,
          run: (caller, op) => this.runLocal(caller, op),
          refuse: (ref) => this.links[ref.shard]?.post({ t: 'close', conn: ref.conn, reason: 'overloaded' }),
          log,
        })
      : null;
    const cell = this.cluster;
    this.push = new PushNode({
      cfg,
      registry: this.registry,
      log,
      metrics: () => this.metrics.registry,
      cell: cell
        ? {
            shardCount: cfg.cluster.shards.count,
            shardOf: (c) => cell.shardOf(c),
            heldToken: (s) => cell.heldToken(s),
            leaseValid: () => cell.services.peek('lease')?.isValid(cfg.cluster.fence.safetyMarginMs) ?? false,
            remoteDevices: (u) => cell.services.peek('routes')?.lookup(u) ?? [],
          }
        : null,
    });
    // Push hangs off the port where messages are committed (the owner); deliveries other nodes forward use `local`.
    this.fanout = this.push.fanout(this.cluster ? this.cluster.fanout : local);
    const cluster = this.cluster;
    this.metrics = new HostMetrics({
      writer: () => this.services.peek('writePath')?.stats() ?? null,
      connections: () => this.registry.size,
      shardLinks: () => this.links,
      peerLinkStates: () => cluster?.directory.all().map((l) => l.stats().state) ?? [],
      leaseValid: cluster ? () => cluster.leaseValid() : null,
      outboxPosted: () => this.outbox.posted,
    });
  }

  /** Run a client's op: here, or (in a cluster) at the owner of its conversation. Never throws. */
  run(caller: Caller, op: CoreOp): Promise<CoreResult> {
    // Push registration runs where the socket is, against the shared push store.
    if (op.op === 'push_register' || op.op === 'push_unregister' || op.op === 'push_mute') return this.push.run(caller, op);
    const go = (): Promise<CoreResult> => (this.cluster ? this.cluster.run(caller, op) : this.runLocal(caller, op));
    // The user bucket is charged where the socket is (HTTP API sends have no socket and skip it).
    return op.op === 'send' && caller.conn ? this.sendLimits.user(caller.user, this.cluster?.userNodes(caller.user) ?? 1, go) : go();
  }

  private runLocal(caller: Caller, op: CoreOp): Promise<CoreResult> {
    const go = (): Promise<CoreResult> =>
      Promise.resolve()
        .then(() => runOp(this.services.get('chat'), caller, op))
        .catch((e: unknown) => toErrorResult(e, log))
        .then((res) => (isDebug() && op.op === 'send' ? traceStored(caller, op, res) : res));
    // The conversation buckets are charged where the conversation's owner runs the op.
    return op.op === 'send' ? this.sendLimits.conversation(op.conversation, caller.user, go) : go();
  }

  /** Ready for traffic: not draining, and the chat service runs. */
  ready(): boolean {
    return !this.draining && this.services.peek('chat') !== null;
  }

  // ------------------------------------------------------------------ children

  /** The store and its write path. Stopping flushes what was accepted, then closes. */
  storeChild(): ChildSpecInput {
    return {
      id: 'store',
      // Long enough to commit a full write queue before the store closes.
      shutdown: 10_000,
      start: serviceChild((): Service => {
        let wp: WritePath<FenceClaim> | null = null;
        return {
          start: async (ctx) => {
            const cfg = this.cfg;
            // SQLite commits in its own thread (no fsync on this loop). If that thread dies,
            // this child dies with it, after failing what was queued: the supervisor then
            // restarts the store (and, rest_for_one, what depends on it).
            const died = async (err: Error): Promise<void> => {
              const dead = wp;
              wp = null;
              if (dead) {
                this.services.withdraw('writePath', dead);
                await dead.close().catch(() => undefined);
                await this.push.closeStore().catch(() => undefined);
              }
              ctx.exit(err);
            };
            const metered: MessageStore = meteredStore(
              cfg.store.kind === 'cassandra'
                ? await openCassandraStore(cfg.store.cassandra, { migrate: cfg.store.cassandra.migrateOnStart })
                : await SqliteWorkerStore.open(cfg.store.sqlite.file, { walAutocheckpointPages: cfg.store.sqlite.walAutocheckpointPages, onExit: (e) => void died(e) }),
              this.metrics.store,
            );
            // With push on, every commit first writes the pushes its messages owe (node/push/owing_store.ts).
            const store = await this.push.wrapStore(metered);
            wp = new WritePath<FenceClaim>(store, { batch: writerOptions(cfg.store), fence: this.cluster?.fence ?? null, afterCommit: faultHook() });
            this.services.provide('writePath', wp);
          },
          stop: async () => {
            if (!wp) return;
            this.services.withdraw('writePath', wp);
            await wp.close();
            wp = null;
            await this.push.closeStore();
          },
        };
      }),
    };
  }

  /** Conversations, sequencing, receipts: in-memory caches over the store. */
  chatChild(): ChildSpecInput {
    return {
      id: 'chat',
      start: serviceChild((): Service => {
        let svc: ChatService | null = null;
        let off: (() => void) | null = null;
        return {
          start: async () => {
            const wp = this.services.get('writePath');
            const l = this.cfg.limits;
            const chat = new ChatService({
              store: wp.store,
              writer: wp,
              registry: this.registry,
              fanout: this.fanout,
              ownership: this.cluster,
              media: this.media,
              limits: {
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
              },
            });
            // A failed batch retires every cached seq before any of its sends settles.
            off = wp.onFailure(() => chat.writeFailed());
            this.cluster?.attachChat(chat);
            svc = chat;
            this.services.provide('chat', chat);
          },
          stop: async () => {
            if (!svc) return;
            this.services.withdraw('chat', svc);
            off?.();
            svc.close();
            svc = null;
          },
        };
      }),
    };
  }

  /** The piscina pool for CPU-heavy work off the socket threads. */
  tasksChild(threads: number): ChildSpecInput {
    return {
      id: 'tasks',
      shutdown: 5_000,
      start: serviceChild((): Service => {
        const pool = new TaskPool(this.authConfig(), threads);
        return {
          start: async () => {
            await pool.start();
            this.services.provide('tasks', pool);
          },
          stop: async () => {
            this.services.withdraw('tasks', pool);
            await pool.stop();
          },
        };
      }),
    };
  }

  authConfig(): AuthConfig {
    const a = this.cfg.auth;
    return { issuer: a.issuer || undefined, audience: a.audience || undefined, clockToleranceSec: a.clockToleranceSec, ticketTtlMs: a.ticketTtlMs, keys: a.keys };
  }

  /** The socket shards: N uWebSockets.js worker threads on one port, one_for_one. */
  shardsChild(count: number, http: (req: HttpRequest) => Promise<HttpResponse>): ChildSpecInput {
    return supervisorSpec('shards', {
      strategy: 'one_for_one',
      // A shard that crashes more than 5 times in 10 s is not a transient fault.
      intensity: 5,
      periodMs: 10_000,
      children: Array.from({ length: count }, (_, i) => this.shardChild(i, http)),
    });
  }

  /** One socket shard: a worker thread running shards/shard_main.ts. */
  private shardChild(shard: number, http: (req: HttpRequest) => Promise<HttpResponse>): ChildSpecInput {
    const init: ShardInit = {
      shard,
      nodeId: this.cfg.node.id,
      host: this.cfg.listen.host,
      port: this.port,
      // The last validated snapshot, updated in place by a reload: a restarted shard gets it.
      tls: this.tls?.live ?? null,
      limits: this.cfg.limits,
      auth: this.cfg.auth,
      opRing: null,
      fault: process.env.SWITCHBOARD_TEST_FAULT ?? '',
      logLevel: logLevel(),
    };
    /** The ring of the thread being spawned (workerData runs just before onSpawn). */
    let ring: SharedArrayBuffer | null = null;
    return {
      id: `shard-${shard}`,
      // Long enough for the shard to send goaway and close its sockets.
      shutdown: 10_000,
      start: threadChild({
        entry: new URL('../../shards/shard_main.ts', import.meta.url),
        // A fresh op ring per thread: a crashed shard's unread ops die with it (its clients
        // were never acked and resend), and never reach the host under its successor's conn ids.
        workerData: () => {
          ring = this.cfg.shards.opRingMs > 0 ? createOpRing() : null;
          return { ...init, opRing: ring } as unknown as Record<string, unknown>;
        },
        awaitReady: true,
        startTimeoutMs: 30_000,
        // A uWS thread that stops answering cannot be killed safely: the supervisor
        // escalates and the host exits for its OS-level restarter.
        heartbeat: { intervalMs: 2_000, timeoutMs: 20_000 },
        onSpawn: (worker) => {
          this.links[shard] = new ShardLink(shard, worker, ring, this.cfg.shards.opRingMs, {
            run: (caller, op) => this.run(caller, op),
            registry: this.registry,
            http,
            redeem: (t) => this.tickets.redeem(t),
            verify: (token) => this.services.get('tasks').verifyToken(token),
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

/** Debug trace of a send's outcome at the host (the message's trace id: supervisor/log.ts traceId). */
function traceStored(caller: Caller, op: Extract<CoreOp, { op: 'send' }>, res: CoreResult): CoreResult {
  const trace = traceId(caller.user, caller.device, op.conversation, op.clientMsgId);
  if (res.r === 'send_ack') logger().debug({ evt: 'send.stored', trace, conversation: op.conversation, seq: res.ack.seq, msg_id: res.ack.messageId, duplicate: res.ack.duplicate }, 'send stored');
  else if (res.r === 'error') logger().debug({ evt: 'send.refused', trace, conversation: op.conversation, code: res.code }, 'send refused');
  return res;
}
