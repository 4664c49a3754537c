/**
 * Every message between the host (main thread) and a socket shard (worker thread)
 * is one of these two unions. Values are plain data (structured clone).
 *
 * The host owns conversations, sequencing and the store; a shard owns sockets,
 * decoding, auth and per-connection session state. A shard never touches the store.
 */
import type { MemberReceipt } from '../node/core/receipts.js';
import type { GroupInfo, HistoryPage, MemberReceiptsDetail, SendAck, SyncPage } from '../node/core/chat_service.js';
import type { PresenceView } from '../node/core/presence.js';
import type { ErrorCode } from '../protocol/codes.js';
import type { Conversation } from '../node/store/types.js';

export type CoreOp =
  | { op: 'send'; conversation: string; clientMsgId: string; body: string; meta: Record<string, string> }
  | { op: 'ack'; conversation: string; seq: number }
  | { op: 'read'; conversation: string; seq: number }
  | { op: 'sync'; cursors: Array<{ conversation: string; seq: number }>; limit: number }
  | { op: 'history'; conversation: string; beforeSeq: number; limit: number }
  | { op: 'open_direct'; peer: string }
  | { op: 'list' }
  | GroupOp;

/** Ops added for groups, presence and typing (node/core/group_ops.ts runs them). */
export type GroupOp =
  /** `id` is set by the host (a cluster routes the op to the owner of the new id); shards leave it out. */
  | { op: 'create_group'; subject: string; members: string[]; id?: string }
  | { op: 'add_members'; conversation: string; users: string[] }
  | { op: 'remove_members'; conversation: string; users: string[] }
  | { op: 'leave_group'; conversation: string }
  | { op: 'set_subject'; conversation: string; subject: string }
  | { op: 'member_receipts'; conversation: string; seq: number }
  | { op: 'presence_subscribe'; users: string[] }
  | { op: 'presence_settings'; hideLastSeen: boolean }
  | { op: 'typing'; conversation: string };

export type CoreResult =
  | { r: 'send_ack'; ack: SendAck }
  | { r: 'sync_page'; page: SyncPage }
  | { r: 'history_page'; page: HistoryPage }
  | { r: 'direct_opened'; conversation: Conversation }
  | { r: 'conversations'; list: Array<{ conv: Conversation; lastSeq: number }> }
  | { r: 'group_info'; info: GroupInfo }
  | { r: 'member_receipts'; detail: MemberReceiptsDetail }
  | { r: 'presence'; users: PresenceView[] }
  | { r: 'ok' }
  | { r: 'error'; code: ErrorCode; message: string; retryAfterMs: number };

export interface HttpRequest {
  method: string;
  path: string;
  query: string;
  /** Authorization header value (never logged). */
  authorization: string;
  body: string;
}

export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON unless `text` is set. */
  body: unknown;
  /** A plain-text body (e.g. Prometheus exposition, the supervision tree). */
  text?: string;
}

export type ShardToHost =
  | { t: 'listening'; shard: number; port: number }
  | { t: 'open'; conn: number; user: string; device: string }
  | { t: 'close'; conn: number; user: string; device: string }
  /** t0: when the frame arrived at the shard (ms since epoch), for send->deliver timing. */
  | { t: 'req'; conn: number; reqId: number; user: string; device: string; op: CoreOp; t0: number }
  | { t: 'http'; id: number; req: HttpRequest }
  | { t: 'redeem'; id: number; ticket: string }
  /** Verify an asymmetric-key token in the host's task pool. */
  | { t: 'verify'; id: number; token: string }
  | { t: 'drained' }
  /** Answer to `tls`: error is null when the shard now accepts with the new certificate. */
  | { t: 'tls_loaded'; gen: number; error: string | null }
  /** prom-client getMetricsAsJSON() of the shard's registry. */
  | { t: 'metrics'; id: number; json: unknown };

/**
 * Pushes for one shard, batched per host tick. The Message frame is encoded once in
 * the host as protobuf (a transferable ArrayBuffer) and sent as-is to protobuf
 * connections; the shard re-encodes it to JSON once per item if it has JSON clients.
 */
export type PushItem =
  | { k: 'deliver'; conns: number[]; conversation: string; seq: number; t0: number; frame: ArrayBuffer }
  | { k: 'receipts'; conns: number[]; receipts: MemberReceipt[] }
  /** Any other push (node/core/pushes.ts), a ServerFrame encoded once in the host as protobuf. */
  | { k: 'frame'; conns: number[]; frame: ArrayBuffer };

export type HostToShard =
  | { t: 'reply'; conn: number; reqId: number; result: CoreResult }
  | { t: 'push'; items: PushItem[] }
  | { t: 'metrics'; id: number }
  | { t: 'http_reply'; id: number; res: HttpResponse }
  | { t: 'redeemed'; id: number; identity: { user: string; device: string; exp: number } | null }
  | { t: 'verified'; id: number; result: import('../node/tasks/verify_token_task.js').VerifyResult }
  | { t: 'drain'; reconnectAfterMs: number; jitterMs: number }
  /**
   * Accept new connections with this certificate from now on (a snapshot the host has
   * validated: node/host/tls_reload.ts); open sockets stay as they are.
   */
  | { t: 'tls'; gen: number; tls: { certFile: string; keyFile: string; passphrase: string } }
  /** Close one connection (e.g. the cluster could not route it). */
  | { t: 'close'; conn: number; reason: import('../protocol/codes.js').CloseReason };

/** workerData of a shard thread. */
export interface ShardInit {
  shard: number;
  nodeId: string;
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string; passphrase: string } | null;
  limits: import('../node/config.js').Config['limits'];
  auth: import('../node/config.js').Config['auth'];
  /** Test-only faults (SWITCHBOARD_TEST_FAULT), inert when empty. */
  fault: string;
}
