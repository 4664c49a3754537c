/**
 * What a shard writes to its sockets: one frame (encoded per the socket's encoding,
 * with the slow-consumer close past max_backpressure_bytes), a close with its code
 * (counted), and the pushes the host batches for the shard (messages, receipts, other
 * frames; encoded once in the host, re-encoded once for JSON clients). The listener
 * (listener.ts) owns the sockets; this holds only the map it is given.
 */
import type uWS from 'uWebSockets.js';
import type { ServerFrame } from '../protocol/gen/client_pb.js';
import { decodeServerFrame, encodeServerFrame, serverFrameToJson, type Encoding } from '../protocol/codec.js';
import { serverFrameBytes } from '../protocol/compiled/client_frames.js';
import { CLOSE_CODES } from '../protocol/codes.js';
import type { PushItem } from './messages.js';
import type { ShardMetrics } from './metrics.js';
import type { ShardLimits } from './shard_config.js';
import { onDeliver, type Session } from './session.js';

/** What uWS keeps per socket for the shard. */
/**
 * What a socket carries (uWS copies these onto its WebSocket object, as properties of
 * their own: three, not six, is 24 B less per connection; issue 14). Until the token is
 * verified `pre` holds what the upgrade brought; then the session replaces it.
 */
export interface UserData {
  session: Session | null;
  pre: PreAuth | null;
  closed: boolean;
}

export interface PreAuth {
  encoding: Encoding;
  /** Credentials until authentication starts (then cleared; never logged). */
  authorization: string;
  ticket: string;
  /** Frames that arrived before authentication finished (bounded). */
  early: Array<{ data: ArrayBuffer; isBinary: boolean }>;
}

export type WS = uWS.WebSocket<UserData>;

export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export class SocketOutput {
  constructor(
    /** The listener's authenticated sockets by connection id. */
    private readonly sockets: ReadonlyMap<number, WS>,
    private readonly limits: ShardLimits,
    private readonly metrics: ShardMetrics,
    private readonly log: Log,
  ) {}

  /** Pushes batched by the host (messages.ts PushItem). */
  push(items: PushItem[]): void {
    for (const it of items) {
      try {
        if (it.k === 'deliver') this.deliver(it);
        else this.frame(it.conns, it.frame);
      } catch (e) {
        // One undecodable push (a host bug) costs that push, not every socket of the
        // shard: the recipients recover it by sync (a seq gap, or their next sync).
        this.log('error', 'push dropped: frame could not be re-encoded', { kind: it.k, err: String(e) });
      }
    }
  }

  /**
   * One message to many sockets: the bytes as the host encoded them once, written to
   * each recipient (JSON ones get one re-encoding per item); the per-item work (clock,
   * send->deliver latency, the frames counter) is done once per item, not per socket.
   */
  private deliver(it: Extract<PushItem, { k: 'deliver' }>): void {
    const bytes = new Uint8Array(it.frame);
    let json: string | null = null;
    const latency = it.t0 > 0 ? Math.max(0, Date.now() - it.t0) / 1000 : -1;
    let written = 0;
    for (const c of it.conns) {
      const ws = this.sockets.get(c);
      if (!ws) continue;
      const s = ws.getUserData().session!;
      if (!onDeliver(s, it)) continue;
      if (s.encoding === 'json') json ??= serverFrameToJson(decodeServerFrame(bytes, 'proto'));
      this.send(ws, s.encoding === 'json' ? json! : bytes, s.encoding);
      written++;
      if (latency >= 0) this.metrics.sendDeliver.observe(latency);
    }
    if (written > 0) this.metrics.framesOut.inc(written);
  }

  /** A push encoded once in the host; JSON clients get it re-encoded once. */
  private frame(conns: number[], frame: ArrayBuffer): void {
    const bytes = new Uint8Array(frame);
    let json: string | null = null;
    let written = 0;
    for (const c of conns) {
      const ws = this.sockets.get(c);
      if (!ws) continue;
      const s = ws.getUserData().session!;
      if (s.encoding === 'json') json ??= serverFrameToJson(decodeServerFrame(bytes, 'proto'));
      this.send(ws, s.encoding === 'json' ? json! : bytes, s.encoding);
      written++;
    }
    if (written > 0) this.metrics.framesOut.inc(written);
  }

  end(ws: WS, code: number, reason: string): void {
    this.metrics.closes.inc({ code: String(code) });
    ws.end(code, reason);
  }

  sendFrame(ws: WS, enc: Encoding, frame: ServerFrame): void {
    if (frame.kind.case === 'error') this.metrics.errors.inc({ code: frame.kind.value.code });
    this.write(ws, encodeServerFrame(frame, enc, serverFrameBytes), enc);
  }

  private write(ws: WS, bytes: Uint8Array | string, enc: Encoding): void {
    this.metrics.framesOut.inc();
    this.send(ws, bytes, enc);
  }

  /** One frame onto one socket, closing it past max_backpressure_bytes (counted by the caller). */
  private send(ws: WS, bytes: Uint8Array | string, enc: Encoding): void {
    ws.send(bytes, enc === 'proto', false);
    if (ws.getBufferedAmount() > this.limits.maxBackpressureBytes) {
      this.log('warn', 'slow consumer closed', { conn: ws.getUserData().session?.conn });
      this.end(ws, CLOSE_CODES.slow_consumer.code, 'slow consumer');
    }
  }
}
