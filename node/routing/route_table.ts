/**
 * RouteTable: which node holds a connection of which user-device, cluster-wide.
 *
 * A node registers the devices connected to it and looks up where a recipient is
 * connected when it fans a message out. Two implementations pass one conformance
 * suite (./route_table_conformance.ts): the embedded single-process table
 * (./route_table_local.ts) and the etcd table (./route_table_etcd.ts).
 *
 * The message path never waits on I/O here: `register`/`unregister` only change local
 * state (the etcd table writes behind, in batches) and `lookup` reads a local cache.
 * The cache is eventually consistent with other nodes (a watch, usually < 10 ms on a
 * LAN); a sender that finds no route or a stale one falls back to the store: the
 * recipient syncs on reconnect, so a stale route costs latency, never a message.
 */

/** One connection target: `device` of `user` has a connection on `node`. */
export interface Route {
  readonly user: string;
  readonly device: string;
  readonly node: string;
}

export interface RouteChange {
  readonly kind: 'up' | 'down';
  readonly route: Route;
}

export interface RouteTableStats {
  /** Routes of this node that are registered locally. */
  readonly localRoutes: number;
  /** Routes known in the cache, all nodes. */
  readonly cachedRoutes: number;
  /** Local changes not yet durable in the backend. */
  readonly pendingWrites: number;
  /** Batches (transactions) written so far. */
  readonly batchesWritten: number;
  /** Full re-reads of the table (start, lost watch, lost lease). */
  readonly resyncs: number;
  /** Registrations refused with RouteTableOverloadedError. */
  readonly overloaded: number;
}

export interface RouteTable {
  /** The node this table registers routes for. */
  readonly nodeId: string;

  /**
   * Load the current table into the cache and start following changes. Resolves once
   * the cache reflects the backend as of some point after the call.
   */
  start(): Promise<void>;

  /**
   * Remove this node's routes from the backend (best effort within `deadlineMs`) and
   * stop following changes. Lookups after stop answer from the last cache.
   */
  stop(deadlineMs?: number): Promise<void>;

  /**
   * Record that `user`/`device` has one more connection on this node. Counted: a
   * device with two connections here (a reconnect that overlaps the old socket) keeps
   * its route until both are unregistered. Visible to local `lookup` at once; written
   * to the backend in the background.
   * @throws RouteTableOverloadedError when too many changes wait to be written; the
   *   caller should refuse the connection with a retryable close code.
   */
  register(user: string, device: string): void;

  /**
   * Record that one connection of `user`/`device` on this node is gone. Never refused
   * (it can only shrink what is stored); unknown pairs are ignored.
   */
  unregister(user: string, device: string): void;

  /** Every known route of `user`, from the local cache, this node's own first. */
  lookup(user: string): Route[];

  /**
   * Follow changes of the cache (own and other nodes' routes, node deaths as `down`).
   * Returns the unsubscribe function.
   */
  onChange(listener: (change: RouteChange) => void): () => void;

  /** Resolve when every change made before the call is durable in the backend. */
  flush(): Promise<void>;

  stats(): RouteTableStats;
}

export class RouteTableOverloadedError extends Error {
  /** Retryable: the backlog drains by itself. */
  readonly retryable = true;
  constructor(pending: number) {
    super(`route table overloaded: ${pending} changes wait to be written`);
    this.name = 'RouteTableOverloadedError';
  }
}
