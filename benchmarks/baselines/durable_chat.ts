/**
 * Baseline: the least a durable 1:1 chat server does per message, for the one-node
 * bench to measure beside the node (`one-node --baseline durable`). One uWebSockets.js
 * thread and the node's own SQLite store thread (node/store/sqlite_worker_store.ts:
 * same rows, same synchronous=FULL commits): a send is decoded with the compiled codec,
 * given the next seq of its conversation, committed in a group commit, and only then
 * acked to the sender and pushed to the other member, as the node does.
 *
 * What it leaves out, on purpose, to be a floor and not a second node: auth checks (the
 * token's `sub` is read, not verified), limits, dedup reads, receipts, presence,
 * metrics, several sockets per user, the supervisor, and the host / shard split (one
 * thread does the sockets and the sequencing). What is left is what any design that
 * keeps the product's promise on this box pays per message: a WebSocket frame in, a
 * commit that is durable before the ack, two frames out.
 *
 * Group commit: the first send of a batch starts a timer of BATCH_DELAY_MS (the node's
 * store.batch.maxDelayMs), so at a given rate it commits as many rows per commit as the
 * node does. Prints `ready <port>` once listening.
 *
 * GET /metrics gives its loop delay in the node's own metric and resolution
 * (switchboard_host_loop_delay_seconds, 2 ms sampling, reset by each scrape), so the
 * bench reads the floor's longest loop block exactly as it reads the node's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import uWS from 'uWebSockets.js';
import { create } from '@bufbuild/protobuf';
import { ServerFrameSchema, type ServerFrame } from '../../protocol/gen/client_pb.js';
import { clientFrameFromBytes, serverFrameBytes } from '../../protocol/compiled/client_frames.js';
import { SqliteWorkerStore } from '../../node/store/sqlite_worker_store.js';
import { directConversationId, newMessageId } from '../../node/core/ids.js';
import type { StoredMessage, WriteOp } from '../../node/store/types.js';

/** The node's default store.batch.maxDelayMs (node/config/defaults.ts). */
const BATCH_DELAY_MS = Number(process.env.SB_BATCH_DELAY_MS ?? 5);

interface Conn {
  user: string;
  device: string;
  ws?: uWS.WebSocket<Conn>;
}

const dir = mkdtempSync(path.join(tmpdir(), 'sb-durable-baseline-'));
const store = await SqliteWorkerStore.open(path.join(dir, 'messages.db'));
/** user -> open sockets (one device each in this load). */
const sockets = new Map<string, uWS.WebSocket<Conn>>();
const conversations = new Map<string, { members: string[]; seq: number }>();

let pending: Array<{ m: StoredMessage; ws: uWS.WebSocket<Conn>; reqId: number; to: string }> = [];
let timer: ReturnType<typeof setTimeout> | null = null;

function send(ws: uWS.WebSocket<Conn> | undefined, frame: ServerFrame): void {
  if (!ws) return;
  try {
    ws.send(serverFrameBytes(frame), true);
  } catch {
    // closed meanwhile
  }
}

function commitPending(): void {
  timer = null;
  const batch = pending;
  pending = [];
  const ops: WriteOp[] = batch.map((p) => ({ kind: 'message', message: p.m }));
  store.commit(ops).then(
    () => {
      for (const p of batch) {
        const m = p.m;
        const seq = BigInt(m.seq);
        const ts = BigInt(m.serverTs);
        // Acks and pushes of one commit go out corked per socket, as the node's shards do.
        p.ws.cork(() => send(p.ws, create(ServerFrameSchema, { reqId: p.reqId, kind: { case: 'sendAck', value: { conversation: m.conversation, clientMsgId: m.clientMsgId, messageId: m.messageId, seq, serverTs: ts } } })));
        const to = sockets.get(p.to);
        to?.cork(() =>
          send(to, create(ServerFrameSchema, { kind: { case: 'message', value: { conversation: m.conversation, seq, messageId: m.messageId, sender: m.sender, senderDevice: m.senderDevice, clientMsgId: m.clientMsgId, body: m.body, serverTs: ts } } })),
        );
      }
    },
    (err: unknown) => {
      console.error(`durable_chat: commit failed: ${String(err)}`);
      process.exit(1);
    },
  );
}

function onFrame(ws: uWS.WebSocket<Conn>, bytes: Uint8Array): void {
  const c = ws.getUserData();
  const f = clientFrameFromBytes(bytes);
  const k = f.kind;
  if (k.case === 'send') {
    const conv = conversations.get(k.value.conversation);
    if (!conv) return;
    const to = conv.members[0] === c.user ? conv.members[1] : conv.members[0];
    const m: StoredMessage = {
      conversation: k.value.conversation,
      seq: ++conv.seq,
      messageId: newMessageId(),
      sender: c.user,
      senderDevice: c.device,
      clientMsgId: k.value.clientMsgId,
      body: k.value.body,
      meta: {},
      serverTs: Date.now(),
    };
    pending.push({ m, ws, reqId: f.reqId, to });
    timer ??= setTimeout(commitPending, BATCH_DELAY_MS);
  } else if (k.case === 'openDirect') {
    const id = directConversationId(c.user, k.value.peer);
    if (!conversations.has(id)) {
      conversations.set(id, { members: [c.user, k.value.peer], seq: 0 });
      const now = Date.now();
      const op: WriteOp = { kind: 'conversation', conversation: { id, kind: 'direct', createdAt: now, subject: '', members: [c.user, k.value.peer].map((user) => ({ user, role: 'member' as const })) } };
      void store.commit([op]).then(() => send(ws, create(ServerFrameSchema, { reqId: f.reqId, kind: { case: 'directOpened', value: { conversation: id, members: [c.user, k.value.peer] } } })));
    } else send(ws, create(ServerFrameSchema, { reqId: f.reqId, kind: { case: 'directOpened', value: { conversation: id, members: conversations.get(id)!.members } } }));
  } else if (k.case === 'sync') {
    send(ws, create(ServerFrameSchema, { reqId: f.reqId, kind: { case: 'syncPage', value: { hasMore: false } } }));
  }
}

/** The token's `sub` (not verified: a baseline, not a server to expose). */
function userOf(authorization: string): string {
  const payload = authorization.replace(/^Bearer /, '').split('.')[1] ?? '';
  return (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub: string }).sub;
}

const LOOP_RESOLUTION_MS = 2;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loopDelay.enable();

const app = uWS.App();
app.get('/metrics', (res) => {
  // As node/host/metrics.ts: the histogram holds whole timer intervals; less the resolution is the delay.
  const q = (ns: number): number => Math.max(0, ns / 1e9 - LOOP_RESOLUTION_MS / 1000);
  const n = loopDelay.count;
  const lines = [
    ['0.5', n ? q(loopDelay.percentile(50)) : 0],
    ['0.99', n ? q(loopDelay.percentile(99)) : 0],
    ['1', n ? q(loopDelay.max) : 0],
  ].map(([k, v]) => `switchboard_host_loop_delay_seconds{quantile="${k}"} ${v}`);
  loopDelay.reset();
  res.end(lines.join('\n') + '\n');
});
app.ws<Conn>('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 0,
  upgrade: (res, req, context) => {
    const user = userOf(req.getHeader('authorization'));
    res.upgrade<Conn>({ user, device: 'd1' }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const c = ws.getUserData();
    sockets.set(c.user, ws);
    send(ws, create(ServerFrameSchema, { kind: { case: 'welcome', value: { user: c.user, device: c.device, node: 'durable-baseline' } } }));
  },
  message: (ws, msg) => onFrame(ws, new Uint8Array(msg)),
  close: (ws) => {
    const c = ws.getUserData();
    if (sockets.get(c.user) === ws) sockets.delete(c.user);
  },
});
app.listen('127.0.0.1', 0, (token) => {
  if (!token) {
    console.error('durable_chat: listen failed');
    process.exit(1);
  }
  console.log(`ready ${uWS.us_socket_local_port(token)}`);
});
process.on('SIGTERM', () => {
  void store.close().finally(() => process.exit(0));
});
