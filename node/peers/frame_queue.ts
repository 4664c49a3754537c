/**
 * The outbound queue of one peer link: encoded frames, bounded in bytes (pure).
 *
 * Flow control: a peer that reads slowly (or is down) can make this node hold at most
 * `maxBytes` for it. Past that, `push` refuses the frame and counts it: the caller
 * answers its client `overloaded` (retryable) for a forwarded send, and drops a
 * delivery push (the recipient's device recovers it by sync on its next resume). The
 * sender is never blocked: one slow peer must not stall traffic to the others.
 */
import { framedSize } from './wire.js';

export class FrameQueue {
  private frames: Uint8Array[] = [];
  private head = 0;
  private queued = 0;
  /** Frames refused because the queue was full. */
  dropped = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.queued;
  }

  get length(): number {
    return this.frames.length - this.head;
  }

  /** Queue one encoded frame; false (and counted) when it does not fit. */
  push(frame: Uint8Array): boolean {
    const size = framedSize(frame.length);
    if (this.queued + size > this.maxBytes) {
      this.dropped++;
      return false;
    }
    this.frames.push(frame);
    this.queued += size;
    return true;
  }

  /** Take frames up to `maxBytes` (at least one frame if any). */
  take(maxBytes: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let size = 0;
    while (this.head < this.frames.length) {
      const f = this.frames[this.head];
      const s = framedSize(f.length);
      if (out.length > 0 && size + s > maxBytes) break;
      out.push(f);
      size += s;
      this.head++;
    }
    this.queued -= size;
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Drop everything queued (the link is being stopped). Returns the count. */
  clear(): number {
    const n = this.length;
    this.frames = [];
    this.head = 0;
    this.queued = 0;
    return n;
  }
}
