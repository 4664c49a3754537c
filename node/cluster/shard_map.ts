/**
 * Conversation shards, pure: which shard a conversation is in, which live node should
 * own each shard, and what a node must claim or release to get there.
 *
 * The shard count is fixed for the life of a cell (default 256): changing it, or the
 * hash, moves almost every conversation. 256 shards spread evenly over up to a few
 * dozen nodes (±15% at 20 nodes) and keep the ownership table tiny (256 keys).
 *
 * Ownership is rendezvous (highest random weight) hashing: the owner of shard s is
 * the live node n with the largest h(n, s). A node joining takes ~1/N of the shards,
 * from every other node evenly; a node leaving hands its shards out evenly; no other
 * shard moves. No coordination is needed: every node computes the same answer from
 * the same member list.
 */
export const DEFAULT_SHARD_COUNT = 256;

/** 32-bit FNV-1a over UTF-8 then murmur3's finalizer (FNV alone mixes low bits poorly). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  const b = Buffer.from(s, 'utf8');
  for (let i = 0; i < b.length; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard of a conversation. Stable: never change this function in a running cell. */
export function shardOf(conversationId: string, shardCount = DEFAULT_SHARD_COUNT): number {
  return hash32(conversationId) % shardCount;
}

/** The node that should own `shard` among `nodes` (null if none). */
export function rendezvousOwner(shard: number, nodes: readonly string[]): string | null {
  let best: string | null = null;
  let bestW = -1;
  for (const n of nodes) {
    const w = hash32(`${n}\u0000${shard}`);
    if (w > bestW || (w === bestW && best !== null && n < best)) {
      best = n;
      bestW = w;
    }
  }
  return best;
}

/** Desired owner of every shard, index = shard. */
export function assignShards(shardCount: number, nodes: readonly string[]): (string | null)[] {
  return Array.from({ length: shardCount }, (_, s) => rendezvousOwner(s, nodes));
}

export interface ShardOwner {
  readonly node: string;
  /** Fencing token: the mod_revision of the ownership key when it was claimed. */
  readonly token: number;
}

export interface OwnershipPlan {
  /** Shards desired for `self` that nobody owns: claim them. */
  readonly claim: number[];
  /** Shards `self` owns whose desired owner is another live node: drain and release. */
  readonly release: number[];
}

/**
 * What `self` should do now. A shard owned by someone else is never claimed (it moves
 * only when its owner releases it or its lease expires), so two owners never race for
 * it; a shard whose desired owner is `self` but is owned by a node that is no longer
 * live is left until etcd deletes that node's key (same lease as its membership).
 */
export function planOwnership(
  self: string,
  shardCount: number,
  liveNodes: readonly string[],
  owners: ReadonlyMap<number, ShardOwner>,
): OwnershipPlan {
  const claim: number[] = [];
  const release: number[] = [];
  if (!liveNodes.includes(self)) return { claim, release };
  for (let s = 0; s < shardCount; s++) {
    const want = rendezvousOwner(s, liveNodes);
    const have = owners.get(s)?.node;
    if (want === self && have === undefined) claim.push(s);
    else if (have === self && want !== self) release.push(s);
  }
  return { claim, release };
}
