/**
 * NodeLease: the one etcd lease a node holds. Membership, routes and shard ownership
 * all hang their keys on it, so when the node dies or stops renewing, etcd deletes
 * everything the node claimed within one TTL.
 *
 * Keepalive is etcd3's (a LeaseKeepAlive stream, one renewal every TTL/3). When the
 * lease is lost (etcd says it expired, or it could not be renewed for a whole TTL),
 * a new one is granted with backoff and `onGranted` listeners re-create their keys.
 *
 * `validUntil()` is the local, conservative end of the lease: the time a renewal
 * that succeeded was *sent* plus the TTL etcd granted. etcd starts its own countdown
 * when it *receives* the renewal, later, so while our clock says the lease is valid
 * it is (barring clock-rate drift, which the margin in `isValid` absorbs).
 */
import type { Etcd3, Lease } from 'etcd3';

export interface NodeLeaseOptions {
  /**
   * Lease TTL in seconds. Default 5: a dead node's routes and shards move within
   * ~5–6 s, while a 1–2 s stall (GC, etcd leader election) never drops a live node.
   */
  ttlSec?: number;
  /** Give up `start()` after this long. Default 10 s. */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export type Unsubscribe = () => void;

export class NodeLease {
  readonly ttlSec: number;
  private lease: Lease | null = null;
  private leaseId: string | null = null;
  private until = 0;
  private firedAt = 0;
  private stopped = false;
  private granting: Promise<void> | null = null;
  private readonly granted = new Set<(id: string) => void>();
  private readonly lost = new Set<() => void>();

  constructor(
    private readonly client: Etcd3,
    private readonly opts: NodeLeaseOptions = {},
  ) {
    this.ttlSec = opts.ttlSec ?? 5;
  }

  /** The current lease id (etcd's int64 as a decimal string); null between leases. */
  get id(): string | null {
    return this.leaseId;
  }

  /** Grant the first lease. Rejects after `startTimeoutMs` without etcd. */
  async start(): Promise<void> {
    const deadline = performance.now() + (this.opts.startTimeoutMs ?? 10_000);
    await this.grant(deadline);
  }

  /** Called with the new id each time a lease is granted (the first one included). */
  onGranted(fn: (id: string) => void): Unsubscribe {
    this.granted.add(fn);
    return () => this.granted.delete(fn);
  }

  /** Called when the current lease is lost (before a new one is granted). */
  onLost(fn: () => void): Unsubscribe {
    this.lost.add(fn);
    return () => this.lost.delete(fn);
  }

  /** performance.now() time until which the lease is surely alive in etcd. */
  validUntil(): number {
    return this.leaseId === null ? 0 : this.until;
  }

  /** True while the lease stays valid for at least `marginMs` more. */
  isValid(marginMs = 0): boolean {
    return this.validUntil() - marginMs > performance.now();
  }

  /**
   * Test hook: stop renewing without noticing, as a node frozen by a long GC pause or
   * SIGSTOP would. The lease then expires in etcd; this object keeps its id.
   */
  pauseKeepalive(): void {
    this.lease?.removeAllListeners();
    this.lease?.release();
  }

  /** Stop renewing; `revoke` (default true) deletes every key on the lease at once. */
  async stop(revoke = true): Promise<void> {
    this.stopped = true;
    const lease = this.lease;
    this.lease = null;
    this.leaseId = null;
    if (!lease) return;
    lease.removeAllListeners();
    if (revoke) await lease.revoke().catch(() => lease.release());
    else lease.release();
  }

  private grant(deadline = Infinity): Promise<void> {
    this.granting ??= this.grantLoop(deadline).finally(() => (this.granting = null));
    return this.granting;
  }

  private async grantLoop(deadline: number): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      const lease = this.client.lease(this.ttlSec);
      lease.on('lost', () => undefined); // a failed grant also emits `lost`; handled below
      const t0 = performance.now();
      try {
        const id = await lease.grant();
        if (this.stopped) {
          await lease.revoke().catch(() => undefined);
          return;
        }
        this.install(lease, id, t0);
        return;
      } catch (e) {
        lease.removeAllListeners();
        lease.release();
        if (performance.now() + backoff > deadline) throw new Error(`cannot grant an etcd lease: ${(e as Error).message}`, { cause: e });
        this.opts.log?.(`lease grant failed (${(e as Error).message}); retry in ${backoff} ms`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }

  private install(lease: Lease, id: string, grantedAt: number): void {
    lease.removeAllListeners();
    this.lease = lease;
    this.leaseId = id;
    this.until = grantedAt + this.ttlSec * 1000;
    lease.on('keepaliveFired', () => (this.firedAt = performance.now()));
    lease.on('keepaliveSucceeded', (res) => {
      const ttl = Number(res.TTL);
      if (ttl > 0) this.until = Math.max(this.until, this.firedAt + ttl * 1000);
    });
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.opts.log?.(`lease ${id} lost: ${err.message}`);
      this.lease = null;
      this.leaseId = null;
      for (const fn of this.lost) fn();
      void this.grant().catch(() => undefined);
    });
    for (const fn of this.granted) fn(id);
  }
}
