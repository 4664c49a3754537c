/**
 * A node's membership in a cluster cell: the shell that wires the building blocks of
 * node/cluster, node/etcd, node/routing and node/peers into a host. Its children are
 * named factories that node/main.ts places in the host's tree (rest_for_one):
 *
 *   etcd, lease, peer-server, membership, routes   before the store
 *   ownership, links                               after the chat service
 *
 * Running children publish themselves in `services` (a typed registry).
 *
 * What the rest of the node sees: `run` (ops go to the owner of their conversation,
 * forwarder.ts), `fanout` (the core's fan-out port in a cell, fanout.ts), `epochOf`
 * (the core's Ownership port) and `fence` (the write path's fence: a write for a
 * conversation carries the token of its shard taken when its seq was assigned, and
 * commits only while that token is still ours; cluster_fence.ts, ownership.ts).
 *
 * Shard moves: on acquire the chat service forgets cached state of the shard, so the
 * first op reloads the last seq from the store; before a planned release the shard
 * stops taking writes and the writer is flushed, then the key is deleted; a shard
 * lost without release (lease expired, fenced) is forgotten at once and its queued
 * writes fail the fence check.
 */
import type { Etcd3 } from 'etcd3';
import { ServiceRegistry, serviceChild, type ChildSpecInput, type Service, type StartFn } from '../../supervisor/index.js';
import type { Config } from '../config.js';
import type { Caller } from '../core/chat_types.js';
import type { Ownership } from '../core/conversations.js';
import type { FanoutPort } from '../core/fanout_port.js';
import type { ChatService } from '../core/chat_service.js';
import type { ConnRef, ConnectionRegistry } from '../core/registry.js';
import { EtcdRouteTable } from '../routing/route_table_etcd.js';
import { PeerDirectory, PeerServer } from '../peers/peer_server.js';
import type { LinkFrame } from '../../protocol/gen/cluster_pb.js';
import { makeEtcdClient } from '../etcd/etcd_client.js';
import { NodeLease } from '../etcd/node_lease.js';
import { Membership } from './membership.js';
import { ShardOwnership } from './ownership.js';
import { shardOf } from './shard_map.js';
import { ClusterFence } from './cluster_fence.js';
import { PeerLinks } from './peer_links.js';
import { RemotePresence } from './remote_presence.js';
import { Forwarder } from './forwarder.js';
import { ClusterFanout, type EncodedOutbox } from './fanout.js';
import type { CoreOp, CoreResult } from '../core/ops.js';

type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export interface ClusterNodeDeps {
  cfg: Config;
  /** The node's HTTP base URL (published in membership). */
  httpUrl: string;
  chat: () => ChatService | null;
  /** Resolves when every write accepted so far has committed (or failed). */
  flushWriter: () => Promise<void>;
  registry: ConnectionRegistry;
  /** The host's outbox, for pushes that arrive from other nodes already encoded. */
  outbox: EncodedOutbox;
  /** The local part of every fan-out (node/core/local_fanout.ts). */
  local: FanoutPort;
  /** Run an op here (this node owns its conversation). */
  run: (caller: Caller, op: CoreOp) => Promise<CoreResult>;
  /** Close a local connection with a retryable close code (its route could not be registered). */
  refuse: (ref: ConnRef) => void;
  log: Log;
}


/** The services the cluster's children run, by name (see `ClusterNode.services`). */
export interface ClusterServices {
  etcd: Etcd3;
  lease: NodeLease;
  peerServer: PeerServer;
  membership: Membership;
  routes: EtcdRouteTable;
  ownership: ShardOwnership;
}

export class ClusterNode implements Ownership {
  readonly self: string;
  readonly directory = new PeerDirectory();
  readonly forwarder: Forwarder;
  /** The fan-out port in a cell: the local part and one frame per other node with recipients. */
  readonly fanout: ClusterFanout;
  readonly services = new ServiceRegistry<ClusterServices>();
  /** The fence on every write of this node (node/store/write_path.ts). */
  readonly fence: ClusterFence;
  private readonly links: PeerLinks;
  /** Routes of other nodes counted as the users' connections by presence. */
  private readonly remote: RemotePresence;
  /** Shards being released: no new writes while the writer drains them. */
  private readonly releasing = new Set<number>();
  private readonly shardCount: number;

  constructor(private readonly d: ClusterNodeDeps) {
    this.self = d.cfg.node.id;
    this.shardCount = d.cfg.cluster.shards.count;
    this.forwarder = new Forwarder({
      self: this.self,
      shardOf: (c) => this.shardOf(c),
      heldToken: (s) => this.heldToken(s),
      ownerOf: (s) => this.services.peek('ownership')?.ownerOf(s) ?? null,
      link: (n) => this.directory.get(n),
      local: d.run,
    });
    this.fanout = new ClusterFanout({
      self: this.self,
      routes: () => this.services.peek('routes'),
      link: (n) => this.directory.get(n),
      peers: () => this.directory.all().map((l) => l.peer),
      local: d.local,
      registry: d.registry,
      outbox: d.outbox,
      onRemoteDelivered: (c, seq) => d.chat()?.remoteDelivered(c, seq),
    });
    this.remote = new RemotePresence(this.self, () => d.chat()?.presence ?? null);
    this.fence = new ClusterFence({
      shardOf: (c) => this.shardOf(c),
      heldToken: (s) => this.heldToken(s),
      ownership: () => this.services.peek('ownership'),
      leaseValid: () => this.leaseValid(),
      log: d.log,
    });
    this.links = new PeerLinks({
      self: this.self,
      links: d.cfg.cluster.links,
      directory: this.directory,
      membership: () => this.services.get('membership'),
      leaseId: () => this.services.peek('lease')?.id ?? '',
      onFrames: (frames, peer) => this.onFrames(frames, peer),
      linkDown: (peer) => this.forwarder.linkDown(peer),
      log: d.log,
    });
    // Routes follow the registry (which outlives every child) while a table runs.
    d.registry.tap((ev, ref) => {
      const routes = this.services.peek('routes');
      if (!routes) return;
      if (ev === 'close') return routes.unregister(ref.user, ref.device);
      try {
        routes.register(ref.user, ref.device);
      } catch (e) {
        // Other nodes could not reach it: close it with a retryable code (4004); the
        // client reconnects with backoff, by then the backlog has drained.
        d.log('warn', 'route not registered; closing the connection', { user: ref.user, err: (e as Error).message });
        d.refuse(ref);
      }
    });
  }

  shardOf(conversation: string): number {
    return shardOf(conversation, this.shardCount);
  }

  /** Our token for `shard` if we own it and take writes for it. */
  heldToken(shard: number): number | null {
    if (this.releasing.has(shard)) return null;
    return this.services.peek('ownership')?.tokenOf(shard) ?? null;
  }

  /** The ownership epoch of the conversation's shard (the core's Ownership port). */
  epochOf(conversation: string): number | null {
    return this.heldToken(this.shardOf(conversation));
  }

  /** 1 while this node holds a valid etcd lease (a metric). */
  leaseValid(): boolean {
    return this.services.peek('lease')?.isValid(0) ?? false;
  }

  run(caller: Caller, op: CoreOp): Promise<CoreResult> {
    return this.forwarder.run(caller, op);
  }

  /**
   * How many nodes `user` is connected to, this one included, from the route mirror
   * (the per-user send bucket is split over them; node/core/send_limits.ts).
   */
  userNodes(user: string): number {
    const nodes = new Set<string>([this.self]);
    for (const r of this.services.peek('routes')?.lookup(user) ?? []) nodes.add(r.node);
    return nodes.size;
  }

  /** A (re)started chat service: tell its presence who is connected elsewhere. */
  attachChat(chat: ChatService): void {
    this.remote.attach(chat.presence);
  }

  // ------------------------------------------------------------------ children
  // Named child factories; node/main.ts places them in the host's tree (rest_for_one):
  // etcd, lease, peer-server, membership, routes before the store; ownership and links
  // after the chat service.

  /** The shared etcd client. */
  etcdChild(): ChildSpecInput {
    const c = this.d.cfg.cluster;
    return {
      id: 'etcd',
      start: serviceChild((): Service => {
        let client: Etcd3 | null = null;
        return {
          start: async () => {
            client = makeEtcdClient(c.etcd.endpoints);
            this.services.provide('etcd', client);
          },
          stop: async () => {
            if (!client) return;
            this.services.withdraw('etcd', client);
            client.close();
            client = null;
          },
        };
      }),
    };
  }

  /** The node lease: everything below hangs its keys on it. */
  leaseChild(): ChildSpecInput {
    const c = this.d.cfg.cluster;
    return {
      id: 'lease',
      start: this.published(
        'lease',
        () => new NodeLease(this.services.get('etcd'), { ttlSec: c.etcd.leaseTtlSec, log: this.infoLog, startTimeoutMs: 30_000 }),
        // Revoked on a clean stop: the others take over at once instead of after a TTL.
        (v) => v.stop(true),
      ),
    };
  }

  /** The gRPC server of the peer links (its port goes into membership). */
  peerServerChild(): ChildSpecInput {
    const c = this.d.cfg.cluster;
    return {
      id: 'peer-server',
      start: this.published('peerServer', () => new PeerServer({ bind: c.peer.bind, directory: this.directory, log: this.infoLog }), (v) => v.stop()),
    };
  }

  /** members/<node> under the lease; up/down events. */
  membershipChild(): ChildSpecInput {
    const c = this.d.cfg.cluster;
    return {
      id: 'membership',
      start: this.published(
        'membership',
        () =>
          new Membership({
            client: this.services.get('etcd'),
            lease: this.services.get('lease'),
            self: { node: this.self, peerAddr: c.peer.advertise || `${c.peer.bind.slice(0, c.peer.bind.lastIndexOf(':'))}:${this.services.peek('peerServer')?.port ?? 0}`, httpUrl: this.d.httpUrl, startedAt: Date.now() },
            prefix: c.etcd.prefix,
            log: this.infoLog,
          }),
        (v) => v.stop(),
      ),
    };
  }

  /** user/device -> node routes, written behind from the registry. */
  routesChild(): ChildSpecInput {
    const c = this.d.cfg.cluster;
    return {
      id: 'routes',
      shutdown: 5_000,
      start: serviceChild(() => {
        const r = new EtcdRouteTable({ client: this.services.get('etcd'), lease: this.services.get('lease'), nodeId: this.self, prefix: c.etcd.prefix, ...c.routes, log: this.infoLog });
        const off = r.onChange((ch) => this.remote.onRouteChange(ch));
        return {
          start: async () => {
            await r.start();
            this.services.provide('routes', r);
            // Routes that went away while no table ran.
            this.remote.resync(r.remoteRoutes());
            // Connections opened while no table ran (a restart of this child).
            for (const ref of this.d.registry.all()) {
              try {
                r.register(ref.user, ref.device);
              } catch {
                /* logged by the tap on the next change; sync covers the gap */
              }
            }
          },
          stop: async () => {
            this.services.withdraw('routes', r);
            await r.stop(2_000);
            off();
          },
        };
      }),
    };
  }

  /** Conversation shards: claim, release after draining the writer, fence. */
  ownershipChild(): ChildSpecInput {
    const c = this.d.cfg.cluster;
    const forgetShard = (shard: number): void => this.d.chat()?.forget((conv) => this.shardOf(conv) === shard);
    return {
      id: 'ownership',
      shutdown: 20_000,
      start: serviceChild(() => {
        const o = new ShardOwnership({
          client: this.services.get('etcd'),
          lease: this.services.get('lease'),
          membership: this.services.get('membership'),
          nodeId: this.self,
          prefix: c.etcd.prefix,
          shardCount: this.shardCount,
          safetyMarginMs: c.fence.safetyMarginMs,
          fenceMode: c.fence.mode,
          log: this.infoLog,
          onAcquire: (shard) => {
            this.releasing.delete(shard);
            forgetShard(shard);
          },
          onRelease: async (shard) => {
            this.releasing.add(shard);
            await this.d.flushWriter();
            forgetShard(shard);
          },
          onLost: (shard) => forgetShard(shard),
        });
        return {
          start: async () => {
            // Published before it starts: acquisitions during start read their tokens here.
            this.services.provide('ownership', o);
            await o.start();
          },
          stop: async () => {
            await o.stop();
            this.services.withdraw('ownership', o);
            this.releasing.clear();
          },
        };
      }),
    };
  }

  /** (one_for_one) one PeerLink per live peer, started and terminated as membership changes. */
  linksChild(): ChildSpecInput {
    return this.links.child();
  }

  private readonly infoLog = (line: string): void => this.d.log('info', line);

  /** A child that starts what `make` builds, then publishes it; on stop it withdraws it first. */
  private published<K extends keyof ClusterServices>(name: K, make: () => ClusterServices[K] & { start(): Promise<void> }, stop: (v: ClusterServices[K]) => Promise<void>): StartFn {
    return serviceChild(() => {
      const v = make();
      return {
        start: async () => {
          await v.start();
          this.services.provide(name, v);
        },
        stop: async () => {
          this.services.withdraw(name, v);
          await stop(v);
        },
      };
    });
  }

  private onFrames(frames: LinkFrame[], peer: string): void {
    const reply = (f: LinkFrame): void => {
      if (this.directory.get(peer)?.send(f) !== 'ok') this.d.log('warn', 'reply to peer dropped', { peer });
    };
    for (const f of frames) {
      const k = f.kind;
      switch (k.case) {
        case 'deliver':
          this.fanout.onDeliver(k.value);
          break;
        case 'receipts':
          this.fanout.onReceipts(k.value);
          break;
        case 'push':
          this.fanout.onPush(k.value);
          break;
        case 'forwardSend':
          void this.forwarder.onForwardSend(k.value, reply);
          break;
        case 'forwardResult':
          this.forwarder.onForwardResult(k.value);
          break;
        case 'call':
          void this.forwarder.onCall(k.value, reply);
          break;
        case 'callResult':
          this.forwarder.onCallResult(k.value);
          break;
        case 'presenceSetting':
          this.d.chat()?.presence.remoteHidden(k.value.user, k.value.hideLastSeen);
          break;
        default:
          // Unknown or newer frame kinds are dropped (rolling upgrades).
          break;
      }
    }
  }

  /** For GET /admin/cluster. */
  status(): unknown {
    return {
      node: this.self,
      lease: this.services.peek('lease')?.id ?? null,
      members: this.services.peek('membership')?.members().map((m) => ({ node: m.node, peerAddr: m.peerAddr, httpUrl: m.httpUrl })) ?? [],
      shards: { count: this.shardCount, held: [...(this.services.peek('ownership')?.heldShards().keys() ?? [])].sort((a, b) => a - b), releasing: [...this.releasing] },
      links: this.directory.all().map((l) => ({ peer: l.peer, ...l.stats() })),
      routes: this.services.peek('routes')?.stats() ?? null,
      forwarder: { ...this.forwarder.stats, slow: this.forwarder.slowServing() },
      fanout: this.fanout.stats,
    };
  }
}
