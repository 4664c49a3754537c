/**
 * Connections on other nodes, as presence sees them: every route of another node
 * (user, device, node) counts as one open connection of the user, so a user is online
 * while any node of the cell holds a connection of theirs. Fed by the route table's
 * changes; the set outlives restarts of the routes and chat children, so nothing is
 * counted twice and a restarted chat service starts from it (attach).
 */
import type { Route, RouteChange } from '../routing/route_table.js';

/** What presence takes (node/core/presence_service.ts). */
export interface RemoteConnections {
  remoteOpened(user: string): void;
  remoteClosed(user: string): void;
}

const routeKey = (r: Route): string => `${r.user}\u0000${r.device}\u0000${r.node}`;
function parseRoute(k: string): Route {
  const [user, device, node] = k.split('\u0000');
  return { user, device, node };
}

export class RemotePresence {
  /** Routes of other nodes fed to presence ("user\0device\0node"). */
  private readonly fed = new Set<string>();

  constructor(
    private readonly self: string,
    /** The running chat service's presence (null while it restarts: attach() catches it up). */
    private readonly presence: () => RemoteConnections | null,
  ) {}

  /** A (re)started chat service: tell its presence who is connected elsewhere. */
  attach(p: RemoteConnections): void {
    for (const k of this.fed) p.remoteOpened(parseRoute(k).user);
  }

  onRouteChange(ch: RouteChange): void {
    const r = ch.route;
    if (r.node === this.self) return;
    const k = routeKey(r);
    if (ch.kind === 'up') {
      if (this.fed.has(k)) return;
      this.fed.add(k);
      this.presence()?.remoteOpened(r.user);
    } else {
      if (!this.fed.delete(k)) return;
      this.presence()?.remoteClosed(r.user);
    }
  }

  /** A route table (re)started: routes that went away while none ran are closed. */
  resync(remoteRoutes: Route[]): void {
    const now = new Set(remoteRoutes.map(routeKey));
    for (const k of [...this.fed]) if (!now.has(k)) this.onRouteChange({ kind: 'down', route: parseRoute(k) });
  }
}
