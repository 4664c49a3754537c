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
  return out.join('\n');
}

export const cluster: Command = {
  words: ['cluster'],
  args: '',
  summary: 'members, links, routes and the shards this node owns (GET /admin/cluster)',
  async run(ctx) {
    const a = await call(ctx, 'GET', '/admin/cluster');
    if (a.body === null || typeof a.body !== 'object') throw new CtlError(EXIT.refused, `the node's /admin/cluster answer is not JSON: ${a.text.slice(0, 200)}`);
    ctx.io.out(ctx.json ? JSON.stringify(a.body, null, 2) : renderCluster(a.body as ClusterStatus, ctx.url()));
    return EXIT.ok;
  },
};
