/**
 * The fan-out port in a cell (node/core/fanout_port.ts): the sending end hands the
 * local part to the one-node port (LocalFanout) and sends the rest to the nodes that
 * have recipients; the receiving end turns Deliver / ReceiptsPush / PushFrame frames
 * into pushes for this node's sockets.
 *
 * One frame per message per node that has recipients, listing that node's users (not
 * one per member): the owner looks recipients up in the route table's local cache and
 * the receiving node resolves users to its own sockets through its registry, then the
 * host outbox (one encoding, batched per socket shard). Like everything on a link it
 * is at most once: a push lost with a link, or sent before the owner saw a fresh
 * route, is recovered by the client's sync (a seq gap triggers one, PROTOCOL.md §6).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ServerFrameSchema } from '../../protocol/gen/client_pb.js';
import { ReceiptKind } from '../../protocol/gen/client_pb.js';
import { DeliverSchema, LinkFrameSchema, PresenceSettingSchema, PushFrameSchema, type Deliver, type LinkFrame, type PushFrame, type ReceiptsPush } from '../../protocol/gen/cluster_pb.js';
import { messageFrame, pushFrame } from '../../shards/frames.js';
import type { RemoteOrigin } from '../core/chat_types.js';
import type { FanoutPort, Origin } from '../core/fanout_port.js';
import type { Push } from '../core/pushes.js';
import type { ConnRef, ConnectionRegistry } from '../core/registry.js';
import type { StoredMessage } from '../store/types.js';
import type { RouteTable } from '../routing/route_table.js';
import type { PeerLink } from '../peers/peer_link.js';
import type { MemberReceipt } from '../core/ops.js';
import { isDebug, traceId } from '../../supervisor/log.js';

/** What the receiving end needs of the host's outbox (node/host/outbox.ts): frames already encoded by the owner. */
export interface EncodedOutbox {
  deliverEncoded(to: ConnRef[], message: { conversation: string; seq: number; trace?: string }, bytes: Uint8Array, t0?: number): void;
  receipts(to: ConnRef[], receipts: MemberReceipt[]): void;
  pushEncoded(to: ConnRef[], bytes: Uint8Array): void;
}

export interface FanoutDeps {
  self: string;
  routes: () => RouteTable | null;
  link: (node: string) => PeerLink | undefined;
  /** Nodes this one has links to. */
  peers: () => string[];
  /** The local part of every fan-out (node/core/local_fanout.ts). */
  local: FanoutPort;
  registry: ConnectionRegistry;
  outbox: EncodedOutbox;
  /** Told synchronously before a forwarded delivery goes to local sockets (ChatService.remoteDelivered). */
  onRemoteDelivered: (conversation: string, seq: number) => void;
}

export interface FanoutStats {
  framesSent: number;
  /** Frames not sent: no link to the node, or its queue was full. */
  framesDropped: number;
  framesReceived: number;
}

type Kind = LinkFrame['kind'];

export class ClusterFanout implements FanoutPort {
  readonly stats: FanoutStats = { framesSent: 0, framesDropped: 0, framesReceived: 0 };

  constructor(private readonly d: FanoutDeps) {}

  // ------------------------------------------------------------------ the port

  message(users: readonly string[], message: StoredMessage, from: Origin, t0: number): void {
    this.d.local.message(users, message, from, t0);
    this.deliver(users, message, from.remote, t0);
  }

  receipts(users: readonly string[], receipts: MemberReceipt[], from: Origin): void {
    this.d.local.receipts(users, receipts, from);
    this.remoteReceipts(users, receipts);
  }

  push(users: readonly string[], push: Push): void {
    this.d.local.push(users, push);
    this.remotePush(users, push);
  }

  pushTo(conns: ConnRef[], push: Push): void {
    this.d.local.pushTo(conns, push);
  }

  // ------------------------------------------------------------------ sending to other nodes

  private deliver(users: readonly string[], message: StoredMessage, exclude: RemoteOrigin | null, t0: number): void {
    const groups = this.byNode(users);
    if (groups.size === 0) return;
    const msg = messageFrame(message);
    for (const [node, us] of groups) {
      const ex = exclude && exclude.node === node ? { node, socketShard: exclude.shard, conn: exclude.conn } : undefined;
      this.send(node, { case: 'deliver', value: create(DeliverSchema, { users: us, message: msg, exclude: ex, t0Ms: BigInt(Math.round(t0)) }) });
    }
  }

  private remoteReceipts(users: readonly string[], receipts: MemberReceipt[]): void {
    // As PushFrames, like every push but messages (ReceiptsPush is still read on
    // arrival, from nodes that send it: onReceipts).
    for (const r of receipts) this.remotePush(users, { k: 'receipt', receipt: r });
  }

  private remotePush(users: readonly string[], push: Push): void {
    const groups = this.byNode(users);
    if (groups.size === 0) return;
    const bytes = toBinary(ServerFrameSchema, pushFrame(push));
    for (const [node, us] of groups) this.send(node, { case: 'push', value: create(PushFrameSchema, { users: us, serverFrame: bytes }) });
  }

  /** To every node this one has a link to. */
  presenceSetting(user: string, hidden: boolean): void {
    for (const node of this.d.peers()) this.send(node, { case: 'presenceSetting', value: create(PresenceSettingSchema, { user, hideLastSeen: hidden }) });
  }

  /** Recipients grouped by the other nodes they have connections on. */
  private byNode(users: readonly string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const routes = this.d.routes();
    if (!routes) return out;
    for (const u of users) {
      for (const r of routes.lookup(u)) {
        if (r.node === this.d.self) continue;
        let l = out.get(r.node);
        if (!l) out.set(r.node, (l = []));
        // A user's devices on one node add the user once.
        if (l[l.length - 1] !== u) l.push(u);
      }
    }
    return out;
  }

  private send(node: string, kind: Kind): void {
    const link = this.d.link(node);
    if (!link || link.send(create(LinkFrameSchema, { kind })) !== 'ok') {
      this.stats.framesDropped++;
      return;
    }
    this.stats.framesSent++;
  }

  // ------------------------------------------------------------------ receiving

  onDeliver(f: Deliver): void {
    this.stats.framesReceived++;
    const m = f.message;
    if (!m) return;
    const seq = Number(m.seq);
    this.d.onRemoteDelivered(m.conversation, seq);
    const ex = f.exclude && f.exclude.node === this.d.self ? f.exclude : null;
    const to = this.local(f.users, ex ? (r) => r.shard === ex.socketShard && r.conn === ex.conn : null);
    if (to.length === 0) return;
    const bytes = toBinary(ServerFrameSchema, create(ServerFrameSchema, { kind: { case: 'message', value: m } }));
    // The message's trace id (docs/LOGS.md), computed only while logging at debug.
    const trace = isDebug() ? traceId(m.sender, m.senderDevice, m.conversation, m.clientMsgId) : undefined;
    this.d.outbox.deliverEncoded(to, { conversation: m.conversation, seq, trace }, bytes, Number(f.t0Ms));
  }

  /** Receipts from a node that still sends ReceiptsPush (nodes now send them as PushFrames). */
  onReceipts(f: ReceiptsPush): void {
    this.stats.framesReceived++;
    const to = this.local(f.users, null);
    if (to.length === 0) return;
    const receipts: MemberReceipt[] = f.receipts.map((r) => ({
      conversation: r.conversation,
      user: r.user,
      kind: r.kind === ReceiptKind.READ ? 'read' : 'delivered',
      seq: Number(r.seq),
    }));
    this.d.outbox.receipts(to, receipts);
  }

  onPush(f: PushFrame): void {
    this.stats.framesReceived++;
    const to = this.local(f.users, null);
    if (to.length) this.d.outbox.pushEncoded(to, f.serverFrame);
  }

  private local(users: readonly string[], skip: ((r: ConnRef) => boolean) | null): ConnRef[] {
    const to: ConnRef[] = [];
    for (const u of users) for (const r of this.d.registry.connectionsOf(u)) if (!skip || !skip(r)) to.push(r);
    return to;
  }
}
