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

export class ConnectionRegistry {
  private readonly byUser = new Map<string, Map<string, ConnRef>>();
  private count = 0;

  private static key(shard: number, conn: number): string {
    return `${shard}:${conn}`;
  }

  add(ref: ConnRef): void {
    let m = this.byUser.get(ref.user);
    if (!m) this.byUser.set(ref.user, (m = new Map()));
    const k = ConnectionRegistry.key(ref.shard, ref.conn);
    if (!m.has(k)) this.count++;
    m.set(k, ref);
  }

  remove(user: string, shard: number, conn: number): void {
    const m = this.byUser.get(user);
    if (!m) return;
    if (m.delete(ConnectionRegistry.key(shard, conn))) this.count--;
    if (m.size === 0) this.byUser.delete(user);
  }

  /** Drop every connection of a shard (it crashed or restarted). */
  removeShard(shard: number): number {
    let n = 0;
    for (const [user, m] of this.byUser) {
      for (const [k, ref] of m) {
        if (ref.shard === shard) {
          m.delete(k);
          n++;
        }
      }
      if (m.size === 0) this.byUser.delete(user);
    }
    this.count -= n;
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
