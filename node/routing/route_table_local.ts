/**
 * The embedded route table: one process, no backend. The default for a single node.
 *
 * Several tables can share one LocalRouteHub to stand for several nodes in one
 * process (tests, the conformance suite); `hub.killNode(id)` drops a node's routes
 * as a lease expiry would. Changes reach every table synchronously.
 */
import { RouteCache } from './route_cache.js';
import type { Route, RouteChange, RouteTable, RouteTableStats } from './route_table.js';

export class LocalRouteHub {
  readonly store = new RouteCache();
  private readonly tables = new Set<LocalRouteTable>();

  attach(t: LocalRouteTable): void {
    this.tables.add(t);
  }

  detach(t: LocalRouteTable): void {
    this.tables.delete(t);
  }

  put(r: Route): void {
    const c = this.store.add(r);
    if (c) for (const t of this.tables) t.apply([c]);
  }

  delete(r: Route): void {
    const c = this.store.remove(r);
    if (c) for (const t of this.tables) t.apply([c]);
  }

  /** Drop every route of `node`, as etcd does when the node's lease expires. */
  killNode(node: string): void {
    const changes = this.store.removeNode(node);
    for (const t of this.tables) t.apply(changes);
  }
}

export class LocalRouteTable implements RouteTable {
  private readonly cache = new RouteCache();
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Set<(c: RouteChange) => void>();

  constructor(
    readonly hub: LocalRouteHub = new LocalRouteHub(),
    readonly nodeId: string = 'node-1',
  ) {}

  async start(): Promise<void> {
    this.hub.attach(this);
    this.emit(this.cache.replace(this.hub.store.all()));
  }

  async stop(): Promise<void> {
    this.hub.detach(this);
    for (const key of this.counts.keys()) this.hub.delete(this.route(key));
    this.counts.clear();
  }

  register(user: string, device: string): void {
    const key = `${user}/${device}`;
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    if (n === 0) this.hub.put({ user, device, node: this.nodeId });
  }

  unregister(user: string, device: string): void {
    const key = `${user}/${device}`;
    const n = this.counts.get(key) ?? 0;
    if (n > 1) this.counts.set(key, n - 1);
    else if (n === 1) {
      this.counts.delete(key);
      this.hub.delete({ user, device, node: this.nodeId });
    }
  }

  lookup(user: string): Route[] {
    return this.cache.lookup(user, this.nodeId);
  }

  onChange(listener: (c: RouteChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async flush(): Promise<void> {}

  stats(): RouteTableStats {
    return { localRoutes: this.counts.size, cachedRoutes: this.cache.size, pendingWrites: 0, batchesWritten: 0, resyncs: 0, overloaded: 0 };
  }

  /** @internal the hub's feed. */
  apply(changes: RouteChange[]): void {
    const applied = changes.flatMap((c) => {
      const r = c.kind === 'up' ? this.cache.add(c.route) : this.cache.remove(c.route);
      return r ? [r] : [];
    });
    this.emit(applied);
  }

  private emit(changes: RouteChange[]): void {
    for (const c of changes) for (const l of this.listeners) l(c);
  }

  private route(key: string): Route {
    const [user, device] = key.split('/');
    return { user, device, node: this.nodeId };
  }
}
