/**
 * Every message between the host (main thread) and a socket shard (worker thread)
 * is one of these two unions. Values are plain data (structured clone), but for the
 * hot ops and their results, which travel packed, one buffer per tick
 * (channel_codec.ts: `ops` and `replies`, the records of `req` and `reply`).
 *
 * The host owns conversations, sequencing and the store; a shard owns sockets,
 * decoding, auth and per-connection session state. A shard never touches the store.
 */
import type { CoreOp, CoreResult } from '../node/core/ops.js';
import type { VerifyResult } from '../node/auth/types.js';
import type { ShardAuth, ShardLimits } from './shard_config.js';




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
  /** `req`s of send, ack and read packed (channel_codec.ts readOps), transferred. */
  | { t: 'ops'; buf: ArrayBuffer }
  /** Op buffers wait in the shared ring (op_ring.ts): drain it. */
  | { t: 'bell' }
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
  /** trace: the message's trace id (supervisor/log.ts traceId), set only while the host logs at debug. */
  | { k: 'deliver'; conns: number[]; conversation: string; seq: number; t0: number; frame: ArrayBuffer; trace?: string }
  /** Any other push (node/core/pushes.ts), a ServerFrame encoded once in the host as protobuf. */
  | { k: 'frame'; conns: number[]; frame: ArrayBuffer };

export type HostToShard =
  | { t: 'reply'; conn: number; reqId: number; result: CoreResult }
  /** `reply`s of send_ack, ok and error packed (channel_codec.ts readReplies), transferred. */
  | { t: 'replies'; buf: ArrayBuffer }
  /** `replies`: packed replies written before this batch (channel_codec.ts), carried along instead of a message of their own. */
  | { t: 'push'; items: PushItem[]; replies?: ArrayBuffer }
  | { t: 'metrics'; id: number }
  | { t: 'http_reply'; id: number; res: HttpResponse }
  | { t: 'redeemed'; id: number; identity: { user: string; device: string; exp: number } | null }
  | { t: 'verified'; id: number; result: VerifyResult }
  | { t: 'drain'; reconnectAfterMs: number; jitterMs: number }
  /**
   * Accept new connections with this certificate from now on (a snapshot the host has
   * validated: node/host/tls_reload.ts); open sockets stay as they are.
   */
  | { t: 'tls'; gen: number; tls: { certFile: string; keyFile: string; passphrase: string } }
  /** Log at this level from now on (POST /admin/log-level). */
  | { t: 'log_level'; level: 'debug' | 'info' | 'warn' | 'error' }
  /** Close one connection (e.g. the cluster could not route it, an operator's kick). */
  | { t: 'close'; conn: number; reason: import('../protocol/codes.js').CloseReason };

/** workerData of a shard thread. */
export interface ShardInit {
  shard: number;
  nodeId: string;
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string; passphrase: string } | null;
  limits: ShardLimits;
  auth: ShardAuth;
  /** This thread's op ring to the host (op_ring.ts), or null: ops go as `ops` messages. */
  opRing: SharedArrayBuffer | null;
  /** The host's log level when the shard starts (supervisor/log.ts). */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Test-only faults (SWITCHBOARD_TEST_FAULT), inert when empty. */
  fault: string;
}
