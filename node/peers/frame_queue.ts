/**
 * The outbound queue of one peer link: encoded frames, bounded in bytes (pure).
 *
 * Flow control: a peer that reads slowly (or is down) can make this node hold at most
 * `maxBytes` for it. Past that, `push` refuses the frame and counts it: the caller
 * answers its client `overloaded` (retryable) for a forwarded send, and drops a
 * delivery push (the recipient's device recovers it by sync on its next resume). The
 * sender is never blocked: one slow peer must not stall traffic to the others.
 *
 * Layout: `push` encodes a frame straight into the tail of a slab (a 128 KiB buffer),
 * already framed as a LinkBatch entry (tag 0x0a, length, LinkFrame bytes), so queued
 * frames lie back to back and a batch is a view of a slab: no per-frame buffer, no
 * copy when the batch is taken. Slabs are written forward only and never reused (a
 * taken batch may still be waiting in grpc-js to be copied into its message); a full
 * slab is left to the GC once its batches are gone. A frame does not straddle slabs:
 * one that does not fit moves, half-written, to a fresh slab (SlabWriter.grow).
 * The queue counts framed bytes (what the frames cost inside a batch).
 */
import { Writer } from '../../protocol/compiled/proto_writer.js';

export const SLAB_BYTES = 128 * 1024;

/** A Writer over slabs: growing moves only the frame being written to a new slab. */
class SlabWriter extends Writer {
  /** Where the frame being written starts in `buf`. */
  frameStart = 0;

  constructor(private readonly slabBytes: number) {
    super(0);
  }

  protected override grow(n: number): void {
    const used = this.pos - this.frameStart;
    let len = this.slabBytes;
    while (len < used + n) len *= 2;
    const next = Buffer.allocUnsafe(len);
    this.buf.copy(next, 0, this.frameStart, this.pos);
    for (let i = 0; i < this.stack.length; i++) this.stack[i] -= this.frameStart;
    this.pos = used;
    this.frameStart = 0;
    this.replace(next);
  }

  /** Drop the current slab (its bytes may still be referenced); the next write starts a new one. */
  reset(): void {
    this.replace(Buffer.alloc(0));
    this.pos = 0;
    this.frameStart = 0;
    this.stack.length = 0;
  }
}

export class FrameQueue<T> {
  private readonly w: SlabWriter;
  /** Per queued frame (from `head`): its slab and where it ends there. */
  private slabs: Buffer[] = [];
  private ends: number[] = [];
  private head = 0;
  /** End of the last frame taken, and its slab: the next frame starts there if in the same slab. */
  private readSlab: Buffer | null = null;
  private readEnd = 0;
  private queued = 0;
  /** Frames refused because the queue was full. */
  dropped = 0;

  /** `encode` writes one item's message bytes (frame_encoder.ts encoderFor). */
  constructor(
    readonly maxBytes: number,
    private readonly encode: (w: Writer, item: T) => void,
    slabBytes = SLAB_BYTES,
  ) {
    this.w = new SlabWriter(slabBytes);
  }

  get bytes(): number {
    return this.queued;
  }

  get length(): number {
    return this.slabs.length - this.head;
  }

  /** Encode and queue one frame; false (and counted) when it does not fit. Throws what the encoder throws. */
  push(item: T): boolean {
    const w = this.w;
    w.frameStart = w.pos;
    try {
      w.ensure(1);
      w.buf[w.pos++] = 0x0a; // LinkBatch.frames, length-delimited
      w.fork();
      this.encode(w, item);
      w.join();
    } catch (e) {
      w.pos = w.frameStart;
      w.stack.length = 0;
      throw e;
    }
    const size = w.pos - w.frameStart;
    if (this.queued + size > this.maxBytes) {
      w.pos = w.frameStart;
      this.dropped++;
      return false;
    }
    this.slabs.push(w.buf);
    this.ends.push(w.pos);
    this.queued += size;
    return true;
  }

  /**
   * Take frames up to `maxBytes` of framed bytes (at least one frame if any), as
   * views of the slabs they lie in (usually one): the bytes of a LinkBatch.
   */
  take(maxBytes: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let size = 0;
    let chunk: Buffer | null = null;
    let chunkStart = 0;
    let chunkEnd = 0;
    while (this.head < this.slabs.length) {
      const slab = this.slabs[this.head];
      const start = slab === this.readSlab ? this.readEnd : 0;
      const end = this.ends[this.head];
      if (size > 0 && size + end - start > maxBytes) break;
      if (slab !== chunk) {
        if (chunk) out.push(chunk.subarray(chunkStart, chunkEnd));
        chunk = slab;
        chunkStart = start;
      }
      chunkEnd = end;
      size += end - start;
      this.readSlab = slab;
      this.readEnd = end;
      this.head++;
    }
    if (chunk) out.push(chunk.subarray(chunkStart, chunkEnd));
    this.queued -= size;
    if (this.head === this.slabs.length) {
      this.slabs.length = 0;
      this.ends.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.slabs.length) {
      this.slabs = this.slabs.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Drop everything queued (the link is being stopped). Returns the count. */
  clear(): number {
    const n = this.length;
    this.slabs = [];
    this.ends = [];
    this.head = 0;
    this.queued = 0;
    this.readSlab = null;
    this.readEnd = 0;
    this.w.reset();
    return n;
  }
}
