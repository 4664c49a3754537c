/**
 * One packed buffer per tick (channel_codec.ts) for one direction of a host <-> shard
 * link: records written during a tick go out together, transferred (not copied), on
 * setImmediate; the sender calls flush() before any other message it posts, so the
 * link keeps the order in which everything was posted.
 *
 * Replies (host -> shard) go as a transferred ArrayBuffer per tick: one allocation and
 * one postMessage per tick, the measured 0.22 µs a record at a few records per tick,
 * in one ordered channel with the object messages. Ops (shard -> host) take the same
 * buffer into the shard's op ring (op_ring.ts) when shards.opRingMs > 0, so that the
 * host, where every shard's ops meet, is not woken once per shard tick; the ring needs
 * what a transfer does not (a full-ring fallback, shared state, a drain interval), and
 * measured ~6 % less CPU per message at 2,000 msg/s for it (docs/CAPACITY.md §8).
 */
import { ChannelWriter } from './channel_codec.js';

export class ChannelBatch {
  readonly writer = new ChannelWriter();
  private scheduled = false;

  constructor(
    /** Posts one buffer of records (transferring it). */
    private readonly send: (buf: ArrayBuffer) => void,
  ) {}

  /** Call after writing records: sends them at the end of this tick. */
  written(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // A macrotask, like the host's push outbox: every op and reply of one loop
    // iteration (a store batch's acks resolve together) lands in one buffer.
    setImmediate(() => this.flush());
  }

  /** Send what is written now (before posting anything else on the link). */
  flush(): void {
    this.scheduled = false;
    const buf = this.writer.take();
    if (buf) this.send(buf);
  }
}
