/**
 * Which connections are online on this host: user -> connections (shard, conn,
 * device). The message path looks recipients up here; it never waits on I/O.
 */
export interface ConnRef {
  shard: number;
  conn: number;
  user: string;
  device: string;
}

/** Told about every connection that opens or closes (presence listens here). */
export type RegistryObserver = (event: 'open' | 'close', ref: ConnRef) => void;

export class ConnectionRegistry {
  private readonly byUser = new Map<string, Map<string, ConnRef>>();
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
    for (const m of this.byUser.values()) out.push(...m.values());
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
    const all: ConnRef[] = [];
    for (const m of this.byUser.values()) all.push(...m.values());
    return all;
  }

  private static key(shard: number, conn: number): string {
    return `${shard}:${conn}`;
  }

  add(ref: ConnRef): void {
    let m = this.byUser.get(ref.user);
    if (!m) this.byUser.set(ref.user, (m = new Map()));
    const k = ConnectionRegistry.key(ref.shard, ref.conn);
    // Re-adding the same connection replaces its ref; it is not a second connection.
    const isNew = !m.has(k);
    m.set(k, ref);
    if (!isNew) return;
    this.count++;
    this.emit('open', ref);
  }

  remove(user: string, shard: number, conn: number): void {
    const m = this.byUser.get(user);
    if (!m) return;
    const k = ConnectionRegistry.key(shard, conn);
    const ref = m.get(k);
    if (ref) {
      m.delete(k);
      this.count--;
    }
    if (m.size === 0) this.byUser.delete(user);
    if (ref) this.emit('close', ref);
  }

  /** Drop every connection of a shard (it crashed or restarted). */
  removeShard(shard: number): number {
    let n = 0;
    const gone: ConnRef[] = [];
    for (const [user, m] of this.byUser) {
      for (const [k, ref] of m) {
        if (ref.shard === shard) {
          m.delete(k);
          n++;
          gone.push(ref);
        }
      }
      if (m.size === 0) this.byUser.delete(user);
    }
    this.count -= n;
    for (const ref of gone) this.emit('close', ref);
    return n;
  }

  connectionsOf(user: string): Iterable<ConnRef> {
    return this.byUser.get(user)?.values() ?? [];
  }

  isOnline(user: string): boolean {
    return this.byUser.has(user);
  }

  get size(): number {
    return this.count;
  }
}
