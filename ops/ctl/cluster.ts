/**
 * `switchboardctl cluster`: the cell as one node sees it (GET /admin/cluster):
 * members and the link to each, the route table, the conversation shards this node
 * owns, forwarding and fan-out counters. --json prints the node's answer unchanged.
 * A node that is not in a cell answers 503 `unavailable` (exit 1).
 */
import { call, CtlError, EXIT, ranges, table, type Command } from './common.js';

/** The shape of ClusterNode.status() (node/cluster/cluster_node.ts), as served. */
export interface ClusterStatus {
  node: string;
  lease: string | null;
  members: Array<{ node: string; peerAddr: string; httpUrl: string }>;
  shards: { count: number; held: number[]; releasing: number[] };
  links: Array<{ peer: string; state: string; queuedBytes: number; dropped: number; framesSent: number; framesReceived: number; connects: number }>;
  routes: { localRoutes: number; cachedRoutes: number; pendingWrites: number; batchesWritten: number; resyncs: number; overloaded: number } | null;
  forwarder: { forwarded: number; local: number; refused: number; timedOut: number; served: number };
  fanout: { framesSent: number; framesDropped: number; framesReceived: number };
  /** Routes per node (this node's own, and the cell's as mirrored here). */
  routes_by_node?: Record<string, number>;
  /** Every shard's owner and fencing epoch (the key's mod_revision) as etcd had them at `revision`. */
  owners?: { revision: number; count: number; owned: Array<{ shard: number; node: string; epoch: number }>; unowned: number[] } | null;
  owners_error?: string;
}

export function renderCluster(s: ClusterStatus, url: string): string {
  const held = s.shards?.held ?? [];
  const releasing = s.shards?.releasing ?? [];
  const out: string[] = [
    `${s.node} at ${url}  lease ${s.lease ?? 'none'}  conversation shards ${s.shards?.count ?? '?'}: ${held.length} held here, ${releasing.length} releasing`,
    '',
  ];
  const links = new Map((s.links ?? []).map((l) => [l.peer, l]));
  const rows = (s.members ?? []).map((m) => {
    if (m.node === s.node) return [m.node, m.peerAddr, m.httpUrl, 'self'];
    const l = links.get(m.node);
    return [m.node, m.peerAddr, m.httpUrl, l?.state ?? 'none', l ? String(l.queuedBytes) : '', l ? String(l.dropped) : '', l ? String(l.connects) : ''];
  });
  // Links to nodes that are no longer members (left, or their lease expired).
  for (const [peer, l] of links) {
    if (!(s.members ?? []).some((m) => m.node === peer)) rows.push([peer, '(not a member)', '', l.state, String(l.queuedBytes), String(l.dropped), String(l.connects)]);
  }
  out.push(table(['member', 'peer address', 'http', 'link', 'queued bytes', 'dropped', 'connects'], rows), '');
  const r = s.routes;
  out.push(
    r
      ? `routes (user/device -> node): ${r.localRoutes} on this node, ${r.cachedRoutes} in the cell; ${r.pendingWrites} not yet in etcd, ${r.batchesWritten} batches written, ${r.resyncs} resyncs, ${r.overloaded} refused`
      : 'routes: not started',
  );
  out.push(`shards held here: ${held.length ? ranges(held) : 'none'}`);
  if (releasing.length) out.push(`shards releasing: ${ranges(releasing)}`);
  const f = s.forwarder;
  if (f) out.push(`ops: ${f.local} run here, ${f.forwarded} forwarded to owners, ${f.served} served for other nodes, ${f.refused} refused, ${f.timedOut} timed out`);
  const o = s.fanout;
  if (o) out.push(`fan-out frames: ${o.framesSent} sent, ${o.framesReceived} received, ${o.framesDropped} dropped`);
  if (s.routes_by_node) out.push(`routes per node: ${Object.entries(s.routes_by_node).sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, c]) => `${n} ${c}`).join(', ') || 'none'}`);
  if (s.owners) {
    // One row per owner: its shards and the range of their epochs (a fencing token per shard).
    const byNode = new Map<string, Array<{ shard: number; epoch: number }>>();
    for (const x of s.owners.owned) byNode.set(x.node, [...(byNode.get(x.node) ?? []), x]);
    out.push('', `shard owners (etcd revision ${s.owners.revision}, ${s.owners.count} shards):`);
    out.push(
      table(
        ['owner', 'shards', 'count', 'epochs'],
        [...byNode].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, xs]) => [n, ranges(xs.map((x) => x.shard)), String(xs.length), `${Math.min(...xs.map((x) => x.epoch))}..${Math.max(...xs.map((x) => x.epoch))}`]),
      ),
    );
    out.push(`unowned: ${s.owners.unowned.length ? ranges(s.owners.unowned) : 'none'}  (every shard with its epoch: --json)`);
  } else if (s.owners_error) out.push(`shard owners: unknown (${s.owners_error})`);
  return out.join('\n');
}

export const cluster: Command = {
  words: ['cluster'],
  args: '',
  summary: 'members, links, routes, every shard owner and its epoch (GET /admin/cluster)',
  async run(ctx) {
    const a = await call(ctx, 'GET', '/admin/cluster');
    if (a.body === null || typeof a.body !== 'object') throw new CtlError(EXIT.refused, `the node's /admin/cluster answer is not JSON: ${a.text.slice(0, 200)}`);
    ctx.io.out(ctx.json ? JSON.stringify(a.body, null, 2) : renderCluster(a.body as ClusterStatus, ctx.url()));
    return EXIT.ok;
  },
};
