/**
 * A shared-memory ring of op buffers from one socket shard to the host (config
 * shards.opRingMs). The shard writes each tick's packed ops (channel_codec.ts) here
 * instead of posting them, and posts a doorbell (`bell`) only when the host is not
 * going to look anyway: the host keeps ARMED = 1 while ops flow and looks every
 * opRingMs (node/host/shard_link.ts). Single producer (the shard), single consumer
 * (the host). A record that does not fit is posted as an `ops` message instead; the
 * host drains the ring before it handles any message, so order holds.
 *
 * Why (issue 14): at 2,000 msg/s every client send was a tick of its own on the shard,
 * one postMessage (a syscall that wakes the host) and one wake of the host: 1,576
 * voluntary context switches a second on the host alone. Holding the posts on a timer
 * in the shard (tried first) only moved the wake-ups to the shard; here neither thread
 * wakes for an op while the host is armed. Measured with benchmarks/durable_floor.ts
 * (docs/CAPACITY.md §8). The cost: an op waits up to opRingMs before the host sees it.
 *
 * Ordering between the two threads: the shard publishes WRITE and then reads ARMED;
 * the host clears ARMED and then reads WRITE (Atomics, sequentially consistent), so
 * either the shard sees the host disarmed and rings, or the host sees the record.
 *
 * Layout: an Int32 header [WRITE, READ, ARMED, BELL], then the data region; a record is
 * a u32 length and that many bytes; WRAP as a length sends the reader back to 0 (and
 * fewer than 4 bytes left before the end do too).
 */
const WRITE = 0;
const READ = 1;
const ARMED = 2;
const BELL = 3;
const HEADER = 16;
const WRAP = 0xffffffff;

export function createOpRing(dataBytes = 256 * 1024): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + dataBytes);
}

class RingBase {
  protected readonly h: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly view: DataView;
  protected readonly cap: number;
  constructor(sab: SharedArrayBuffer) {
    this.h = new Int32Array(sab, 0, 4);
    this.cap = sab.byteLength - HEADER;
    this.data = new Uint8Array(sab, HEADER, this.cap);
    this.view = new DataView(sab, HEADER, this.cap);
  }
}

export class RingWriter extends RingBase {
  /** Appends one record; false when it does not fit now (the caller posts it instead). */
  write(bytes: Uint8Array): boolean {
    const cap = this.cap;
    const w = Atomics.load(this.h, WRITE);
    const r = Atomics.load(this.h, READ);
    const free = (r - w - 1 + cap) % cap;
    const need = 4 + bytes.length;
    const tail = cap - w;
    let at = w;
    let consumed = need;
    if (need > tail) {
      at = 0;
      consumed = tail + need;
    }
    if (consumed > free) return false;
    if (at === 0 && w !== 0 && tail >= 4) this.view.setUint32(w, WRAP, true);
    this.data.set(bytes, at + 4);
    this.view.setUint32(at, bytes.length, true);
    let next = at + need;
    if (next >= cap) next = 0;
    Atomics.store(this.h, WRITE, next);
    return true;
  }

  /** True when the host will drain without a doorbell. Read after write() (with the host's disarm, a Dekker pair). */
  hostArmed(): boolean {
    return Atomics.load(this.h, ARMED) === 1;
  }

  /** The one doorbell in flight: true if this caller should post it. */
  claimBell(): boolean {
    return Atomics.compareExchange(this.h, BELL, 0, 1) === 0;
  }
}

export class RingReader extends RingBase {
  /** Hands each record over as an ArrayBuffer of its own; returns how many. */
  drain(each: (buf: ArrayBuffer) => void): number {
    Atomics.store(this.h, BELL, 0);
    const cap = this.cap;
    let r = Atomics.load(this.h, READ);
    let n = 0;
    for (;;) {
      const w = Atomics.load(this.h, WRITE);
      if (r === w) break;
      if (cap - r < 4) {
        r = 0;
        continue;
      }
      const len = this.view.getUint32(r, true);
      if (len === WRAP) {
        r = 0;
        continue;
      }
      const out = new Uint8Array(len);
      out.set(this.data.subarray(r + 4, r + 4 + len));
      r += 4 + len;
      if (r >= cap) r = 0;
      Atomics.store(this.h, READ, r);
      n++;
      each(out.buffer);
    }
    return n;
  }

  setArmed(on: boolean): void {
    Atomics.store(this.h, ARMED, on ? 1 : 0);
  }
}
