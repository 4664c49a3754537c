/**
 * A protobuf byte writer into a caller-owned, reused buffer: varints, fixed-width
 * numbers, strings and length-delimited fields (their length patched in place), grown
 * on demand. frame_encoder.ts compiles message encoders that write through it;
 * `Writer.grow` is the hook the outbound queue uses to move a half-written frame to a
 * new slab (node/peers/frame_queue.ts).
 */
export class Writer {
  buf: Buffer;
  pos = 0;
  private view: DataView;
  /** Open length-delimited fields: start of each one's 1-byte length placeholder. */
  readonly stack: number[] = [];

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Make room for `n` more bytes (default: double, keeping everything written). */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  protected grow(n: number): void {
    let len = Math.max(64, this.buf.length * 2);
    while (len < this.pos + n) len *= 2;
    const next = Buffer.allocUnsafe(len);
    this.buf.copy(next, 0, 0, this.pos);
    this.replace(next);
  }

  /** Switch to another buffer (subclasses moving bytes themselves). */
  protected replace(buf: Buffer): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** A varint up to 2^53 (uint32 and non-negative numbers). */
  varint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80;
      v = v > 0xffffffff ? Math.floor(v / 128) : v >>> 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  varint64(lo: number, hi: number): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    lo >>>= 0;
    hi >>>= 0;
    while (hi > 0 || lo > 0x7f) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  /** Open a length-delimited field (its tag already written). */
  fork(): void {
    this.ensure(1);
    this.stack.push(this.pos);
    this.buf[this.pos++] = 0;
  }

  join(): void {
    let at = this.stack[this.stack.length - 1];
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.stack.pop();
      this.buf[at] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.ensure(extra); // may move the bytes (and the stack with them)
    at = this.stack.pop()!;
    const b = this.buf;
    b.copyWithin(at + 1 + extra, at + 1, this.pos);
    let p = at;
    let v = len;
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p] = v;
    this.pos += extra;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  string(s: string): void {
    const len = s.length;
    if (len < 64) {
      this.ensure(len * 3 + 1);
      const b = this.buf;
      const p = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[p + i] = c;
      }
      if (i === len) {
        b[this.pos] = len;
        this.pos = p + len;
        return;
      }
    }
    // UTF-8 is at least as long as the UTF-16 length: reserve that prefix, widen if needed.
    const guess = varintSize(len);
    this.ensure(varintSize(len * 3) + len * 3);
    const at = this.pos + guess;
    const n = (this.buf as Utf8Write).utf8Write(s, at, this.buf.length - at);
    const size = varintSize(n);
    if (size > guess) this.buf.copyWithin(this.pos + size, at, at + n);
    this.varint(n);
    this.pos += n;
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  sfixed32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v, true);
    this.pos += 4;
  }

  float(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  double(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  fixed64(lo: number, hi: number): void {
    this.ensure(8);
    this.view.setInt32(this.pos, lo, true);
    this.view.setInt32(this.pos + 4, hi, true);
    this.pos += 8;
  }
}

/** Buffer's unchecked UTF-8 writer (what Buffer#write calls; not in @types/node). */
type Utf8Write = Buffer & { utf8Write(s: string, offset: number, length: number): number };

export const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

