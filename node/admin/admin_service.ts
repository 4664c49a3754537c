/**
 * The admin operations on a running node (the AdminApi of admin_routes.ts), read off
 * the host: its supervision tree, connection registry, shard links, write path and,
 * in a cell, membership, routes and shard ownership (etcd).
 *
 * In a cell, `sessions` and `kick` ask every other live member (`?local=1`, over its
 * HTTP API: peer_admin.ts) rather than only the nodes the route table names: routes
 * are written behind, so a socket opened a moment ago may not be in it yet, and an
 * operator's kick must not miss it. `drain NODE` goes to that member's own API.
 */
import { CatalogError } from '../../protocol/errors.js';
import type { SupervisorTree } from '../../supervisor/index.js';
import { logLevel, logger, setLogLevel, type LogLevel } from '../../supervisor/log.js';
import type { Host } from '../host/host.js';
import type { ShardLink } from '../host/shard_link.js';
import { ownPrefix, parseOwnKey } from '../etcd/keys.js';
import { scanPrefix } from '../etcd/prefix_mirror.js';
import type { AdminApi } from './admin_routes.js';
import { NotFound } from './admin_routes.js';
import { peerAdmin, type PeerAnswer } from './peer_admin.js';
import { traceConversation, traceMessage, type OwnerInfo } from './trace.js';

export interface AdminDeps {
  host: Host;
  shardCount: number;
  /** The live supervision tree of the host (node/main.ts's root). */
  tree: () => SupervisorTree;
  /** The tree as text (formatTree). */
  treeText: () => string;
  /** Drain this node as SIGTERM does. */
  drainSelf: () => void;
}

export interface Session {
  node: string;
  shard: number;
  conn: number;
  device: string;
  /** When the connection opened (ISO 8601). */
  since: string | null;
}

/** An etcd read past this is reported as unavailable: a healthy etcd answers in ms. */
const ETCD_READ_TIMEOUT_MS = 5_000;

export class AdminService implements AdminApi {
  readonly cluster?: () => Promise<unknown>;

  constructor(private readonly d: AdminDeps) {
    if (d.host.cluster) this.cluster = () => this.clusterStatus();
  }

  private get self(): string {
    return this.d.host.cfg.node.id;
  }

  status(): string {
    return this.d.treeText();
  }

  async statusJson(): Promise<unknown> {
    const h = this.d.host;
    const w = h.services.peek('writePath')?.stats() ?? null;
    return {
      node: this.self,
      ready: h.ready(),
      draining: h.draining,
      log_level: logLevel(),
      connections: h.registry.size,
      shards: this.shardRows().map((s) => {
        const l = h.links[s.shard];
        return { ...s, up: l !== undefined, in_flight_ops: l?.inFlight ?? 0 };
      }),
      store: w ? { kind: h.cfg.store.kind, queue_depth: w.queueDepth, in_flight_ops: w.inFlightOps, ops_committed: w.opsCommitted, ops_failed: w.opsFailed } : null,
      tree: this.d.tree(),
    };
  }

  connections(): unknown {
    const rows = this.shardRows();
    return { node: this.self, total: rows.reduce((n, r) => n + r.connections, 0), users: new Set(this.d.host.registry.all().map((r) => r.user)).size, shards: rows };
  }

  private shardRows(): Array<{ shard: number; connections: number }> {
    const per = new Array<number>(this.d.shardCount).fill(0);
    for (const r of this.d.host.registry.all()) per[r.shard] = (per[r.shard] ?? 0) + 1;
    return per.map((connections, shard) => ({ shard, connections }));
  }

  private localSessions(user: string, device: string | null): Session[] {
    const h = this.d.host;
    const out: Session[] = [];
    for (const r of h.registry.connectionsOf(user)) {
      if (device !== null && r.device !== device) continue;
      out.push({ node: this.self, shard: r.shard, conn: r.conn, device: r.device, since: r.openedSec !== undefined ? new Date(r.openedSec * 1000).toISOString() : null });
    }
    return out.sort((a, b) => a.device.localeCompare(b.device) || a.shard - b.shard || a.conn - b.conn);
  }

  async sessions(user: string, local: boolean, auth: string): Promise<unknown> {
    const here = this.localSessions(user, null);
    const remote = local ? [] : await this.askOthers('GET', `/admin/sessions/${encodeURIComponent(user)}?local=1`, auth);
    return merge({ user, sessions: here }, remote, 'sessions');
  }

  async kick(user: string, device: string | null, local: boolean, auth: string): Promise<unknown> {
    const h = this.d.host;
    const mine = this.localSessions(user, device);
    for (const s of mine) (h.links[s.shard] as ShardLink | undefined)?.post({ t: 'close', conn: s.conn, reason: 'kicked' });
    if (mine.length) logger().info({ evt: 'admin.kick', user, device, conns: mine.length }, 'connections kicked');
    const remote = local ? [] : await this.askOthers('POST', '/admin/kick?local=1', auth, { user, device });
    return merge({ user, device, kicked: mine }, remote, 'kicked');
  }

  /** The same call on every other live member of the cell (none on a single node). */
  private askOthers(method: 'GET' | 'POST', path: string, auth: string, body?: unknown): Promise<PeerAnswer[]> {
    const m = this.d.host.cluster?.services.peek('membership');
    if (!this.d.host.cluster) return Promise.resolve([]);
    if (!m) throw new CatalogError('unavailable', 'cluster membership is not running on this node; retry');
    return Promise.all(m.members().filter((x) => x.node !== this.self).map((x) => peerAdmin(x.node, x.httpUrl, method, path, auth, body)));
  }

  async drain(node: string | null, auth: string): Promise<{ status: number; body: unknown }> {
    if (node === null || node === this.self) {
      this.d.drainSelf();
      return { status: 202, body: { status: 'draining', node: this.self } };
    }
    const c = this.d.host.cluster;
    if (!c) throw new NotFound(`no node ${node}: this node (${this.self}) is not in a cell`);
    const members = c.services.peek('membership')?.members() ?? [];
    const m = members.find((x) => x.node === node);
    if (!m) throw new NotFound(`node ${node} is not a live member of the cell (members: ${members.map((x) => x.node).join(', ') || 'none known'})`);
    const a = await peerAdmin(node, m.httpUrl, 'POST', '/admin/drain', auth, {});
    if (a.status === 0) return { status: 503, body: a.body };
    return { status: a.status, body: { ...(a.body as object), node, via: this.self, http_url: m.httpUrl } };
  }

  async trace(q: { conversation: string; seq: number | null; message: string | null }): Promise<unknown> {
    const wp = this.d.host.services.peek('writePath');
    if (!wp) throw new CatalogError('unavailable', 'the store is not running on this node; retry');
    const owner = this.ownerOf(q.conversation);
    if (q.seq !== null) return traceMessage(wp.store, q.conversation, { seq: q.seq }, owner);
    if (q.message !== null) return traceMessage(wp.store, q.conversation, { message: q.message }, owner);
    return traceConversation(wp.store, q.conversation, owner);
  }

  private ownerOf(conversation: string): OwnerInfo {
    const c = this.d.host.cluster;
    if (!c) return { shard: null, node: this.self, epoch: null };
    const shard = c.shardOf(conversation);
    const o = c.services.peek('ownership')?.ownerOf(shard) ?? null;
    return { shard, node: o?.node ?? null, epoch: o?.token ?? null };
  }

  /** GET /admin/cluster: this node's view, plus every shard's owner and epoch as etcd has them now. */
  private async clusterStatus(): Promise<unknown> {
    const c = this.d.host.cluster!;
    const base = c.status() as Record<string, unknown>;
    const routes = c.services.peek('routes');
    const byNode: Record<string, number> = {};
    if (routes) {
      for (const r of routes.remoteRoutes()) byNode[r.node] = (byNode[r.node] ?? 0) + 1;
      byNode[this.self] = routes.stats().localRoutes;
    }
    let owners: unknown = null;
    let ownersError: string | null = null;
    const etcd = c.services.peek('etcd');
    const prefix = this.d.host.cfg.cluster.etcd.prefix;
    const count = this.d.host.cfg.cluster.shards.count;
    if (!etcd) ownersError = 'the etcd client is not running on this node';
    else {
      try {
        const { revision, kvs } = await Promise.race([
          scanPrefix(etcd, ownPrefix(prefix)),
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no answer from etcd in ${ETCD_READ_TIMEOUT_MS} ms`)), ETCD_READ_TIMEOUT_MS).unref()),
        ]);
        const list = kvs
          .map((kv) => ({ shard: parseOwnKey(prefix, kv.key.toString()), node: kv.value.toString(), epoch: Number(kv.mod_revision) }))
          .filter((o): o is { shard: number; node: string; epoch: number } => o.shard !== null)
          .sort((a, b) => a.shard - b.shard);
        const owned = new Set(list.map((o) => o.shard));
        owners = { revision, count, owned: list, unowned: Array.from({ length: count }, (_, i) => i).filter((i) => !owned.has(i)) };
      } catch (e) {
        ownersError = `etcd: ${(e as Error).message}`;
      }
    }
    return { ...base, routes_by_node: byNode, owners, ...(ownersError ? { owners_error: ownersError } : {}) };
  }

  logLevel(): LogLevel {
    return logLevel();
  }

  setLogLevel(level: LogLevel): { previous: LogLevel; level: LogLevel } {
    const previous = logLevel();
    setLogLevel(level);
    for (const l of this.d.host.links) l?.post({ t: 'log_level', level });
    logger().info({ evt: 'log.level', previous, level }, `log level ${previous} -> ${level}`);
    return { previous, level };
  }
}

/** This node's list plus the other nodes' (each answered `?local=1`); nodes that did not answer under `errors`. */
function merge(own: Record<string, unknown>, answers: PeerAnswer[], key: 'sessions' | 'kicked'): unknown {
  const list = [...(own[key] as unknown[])];
  const errors: Array<{ node: string; status: number; message: string }> = [];
  for (const a of answers) {
    const b = a.body as Record<string, unknown> | null;
    if (a.status === 200 && b && Array.isArray(b[key])) list.push(...(b[key] as unknown[]));
    else errors.push({ node: a.node, status: a.status, message: typeof b?.message === 'string' ? b.message : JSON.stringify(b).slice(0, 200) });
  }
  return { ...own, [key]: list, nodes: 1 + answers.length, errors };
}
