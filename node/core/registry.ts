/**
 * Which connections are online on this host: user -> connections (shard, conn,
 * device). The message path looks recipients up here; it never waits on I/O.
 */
export interface ConnRef {
  shard: number;
  conn: number;
  user: string;
  device: string;
  /**
   * When the connection opened, in whole seconds since the epoch (the admin API's
   * `since`): a small integer V8 keeps in the object, where milliseconds would be a
   * boxed double, and a field, where a Map conn -> time cost ~45 B per connection.
   */
  openedSec?: number;
}

/** Told about every connection that opens or closes (presence listens here). */
export type RegistryObserver = (event: 'open' | 'close', ref: ConnRef) => void;

/**
 * Flat on purpose (issue 14): user -> a small array of refs, not a Map per user (an
 * inner Map costs ~210 B; a one-element array ~30 B, and most users are online on one
 * or two devices, where a scan beats a hash). The arrays are copied on write, never
 * changed in place, so a caller iterating connectionsOf() while an observer adds or
 * removes a connection sees the set as it was.
 */
export class ConnectionRegistry {
  private readonly byUser = new Map<string, readonly ConnRef[]>();
  private count = 0;
  private observer: RegistryObserver | null = null;
  /** Further observers that live as long as the host (the cluster route table). */
  private readonly taps = new Set<RegistryObserver>();

  /** Follow opens and closes without replacing the observer. Returns the unsubscribe function. */
  tap(fn: RegistryObserver): () => void {
    this.taps.add(fn);
    return () => this.taps.delete(fn);
  }

  /** Every open connection. */
  all(): ConnRef[] {
    const out: ConnRef[] = [];
    for (const refs of this.byUser.values()) out.push(...refs);
    return out;
  }

  private emit(event: 'open' | 'close', ref: ConnRef): void {
    this.observer?.(event, ref);
    for (const t of this.taps) t(event, ref);
  }

  /**
   * Set the one observer (a restarted chat service replaces its predecessor's).
   * Returns the connections open right now, so the observer can start from them.
   */
  observe(o: RegistryObserver | null): ConnRef[] {
    this.observer = o;
    return this.all();
  }

  add(ref: ConnRef): void {
    const refs = this.byUser.get(ref.user);
    if (refs === undefined) {
      this.byUser.set(ref.user, [ref]);
    } else {
      const i = indexOf(refs, ref.shard, ref.conn);
      // Re-adding the same connection replaces its ref; it is not a second connection.
      if (i >= 0) {
        const next = refs.slice();
        next[i] = ref;
        this.byUser.set(ref.user, next);
        return;
      }
      this.byUser.set(ref.user, [...refs, ref]);
    }
    this.count++;
    this.emit('open', ref);
  }

  remove(user: string, shard: number, conn: number): void {
    const refs = this.byUser.get(user);
    if (refs === undefined) return;
    const i = indexOf(refs, shard, conn);
    if (i < 0) return;
    const ref = refs[i];
    if (refs.length === 1) this.byUser.delete(user);
    else this.byUser.set(user, refs.filter((_, j) => j !== i));
    this.count--;
    this.emit('close', ref);
  }

  /** Drop every connection of a shard (it crashed or restarted). */
  removeShard(shard: number): number {
    const gone: ConnRef[] = [];
    for (const [user, refs] of this.byUser) {
      if (!refs.some((r) => r.shard === shard)) continue;
      const kept = refs.filter((r) => r.shard !== shard);
      for (const r of refs) if (r.shard === shard) gone.push(r);
      if (kept.length === 0) this.byUser.delete(user);
      else this.byUser.set(user, kept);
    }
    this.count -= gone.length;
    for (const ref of gone) this.emit('close', ref);
    return gone.length;
  }

  connectionsOf(user: string): Iterable<ConnRef> {
    return this.byUser.get(user) ?? NONE;
  }

  isOnline(user: string): boolean {
    return this.byUser.has(user);
  }

  get size(): number {
    return this.count;
  }
}

const NONE: readonly ConnRef[] = [];

function indexOf(refs: readonly ConnRef[], shard: number, conn: number): number {
  for (let i = 0; i < refs.length; i++) if (refs[i].shard === shard && refs[i].conn === conn) return i;
  return -1;
}
