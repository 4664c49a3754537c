/**
 * Cluster membership: each node puts `<prefix>members/<node>` under its own lease
 * (node_lease.ts) and mirrors the members prefix. A member is up while its key exists;
 * when its lease expires (the node died, froze or lost etcd for a whole TTL) etcd
 * deletes the key and every other node sees it go `down` within the watch latency.
 *
 * A node whose own lease was lost re-registers under the new lease; the others see
 * it go down and come back up (with a new `leaseId`). Anything that a node held under
 * the old lease (routes, shards) must be re-acquired: the components do that
 * themselves through `NodeLease.onGranted`.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import { DEFAULT_PREFIX, memberKey, membersPrefix } from '../etcd/keys.js';
import type { NodeLease } from '../etcd/node_lease.js';
import { PrefixMirror } from '../etcd/prefix_mirror.js';

export interface MemberInfo {
  readonly node: string;
  /** host:port of the node's cluster gRPC server (node/peers/peer_server.ts). */
  readonly peerAddr: string;
  /** Base URL of its HTTP API (for operators and the admin CLI). */
  readonly httpUrl: string;
  readonly startedAt: number;
}

export interface Member extends MemberInfo {
  /** The lease the key hangs on (decimal string): changes when the node re-registers. */
  readonly leaseId: string;
}

export interface MemberEvent {
  readonly kind: 'up' | 'down';
  readonly member: Member;
}

export interface MembershipOptions {
  client: Etcd3;
  lease: NodeLease;
  self: MemberInfo;
  prefix?: string;
  log?: (line: string) => void;
}

export class Membership {
  private readonly prefix: string;
  private readonly live = new Map<string, Member>();
  private readonly listeners = new Set<(e: MemberEvent) => void>();
  private readonly mirror: PrefixMirror;
  private offLease: (() => void) | null = null;

  constructor(private readonly opts: MembershipOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.mirror = new PrefixMirror(opts.client, membersPrefix(this.prefix), {
      reset: (kvs) => this.reset(kvs),
      put: (kv) => this.put(kv),
      del: (kv) => this.del(kv),
    }, opts.log);
  }

  get self(): string {
    return this.opts.self.node;
  }

  /** Register this node and load the member list. The lease must be started. */
  async start(): Promise<void> {
    this.offLease = this.opts.lease.onGranted((id) => void this.register(id).catch((e) => this.opts.log?.(`re-register failed: ${(e as Error).message}`)));
    const id = this.opts.lease.id;
    if (id === null) throw new Error('membership: the node lease is not granted');
    await this.register(id);
    await this.mirror.start();
  }

  /** Leave: delete our key (others see `down` at once instead of after a TTL). */
  async stop(): Promise<void> {
    this.offLease?.();
    await this.opts.client.delete().key(memberKey(this.prefix, this.self)).catch(() => undefined);
    await this.mirror.stop();
  }

  /** Live members (this node included once registered), sorted by node id. */
  members(): Member[] {
    return [...this.live.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  get(node: string): Member | undefined {
    return this.live.get(node);
  }

  isLive(node: string): boolean {
    return this.live.has(node);
  }

  /** Follow `up`/`down` events. Returns the unsubscribe function. */
  onChange(fn: (e: MemberEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private async register(leaseId: string): Promise<void> {
    await this.opts.client.put(memberKey(this.prefix, this.self)).value(JSON.stringify(this.opts.self)).lease(leaseId);
  }

  private parse(kv: IKeyValue): Member | null {
    try {
      const info = JSON.parse(kv.value.toString()) as MemberInfo;
      return { ...info, leaseId: kv.lease };
    } catch {
      this.opts.log?.(`ignoring malformed member key ${kv.key.toString()}`);
      return null;
    }
  }

  private reset(kvs: IKeyValue[]): void {
    const next = new Map<string, Member>();
    for (const kv of kvs) {
      const m = this.parse(kv);
      if (m) next.set(m.node, m);
    }
    for (const [node, m] of this.live) {
      const n = next.get(node);
      if (!n || n.leaseId !== m.leaseId) this.setDown(node);
    }
    for (const m of next.values()) if (!this.live.has(m.node)) this.setUp(m);
  }

  private put(kv: IKeyValue): void {
    const m = this.parse(kv);
    if (!m) return;
    const old = this.live.get(m.node);
    if (old && old.leaseId === m.leaseId) return;
    if (old) this.setDown(m.node);
    this.setUp(m);
  }

  private del(kv: IKeyValue): void {
    const node = kv.key.toString().slice(membersPrefix(this.prefix).length);
    if (this.live.has(node)) this.setDown(node);
  }

  private setUp(m: Member): void {
    this.live.set(m.node, m);
    for (const fn of this.listeners) fn({ kind: 'up', member: m });
  }

  private setDown(node: string): void {
    const m = this.live.get(node)!;
    this.live.delete(node);
    for (const fn of this.listeners) fn({ kind: 'down', member: m });
  }
}
