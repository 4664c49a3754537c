/**
 * The etcd route table: this node's routes are keys under its lease (so they vanish
 * when the node dies), written behind in batched transactions; every node mirrors
 * the whole routes prefix into a local cache. Key layout: node/etcd/keys.ts;
 * sizes and limits: ./README.md.
 *
 * Own routes are applied to the cache at once and are authoritative locally: watch
 * events about this node's own keys are ignored (they lag, and after a lost lease
 * they report deletions this node is about to undo).
 */
import type { Etcd3, IKeyValue, IRequestOp } from 'etcd3';
import { DEFAULT_PREFIX, parseRouteKey, routeKey, routesPrefix } from '../etcd/keys.js';
import type { NodeLease } from '../etcd/node_lease.js';
import { PrefixMirror } from '../etcd/prefix_mirror.js';
import { RouteBatcher, type RouteOp } from './route_batcher.js';
import { RouteCache } from './route_cache.js';
import { RouteTableOverloadedError, type Route, type RouteChange, type RouteTable, type RouteTableStats } from './route_table.js';

export interface EtcdRouteTableOptions {
  client: Etcd3;
  /** The node's lease, already started (node/etcd/node_lease.ts). */
  lease: NodeLease;
  nodeId: string;
  prefix?: string;
  /**
   * Ops per transaction. 128: etcd's default --max-txn-ops; a bigger txn is refused.
   * One txn of 128 puts costs about what one put does (one raft entry, one fsync).
   */
  maxBatchOps?: number;
  /**
   * How long a change may wait for company. 10 ms: route writes are off the message
   * path, so latency matters little, and under churn 10 ms fills batches.
   */
  maxDelayMs?: number;
  /**
   * Dirty keys allowed before registrations are refused. 50 000: about 400 full
   * transactions, i.e. a few seconds of etcd write capacity; a longer backlog means
   * etcd is down or overloaded and new connections should go elsewhere.
   */
  maxPending?: number;
  log?: (line: string) => void;
}

export class EtcdRouteTable implements RouteTable {
  readonly nodeId: string;
  private readonly prefix: string;
  private readonly cache = new RouteCache();
  private readonly batcher: RouteBatcher;
  private readonly mirror: PrefixMirror;
  private readonly listeners = new Set<(c: RouteChange) => void>();
  private readonly maxBatchOps: number;
  private readonly maxDelayMs: number;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private offLease: (() => void) | null = null;
  private stopped = false;
  private batches = 0;
  private refused = 0;

  constructor(private readonly opts: EtcdRouteTableOptions) {
    this.nodeId = opts.nodeId;
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.maxBatchOps = opts.maxBatchOps ?? 128;
    this.maxDelayMs = opts.maxDelayMs ?? 10;
    this.batcher = new RouteBatcher(opts.maxPending ?? 50_000);
    this.mirror = new PrefixMirror(opts.client, routesPrefix(this.prefix), {
      reset: (kvs) => this.emit(this.cache.replace(kvs.flatMap((kv) => this.parse(kv)), this.nodeId)),
      put: (kv) => this.remote(kv, true),
      del: (kv) => this.remote(kv, false),
    }, opts.log);
  }

  async start(): Promise<void> {
    // A new lease means the old one expired and took our keys: write them all again.
    this.offLease = this.opts.lease.onGranted(() => {
      this.batcher.lostAll();
      this.kick(true);
    });
    await this.mirror.start();
  }

  async stop(deadlineMs = 5_000): Promise<void> {
    this.offLease?.();
    this.batcher.clearDesired();
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, deadlineMs).unref())]);
    this.stopped = true;
    for (const t of [this.timer, this.retryTimer]) if (t) clearTimeout(t);
    await this.mirror.stop();
  }

  register(user: string, device: string): void {
    const key = routeKey(this.prefix, user, device, this.nodeId);
    if (!this.batcher.register(key)) {
      this.refused++;
      throw new RouteTableOverloadedError(this.batcher.pending);
    }
    const c = this.cache.add({ user, device, node: this.nodeId });
    if (c) this.emit([c]);
    this.kick(false);
  }

  unregister(user: string, device: string): void {
    const key = routeKey(this.prefix, user, device, this.nodeId);
    if (!this.batcher.unregister(key)) return;
    const c = this.cache.remove({ user, device, node: this.nodeId });
    if (c) this.emit([c]);
    this.kick(false);
  }

  /** Every cached route of other nodes (presence starts from these). */
  remoteRoutes(): Route[] {
    return [...this.cache.all()].filter((r) => r.node !== this.nodeId);
  }

  lookup(user: string): Route[] {
    return this.cache.lookup(user, this.nodeId);
  }

  onChange(listener: (c: RouteChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async flush(): Promise<void> {
    while (!this.stopped && (this.batcher.pending > 0 || this.inflight)) {
      this.kick(true);
      await (this.inflight ?? new Promise((r) => setTimeout(r, 20)));
    }
  }

  stats(): RouteTableStats {
    return {
      localRoutes: this.batcher.localCount,
      cachedRoutes: this.cache.size,
      pendingWrites: this.batcher.pending,
      batchesWritten: this.batches,
      resyncs: this.mirror.resyncs,
      overloaded: this.refused,
    };
  }

  /** Force a full re-read of the routes (tests; an operator's repair). */
  resync(): Promise<void> {
    return this.mirror.resync();
  }

  /** Start a batch now (full batch, flush) or within maxDelayMs. */
  private kick(now: boolean): void {
    if (this.stopped || this.inflight || this.retryTimer) return;
    if (now || this.batcher.pending >= this.maxBatchOps) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.inflight = this.writeBatch().finally(() => {
        this.inflight = null;
        if (this.batcher.pending > 0) this.kick(this.batcher.pending >= this.maxBatchOps);
      });
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.kick(true);
      }, this.maxDelayMs);
    }
  }

  private async writeBatch(): Promise<void> {
    const lease = this.opts.lease.id;
    if (lease === null) {
      // Between leases: onGranted kicks again; meanwhile keep flush() from spinning.
      await new Promise((r) => setTimeout(r, 50));
      return;
    }
    const ops = this.batcher.take(this.maxBatchOps);
    if (ops.length === 0) return;
    try {
      await this.opts.client.kv.txn({ compare: [], success: ops.map((op) => this.requestOp(op, lease)), failure: [] });
      this.batcher.applied(ops);
      this.batches++;
    } catch (e) {
      this.batcher.failed(ops);
      this.opts.log?.(`route batch of ${ops.length} failed: ${(e as Error).message}`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.kick(true);
      }, 200);
    }
  }

  private requestOp(op: RouteOp, lease: string): IRequestOp {
    const key = Buffer.from(op.key);
    return op.put ? { request_put: { key, value: Buffer.alloc(0), lease } } : { request_delete_range: { key } };
  }

  private parse(kv: IKeyValue): Route[] {
    const r = parseRouteKey(this.prefix, kv.key.toString());
    return r ? [r] : [];
  }

  private remote(kv: IKeyValue, put: boolean): void {
    const r = parseRouteKey(this.prefix, kv.key.toString());
    if (!r || r.node === this.nodeId) return;
    const c = put ? this.cache.add(r) : this.cache.remove(r);
    if (c) this.emit([c]);
  }

  private emit(changes: RouteChange[]): void {
    for (const c of changes) for (const l of this.listeners) l(c);
  }
}
