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

type DeliverItem = Extract<PushItem, { k: 'deliver' }>;

/** The same connections in the same order (the host lists a shard's recipients of one conversation the same way each time). */
function sameConns(a: number[], b: number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

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
    for (let i = 0; i < items.length; ) {
      const it = items[i];
      // Several messages in a row to the same sockets (a group's messages committed
      // together): one write per socket for all of them (see deliverRun).
      let j = i + 1;
      if (it.k === 'deliver') while (j < items.length && items[j].k === 'deliver' && sameConns(items[j].conns, it.conns)) j++;
      if (j - i > 1) this.deliverRun(items.slice(i, j) as DeliverItem[]);
      else this.pushOne(it);
      i = j;
    }
  }

  private pushOne(it: PushItem): void {
    try {
      if (it.k === 'deliver') this.deliver(it);
      else this.frame(it.conns, it.frame);
    } catch (e) {
      // One undecodable push (a host bug) costs that push, not every socket of the
      // shard: the recipients recover it by sync (a seq gap, or their next sync).
      this.log('error', 'push dropped: frame could not be re-encoded', { kind: it.k, err: String(e) });
    }
  }

  /**
   * Messages to the same sockets, in order: each socket gets all of them in one write
   * (uWS cork: the frames gather in the loop's cork buffer and leave in one syscall),
   * not one write per message. A write is most of what a delivery costs (issue 14: ~5
   * of ~6 µs per delivery in the group fan-out bench), and under load commits grow, so
   * the more a shard falls behind, the more messages share a write. Per socket the
   * order is the items' order, and onDeliver sees them in that order as before.
   */
  private deliverRun(run: DeliverItem[]): void {
    const bytes: Array<Uint8Array | null> = [];
    const json: Array<string | null> = [];
    const latency: number[] = [];
    const now = Date.now();
    for (const it of run) {
      bytes.push(new Uint8Array(it.frame));
      json.push(null);
      latency.push(it.t0 > 0 ? Math.max(0, now - it.t0) / 1000 : -1);
    }
    let written = 0;
    for (const c of run[0].conns) {
      const ws = this.sockets.get(c);
      if (!ws) continue;
      const ud = ws.getUserData();
      const s = ud.session!;
      ws.cork(() => {
        for (let k = 0; k < run.length; k++) {
          const b = bytes[k];
          if (b === null || !onDeliver(s, run[k])) continue;
          let out: Uint8Array | string = b;
          if (s.encoding === 'json') {
            try {
              out = json[k] ??= serverFrameToJson(decodeServerFrame(b, 'proto'));
            } catch (e) {
              bytes[k] = null;
              this.log('error', 'push dropped: frame could not be re-encoded', { kind: 'deliver', err: String(e) });
              continue;
            }
          }
          ws.send(out, s.encoding === 'proto', false);
          written++;
          if (latency[k] >= 0) this.metrics.sendDeliver.observe(latency[k]);
        }
      });
      // The backpressure check of send(), once the cork has written (not closing a socket inside its cork).
      this.checkBackpressure(ws);
    }
    if (written > 0) this.metrics.framesOut.inc(written);
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
    this.checkBackpressure(ws);
  }

  private checkBackpressure(ws: WS): void {
    if (ws.getBufferedAmount() > this.limits.maxBackpressureBytes) {
      this.log('warn', 'slow consumer closed', { conn: ws.getUserData().session?.conn });
      this.end(ws, CLOSE_CODES.slow_consumer.code, 'slow consumer');
    }
  }
}
