/**
 * The route cache: user -> device -> nodes. Pure data; the tables feed it events from
 * their backend and it reports what changed, so listeners see one `up` per new route
 * and one `down` per route gone, whether it came from a watch event or a full re-read.
 */
import type { Route, RouteChange } from './route_table.js';

export class RouteCache {
  private readonly byUser = new Map<string, Map<string, Set<string>>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(r: Route): boolean {
    return this.byUser.get(r.user)?.get(r.device)?.has(r.node) ?? false;
  }

  /** Add a route; returns the change, or null if it was already there. */
  add(r: Route): RouteChange | null {
    let devices = this.byUser.get(r.user);
    if (!devices) this.byUser.set(r.user, (devices = new Map()));
    let nodes = devices.get(r.device);
    if (!nodes) devices.set(r.device, (nodes = new Set()));
    if (nodes.has(r.node)) return null;
    nodes.add(r.node);
    this.count++;
    return { kind: 'up', route: r };
  }

  /** Remove a route; returns the change, or null if it was not there. */
  remove(r: Route): RouteChange | null {
    const devices = this.byUser.get(r.user);
    const nodes = devices?.get(r.device);
    if (!devices || !nodes || !nodes.delete(r.node)) return null;
    if (nodes.size === 0) devices.delete(r.device);
    if (devices.size === 0) this.byUser.delete(r.user);
    this.count--;
    return { kind: 'down', route: r };
  }

  /** Routes of `user`; those on `firstNode` first. */
  lookup(user: string, firstNode?: string): Route[] {
    const out: Route[] = [];
    const devices = this.byUser.get(user);
    if (!devices) return out;
    for (const [device, nodes] of devices) for (const node of nodes) out.push({ user, device, node });
    if (firstNode !== undefined) out.sort((a, b) => Number(b.node === firstNode) - Number(a.node === firstNode));
    return out;
  }

  *all(): Iterable<Route> {
    for (const [user, devices] of this.byUser) {
      for (const [device, nodes] of devices) for (const node of nodes) yield { user, device, node };
    }
  }

  /**
   * Replace the whole content with `routes` (a full re-read), keeping the routes of
   * `keepNode` untouched (this node's own routes come from local state, not the
   * backend, which may lag behind them). Returns the changes.
   */
  replace(routes: Iterable<Route>, keepNode?: string): RouteChange[] {
    const next = new RouteCache();
    for (const r of routes) if (r.node !== keepNode) next.add(r);
    const changes: RouteChange[] = [];
    for (const r of [...this.all()]) {
      if (r.node !== keepNode && !next.has(r)) changes.push(this.remove(r)!);
    }
    for (const r of next.all()) {
      const c = this.add(r);
      if (c) changes.push(c);
    }
    return changes;
  }

  /** Drop every route of `node`; returns the changes. */
  removeNode(node: string): RouteChange[] {
    const gone = [...this.all()].filter((r) => r.node === node);
    return gone.map((r) => this.remove(r)!);
  }
}
