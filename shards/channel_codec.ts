/**
 * The hot records between a socket shard and the host, packed back to back into one
 * buffer per tick and direction (channel_batch.ts sends it): shard -> host the client
 * ops `send`, `ack` and `read` (a `req` in messages.ts), host -> shard their results
 * `send_ack`, `ok` and `error` (a `reply`). Everything else stays a structured-clone
 * object (messages.ts): it is rare, and its shapes are many.
 *
 * Why (issue 14): a postMessage of one object per op cost 6-122 µs on this box, 64
 * records packed in one ArrayBuffer 0.22 µs each.
 *
 * Layout: each record starts with its kind (u8), then fixed fields (f64, so a conn id
 * or a seq never wraps; little-endian), then strings as a u32 byte length and the
 * string in UTF-16LE. UTF-16 and not UTF-8: it carries any JavaScript string as is,
 * lone surrogates included (a JSON client can send "\ud800", and structured clone kept
 * it; UTF-8 would turn it into U+FFFD), and it is a copy, not a transcoding.
 */
import type { CoreOp, CoreResult, SendAck } from '../node/core/ops.js';

/** The ops that travel packed. */
export type HotOp = Extract<CoreOp, { op: 'send' | 'ack' | 'read' }>;
/** The results that travel packed. */
export type HotResult = Extract<CoreResult, { r: 'send_ack' | 'ok' | 'error' }>;

const OP_SEND = 1;
const OP_ACK = 2;
const OP_READ = 3;
const R_SEND_ACK = 1;
const R_OK = 2;
const R_ERROR = 3;

export function isHotOp(op: CoreOp): op is HotOp {
  return op.op === 'send' || op.op === 'ack' || op.op === 'read';
}

/** (An error whose retryAfterMs is not a number goes as an object, which keeps it as it is.) */
export function isHotResult(r: CoreResult): r is HotResult {
  return r.r === 'send_ack' || r.r === 'ok' || (r.r === 'error' && typeof r.retryAfterMs === 'number');
}

/**
 * Writes records into one growing buffer; take() hands them over in an ArrayBuffer of
 * their own (to transfer) and starts again.
 */
export class ChannelWriter {
  private buf: Buffer;
  private view: DataView;
  private pos = 0;
  /** Records written since the last take(). */
  count = 0;

  /** 16 KiB holds ~100 typical sends; it doubles for a bigger tick and stays doubled. */
  constructor(size = 16 * 1024) {
    this.buf = Buffer.alloc(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  op(conn: number, reqId: number, user: string, device: string, t0: number, op: HotOp): void {
    this.u8(op.op === 'send' ? OP_SEND : op.op === 'ack' ? OP_ACK : OP_READ);
    this.f64(conn);
    this.f64(reqId);
    this.f64(t0);
    this.str(user);
    this.str(device);
    this.str(op.conversation);
    if (op.op === 'send') {
      this.str(op.clientMsgId);
      this.str(op.body);
      const keys = Object.keys(op.meta);
      this.u32(keys.length);
      for (const k of keys) {
        this.str(k);
        this.str(op.meta[k]);
      }
      if (op.mediaId === undefined) this.u8(0);
      else {
        this.u8(1);
        this.str(op.mediaId);
      }
    } else {
      this.f64(op.seq);
    }
    this.count++;
  }

  reply(conn: number, reqId: number, res: HotResult): void {
    this.u8(res.r === 'send_ack' ? R_SEND_ACK : res.r === 'ok' ? R_OK : R_ERROR);
    this.f64(conn);
    this.f64(reqId);
    if (res.r === 'send_ack') {
      const a = res.ack;
      this.str(a.conversation);
      this.str(a.clientMsgId);
      this.str(a.messageId);
      this.f64(a.seq);
      this.f64(a.serverTs);
      this.u8(a.duplicate ? 1 : 0);
    } else if (res.r === 'error') {
      this.str(res.code);
      this.str(res.message);
      this.f64(res.retryAfterMs);
    }
    this.count++;
  }

  /** The records written so far, in a buffer of their own; null if none. */
  take(): ArrayBuffer | null {
    if (this.count === 0) return null;
    const out = new ArrayBuffer(this.pos);
    new Uint8Array(out).set(this.buf.subarray(0, this.pos));
    this.pos = 0;
    this.count = 0;
    return out;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let len = this.buf.length * 2;
    while (len < this.pos + n) len *= 2;
    const next = Buffer.alloc(len);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  private u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }

  private u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  private f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  private str(s: string): void {
    const n = s.length * 2;
    this.u32(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf16le');
  }
}

/** Reads the records of one buffer in order. */
class ChannelReader {
  private readonly buf: Buffer;
  private readonly view: DataView;
  pos = 0;

  constructor(ab: ArrayBuffer) {
    this.buf = Buffer.from(ab);
    this.view = new DataView(ab);
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    if (this.pos + 1 > this.buf.length) throw new RangeError('channel record cut short');
    return this.buf[this.pos++];
  }

  u32(): number {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(): number {
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  str(): string {
    const n = this.u32();
    if (this.pos + n > this.buf.length) throw new RangeError('channel string cut short');
    const s = this.buf.toString('utf16le', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

export type OpSink = (conn: number, reqId: number, user: string, device: string, t0: number, op: HotOp) => void;
export type ReplySink = (conn: number, reqId: number, res: HotResult) => void;

/** Every op record of `buf`, in the order written. Throws on a malformed buffer (a bug: only ChannelWriter writes these). */
export function readOps(buf: ArrayBuffer, each: OpSink): void {
  const r = new ChannelReader(buf);
  while (!r.done) {
    const kind = r.u8();
    const conn = r.f64();
    const reqId = r.f64();
    const t0 = r.f64();
    const user = r.str();
    const device = r.str();
    const conversation = r.str();
    let op: HotOp;
    if (kind === OP_SEND) {
      const clientMsgId = r.str();
      const body = r.str();
      const meta: Record<string, string> = {};
      for (let n = r.u32(); n > 0; n--) {
        const k = r.str();
        const v = r.str();
        // An own property even for "__proto__", as structured clone would make it.
        if (k === '__proto__') Object.defineProperty(meta, k, { value: v, enumerable: true, writable: true, configurable: true });
        else meta[k] = v;
      }
      op = r.u8() === 1 ? { op: 'send', conversation, clientMsgId, body, meta, mediaId: r.str() } : { op: 'send', conversation, clientMsgId, body, meta };
    } else if (kind === OP_ACK || kind === OP_READ) {
      op = { op: kind === OP_ACK ? 'ack' : 'read', conversation, seq: r.f64() };
    } else {
      throw new RangeError(`unknown channel op record ${kind}`);
    }
    each(conn, reqId, user, device, t0, op);
  }
}

/** Every reply record of `buf`, in the order written. */
export function readReplies(buf: ArrayBuffer, each: ReplySink): void {
  const r = new ChannelReader(buf);
  while (!r.done) {
    const kind = r.u8();
    const conn = r.f64();
    const reqId = r.f64();
    let res: HotResult;
    if (kind === R_SEND_ACK) {
      const ack: SendAck = { conversation: r.str(), clientMsgId: r.str(), messageId: r.str(), seq: r.f64(), serverTs: r.f64(), duplicate: r.u8() === 1 };
      res = { r: 'send_ack', ack };
    } else if (kind === R_OK) {
      res = { r: 'ok' };
    } else if (kind === R_ERROR) {
      res = { r: 'error', code: r.str() as Extract<HotResult, { r: 'error' }>['code'], message: r.str(), retryAfterMs: r.f64() };
    } else {
      throw new RangeError(`unknown channel reply record ${kind}`);
    }
    each(conn, reqId, res);
  }
}
