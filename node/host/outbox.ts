/**
 * The host's outbox to socket shards: groups recipients by shard, encodes each
 * message frame once (protobuf, into a buffer transferred to the shard, not copied),
 * and batches everything bound for one shard into a single postMessage per tick.
 * Delivery between shards of one host never touches the network.
 */
import { create } from '@bufbuild/protobuf';
import { ServerFrameSchema } from '../../protocol/gen/client_pb.js';
import { serverFrameBytes } from '../../protocol/compiled/client_frames.js';
import { messageFrame, pushFrame } from '../../shards/frames.js';
import type { Push } from '../core/pushes.js';
import type { HostToShard, PushItem } from '../../shards/messages.js';
import type { Outbox } from '../core/chat_service.js';
import type { ConnRef } from '../core/registry.js';
import { isDebug, logger, traceId } from '../../supervisor/log.js';

export interface ShardPort {
  post(m: HostToShard, transfer?: ArrayBuffer[]): void;
}

export class BatchingOutbox implements Outbox {
  private readonly pending = new Map<number, { items: PushItem[]; transfer: ArrayBuffer[] }>();
  private scheduled = false;
  /** Items posted so far, for metrics. */
  posted = 0;

  constructor(private readonly shard: (i: number) => ShardPort | undefined) {}

  deliver(to: ConnRef[], message: import('../store/types.js').StoredMessage, t0 = 0): void {
    // One encoding of the frame (compiled codec: the bytes of toBinary, in a buffer of
    // their own that the first shard takes); every further shard gets its own copy
    // because a transferred buffer moves to exactly one thread.
    const bytes = serverFrameBytes(create(ServerFrameSchema, { kind: { case: 'message', value: messageFrame(message) } }));
    const trace = isDebug() ? traceId(message.sender, message.senderDevice, message.conversation, message.clientMsgId) : undefined;
    this.deliverBytes(to, { conversation: message.conversation, seq: message.seq, trace }, bytes, t0, true);
  }

  /** A message frame already encoded as a ServerFrame (one forwarded by another node). */
  deliverEncoded(to: ConnRef[], message: { conversation: string; seq: number; trace?: string }, bytes: Uint8Array, t0 = 0): void {
    this.deliverBytes(to, message, bytes, t0, false);
  }

  /** `owned`: `bytes` is exactly its own ArrayBuffer and nobody else holds it (serverFrameBytes). */
  private deliverBytes(to: ConnRef[], message: { conversation: string; seq: number; trace?: string }, bytes: Uint8Array, t0: number, owned: boolean): void {
    if (isDebug()) {
      logger().debug({ evt: 'deliver.queued', trace: message.trace, conversation: message.conversation, seq: message.seq, conns: to.length }, 'message queued for local sockets');
    }
    let first = owned;
    for (const [shard, conns] of byShard(to)) {
      const frame = first ? (bytes.buffer as ArrayBuffer) : ownCopy(bytes);
      first = false;
      const item: PushItem = { k: 'deliver', conns, conversation: message.conversation, seq: message.seq, t0, frame };
      if (message.trace) item.trace = message.trace;
      this.add(shard, item, frame);
    }
  }

  /** 1:1 receipts: pushes like any other, one frame per receipt, encoded once here. */
  receipts(to: ConnRef[], receipts: import('../core/ops.js').MemberReceipt[]): void {
    for (const receipt of receipts) this.push(to, { k: 'receipt', receipt });
  }

  push(to: ConnRef[], push: Push): void {
    // Encoded once, like a message; the first shard takes the bytes, the others copies.
    this.pushBytes(to, serverFrameBytes(pushFrame(push)), true);
  }

  /** Any ServerFrame already encoded (a push forwarded by another node). */
  pushEncoded(to: ConnRef[], bytes: Uint8Array): void {
    this.pushBytes(to, bytes, false);
  }

  private pushBytes(to: ConnRef[], bytes: Uint8Array, owned: boolean): void {
    let first = owned;
    for (const [shard, conns] of byShard(to)) {
      const frame = first ? (bytes.buffer as ArrayBuffer) : ownCopy(bytes);
      first = false;
      this.add(shard, { k: 'frame', conns, frame }, frame);
    }
  }

  private add(shard: number, item: PushItem, buf: ArrayBuffer | null): void {
    let p = this.pending.get(shard);
    if (!p) this.pending.set(shard, (p = { items: [], transfer: [] }));
    p.items.push(item);
    if (buf) p.transfer.push(buf);
    if (!this.scheduled) {
      this.scheduled = true;
      // A macrotask, not a microtask: everything committed by one store batch (whose
      // promises resolve in one go) lands in the same postMessage.
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    for (const [shard, p] of this.pending) {
      const port = this.shard(shard);
      if (!port) continue; // the shard is restarting; its clients will resync
      this.posted += p.items.length;
      port.post({ t: 'push', items: p.items }, p.transfer);
    }
    this.pending.clear();
  }
}

/**
 * The bytes in an ArrayBuffer of their own, to transfer to a shard. (Not
 * `bytes.slice().buffer`: on a Node Buffer, such as a bytes field decoded from a
 * cluster link batch, slice() is a view and .buffer the whole batch.)
 */
function ownCopy(bytes: Uint8Array): ArrayBuffer {
  const c = new Uint8Array(bytes.byteLength);
  c.set(bytes);
  return c.buffer;
}

function byShard(to: ConnRef[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const r of to) {
    let l = m.get(r.shard);
    if (!l) m.set(r.shard, (l = []));
    l.push(r.conn);
  }
  return m;
}
