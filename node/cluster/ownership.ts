/**
 * Conversation shard ownership with fencing (the I/O shell around shard_map.ts).
 *
 * Each shard has at most one owner, recorded as `<prefix>own/<shard>` = node id under
 * the owner's lease. Claiming is a txn "create if absent"; the key's mod_revision at
 * that moment is the owner's fencing token (revisions only grow, so a later owner
 * always holds a larger token). Releasing is a txn "delete if mod_revision == token".
 *
 * Who should own what is rendezvous hashing over live members (shard_map.ts). A node
 * claims only free shards that hash to it, and releases (after draining, through
 * `onRelease`) the shards that hash elsewhere, so a shard never has two owners and
 * only changes hands by release or by lease expiry.
 *
 * Takeover bound when an owner dies: its lease expires TTL after its last renewal
 * reached etcd, etcd's expiry sweep adds up to 0.5 s, then the delete reaches the
 * other nodes' watches (ms) and the new desired owner claims at once (one txn). If
 * anything is missed the periodic reconcile (`reconcileMs`, 1 s) catches it:
 * shards move within TTL + 1.5 s (measured: see ownership.test.ts).
 *
 * Fencing (`fencedCommit`): see fence.ts for the checks and their limits.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import { DEFAULT_PREFIX, ownKey, ownPrefix, parseOwnKey } from '../etcd/keys.js';
import type { Membership } from './membership.js';
import type { NodeLease } from '../etcd/node_lease.js';
import { PrefixMirror } from '../etcd/prefix_mirror.js';
import { DEFAULT_SHARD_COUNT, planOwnership, shardOf, type ShardOwner } from './shard_map.js';
import { FencedError, verifyFence, type FenceClaim, type FenceMode } from './fence.js';

export interface OwnershipOptions {
  client: Etcd3;
  lease: NodeLease;
  membership: Membership;
  nodeId: string;
  prefix?: string;
  shardCount?: number;
  /** Periodic re-plan, in case an event was missed. Default 1000 ms. */
  reconcileMs?: number;
  /**
   * fencedCommit refuses to start a write unless the lease stays valid this much
   * longer. Default 1000 ms: longer than a normal store batch (a few ms) by far, so a
   * write that starts in time also ends in time unless the process stalls.
   */
  safetyMarginMs?: number;
  /** 'etcd' (default): also compare the key's mod_revision in etcd per commit. */
  fenceMode?: FenceMode;
  /** Called when a shard is acquired (load its state, accept its writes). */
  onAcquire?: (shard: number, token: number) => void;
  /** Called before a shard is released on purpose: resolve once its writes are drained. */
  onRelease?: (shard: number) => Promise<void>;
  /** Called when a shard was lost without a release (lease expired, fenced). */
  onLost?: (shard: number) => void;
  log?: (line: string) => void;
}

export class ShardOwnership {
  readonly shardCount: number;
  private readonly prefix: string;
  private readonly owners = new Map<number, ShardOwner>();
  private readonly held = new Map<number, number>();
  private readonly releasing = new Set<number>();
  private readonly mirror: PrefixMirror;
  private readonly offs: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: OwnershipOptions) {
    this.shardCount = opts.shardCount ?? DEFAULT_SHARD_COUNT;
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.mirror = new PrefixMirror(opts.client, ownPrefix(this.prefix), {
      reset: (kvs) => {
        const seen = new Set<number>();
        for (const kv of kvs) {
          const s = this.put(kv);
          if (s !== null) seen.add(s);
        }
        for (const s of [...this.owners.keys()]) if (!seen.has(s)) this.gone(s);
      },
      put: (kv) => void this.put(kv),
      del: (kv) => {
        const s = parseOwnKey(this.prefix, kv.key.toString());
        if (s !== null) this.gone(s);
      },
    }, opts.log);
  }

  async start(): Promise<void> {
    await this.mirror.start();
    this.offs.push(
      this.opts.membership.onChange(() => this.schedule()),
      // A lost lease took every ownership key with it: nothing is held any more.
      this.opts.lease.onLost(() => {
        for (const s of [...this.held.keys()]) this.drop(s);
      }),
      this.opts.lease.onGranted(() => this.schedule()),
    );
    this.timer = setInterval(() => this.schedule(), this.opts.reconcileMs ?? 1_000);
    await this.reconcile();
  }

  /** Release every held shard (draining each through onRelease), stop following. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs) off();
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    await Promise.all([...this.held.keys()].map((s) => this.release(s)));
    await this.mirror.stop();
  }

  shardOf(conversationId: string): number {
    return shardOf(conversationId, this.shardCount);
  }

  /** The current owner of a shard as last seen (cache; null = unowned right now). */
  ownerOf(shard: number): ShardOwner | null {
    return this.owners.get(shard) ?? null;
  }

  /** Our token for `shard`, or null if we do not hold it. */
  tokenOf(shard: number): number | null {
    return this.held.get(shard) ?? null;
  }

  heldShards(): Map<number, number> {
    return new Map(this.held);
  }

  /**
   * Run `fn` (a store write) only while this node holds every claimed shard with the
   * given token. Throws FencedError (and runs nothing) when it does not; see fence.ts.
   */
  async fencedCommit<T>(claims: FenceClaim | FenceClaim[], fn: () => Promise<T>): Promise<T> {
    const list = Array.isArray(claims) ? claims : [claims];
    for (const c of list) {
      if (this.held.get(c.shard) !== c.token) throw new FencedError('not_owner', c.shard);
    }
    try {
      await verifyFence(this.opts.client, this.opts.lease, list.map((c) => ({ ...c, key: ownKey(this.prefix, c.shard) })), {
        marginMs: this.opts.safetyMarginMs ?? 1_000,
        mode: this.opts.fenceMode ?? 'etcd',
      });
    } catch (e) {
      if (e instanceof FencedError && e.reason === 'fenced' && e.shard !== null) this.drop(e.shard);
      throw e;
    }
    return fn();
  }

  /** Plan and act now (also runs on events and every reconcileMs). */
  reconcile(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.reconcileOnce()
      .catch((e) => this.opts.log?.(`ownership reconcile failed: ${(e as Error).message}`))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.reconcile();
        }
      });
    return this.running;
  }

  private schedule(): void {
    if (!this.stopped) void this.reconcile();
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped || !this.opts.lease.isValid()) return;
    const live = this.opts.membership.members().map((m) => m.node);
    const plan = planOwnership(this.opts.nodeId, this.shardCount, live, this.owners);
    await Promise.all([...plan.claim.map((s) => this.claim(s)), ...plan.release.map((s) => this.release(s))]);
  }

  private async claim(shard: number): Promise<void> {
    const lease = this.opts.lease.id;
    if (lease === null) return;
    const key = ownKey(this.prefix, shard);
    const res = await this.opts.client.if(key, 'Create', '==', 0).then(this.opts.client.put(key).value(this.opts.nodeId).lease(lease)).commit();
    if (!res.succeeded) return; // someone holds it; the watch tells us who
    const token = Number(res.header.revision);
    this.owners.set(shard, { node: this.opts.nodeId, token });
    this.held.set(shard, token);
    this.opts.onAcquire?.(shard, token);
  }

  private async release(shard: number): Promise<void> {
    const token = this.held.get(shard);
    if (token === undefined || this.releasing.has(shard)) return;
    this.releasing.add(shard);
    try {
      await this.opts.onRelease?.(shard);
      if (this.held.get(shard) !== token) return; // lost meanwhile
      this.held.delete(shard);
      const key = ownKey(this.prefix, shard);
      await this.opts.client.if(key, 'Mod', '==', token).then(this.opts.client.delete().key(key)).commit();
    } finally {
      this.releasing.delete(shard);
    }
  }

  private put(kv: IKeyValue): number | null {
    const s = parseOwnKey(this.prefix, kv.key.toString());
    if (s === null) return null;
    const owner: ShardOwner = { node: kv.value.toString(), token: Number(kv.mod_revision) };
    this.owners.set(s, owner);
    const mine = this.held.get(s);
    if (mine !== undefined && mine !== owner.token) this.drop(s);
    return s;
  }

  private gone(shard: number): void {
    this.owners.delete(shard);
    if (this.held.has(shard)) this.drop(shard);
    this.schedule();
  }

  private drop(shard: number): void {
    if (!this.held.delete(shard)) return;
    this.opts.log?.(`shard ${shard} lost`);
    this.opts.onLost?.(shard);
  }
}
