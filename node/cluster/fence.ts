/**
 * Fencing checks for writes made by a shard owner.
 *
 * A write for shard s is allowed only while this node holds s with token t. Before
 * the write starts, `verifyFence` checks, in this order:
 *   1. the local lease is valid for at least `marginMs` more (NodeLease.validUntil is
 *      conservative: send time of the last acknowledged renewal + TTL). A node that
 *      was frozen, or lost etcd, past that point refuses at once, without a round trip;
 *   2. mode 'etcd' (default): one read-only etcd txn comparing the mod_revision of
 *      every ownership key with its token (a missing key compares as 0). If another
 *      node took the shard, or the key expired, the compare fails: `fenced`.
 *
 * Why not the other way (the fencing epoch stored with the data, checked by the
 * store)? That is the only check that holds for a write that is delayed *after* it
 * started (a GC pause between the check and the store call, a packet stuck in the
 * network): the store itself refuses a token lower than the highest it has seen.
 * etcd cannot do that for Cassandra or SQLite: its txn cannot span them. So the
 * check here bounds the unsafe window to "a write that takes longer than marginMs
 * past its check". What the stores add is not an epoch check but the invariant the
 * fence exists for, a stored seq never changes content:
 *   - SQLite (single node): one process writes; an insert at a seq that holds another
 *     message rolls the commit back (SeqTakenError).
 *   - Cassandra: every message insert is IF NOT EXISTS, one conditional batch (a Paxos
 *     round) per message partition per commit (store.cassandra.guardSeqs, default
 *     true). A delayed write at a seq the new owner stored is refused, and so is the
 *     new owner's write of a seq the delayed one stored first. A delayed write above
 *     everything stored still lands (unacked, findable by its dedup key). Why this
 *     rather than an epoch in each partition, and its cost: CLUSTER.md, "A frozen
 *     owner" and Measured; node/store/CASSANDRA.md, "Seqs never change content".
 * The etcd compare costs one round trip (~0.3 ms on loopback) per store batch, not
 * per message; mode 'lease' skips it and trusts the lease alone (it is sound as long
 * as clocks run at the same rate and nothing deletes keys behind the owner's back).
 *
 * When etcd cannot be asked (it restarts, a leader election), mode 'etcd' falls back
 * to the lease check of step 1, bounded by a short request timeout: while our lease
 * is valid by our conservative clock no other node can hold the shard (the key only
 * goes when the lease expires in etcd, after `validUntil`), so owners keep writing
 * through an etcd outage shorter than the TTL instead of failing every send.
 */
import type { Etcd3 } from 'etcd3';
import type { NodeLease } from '../etcd/node_lease.js';

export type FenceMode = 'etcd' | 'lease';

export interface FenceClaim {
  readonly shard: number;
  readonly token: number;
}

export type FenceReason =
  /** This node does not hold the shard with that token (never did, released, lost). */
  | 'not_owner'
  /** The lease ends within the safety margin, or is gone: a new owner may be near. */
  | 'lease_expiring'
  /** etcd says the ownership key changed: another node owns the shard now. */
  | 'fenced'
  /** etcd could not be asked; the write did not happen. Retryable. */
  | 'unavailable';

export class FencedError extends Error {
  /** Retrying on this node is pointless except for `unavailable`; the client retries elsewhere. */
  readonly retryable: boolean;
  constructor(
    readonly reason: FenceReason,
    readonly shard: number | null,
    cause?: unknown,
  ) {
    super(`write fenced (${reason}${shard === null ? '' : `, shard ${shard}`})`, { cause });
    this.name = 'FencedError';
    this.retryable = reason === 'unavailable' || reason === 'lease_expiring';
  }
}

export async function verifyFence(
  client: Etcd3,
  lease: Pick<NodeLease, 'isValid'>,
  claims: readonly (FenceClaim & { key: string })[],
  opts: { marginMs: number; mode: FenceMode; timeoutMs?: number },
): Promise<void> {
  if (!lease.isValid(opts.marginMs)) throw new FencedError('lease_expiring', claims[0]?.shard ?? null);
  if (opts.mode === 'lease' || claims.length === 0) return;
  let res;
  try {
    res = await client.kv.txn(
      {
        compare: claims.map((c) => ({ key: Buffer.from(c.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: c.token })),
        success: [],
        failure: claims.map((c) => ({ request_range: { key: Buffer.from(c.key) } })),
      },
      { deadline: new Date(Date.now() + (opts.timeoutMs ?? 300)) },
    );
  } catch (e) {
    if (lease.isValid(opts.marginMs)) return;
    throw new FencedError('unavailable', claims[0]?.shard ?? null, e);
  }
  if (res.succeeded) {
    // The txn took time: re-check the lease so a slow etcd answer cannot extend it.
    if (!lease.isValid(opts.marginMs)) throw new FencedError('lease_expiring', claims[0]?.shard ?? null);
    return;
  }
  const bad = claims.find((c, i) => Number(res.responses[i]?.response_range?.kvs[0]?.mod_revision ?? 0) !== c.token);
  throw new FencedError('fenced', bad?.shard ?? null);
}
