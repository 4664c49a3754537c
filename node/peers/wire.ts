/**
 * The ClusterLink.Link method for grpc-js, and the LinkBatch codec.
 *
 * Outbound batches are bytes already framed as `repeated LinkFrame frames = 1`
 * (tag 0x0a, length, LinkFrame bytes), which is byte-for-byte what
 * toBinary(LinkBatch) would produce: the queue encodes each frame once, in place,
 * when it is sent (frame_queue.ts), so a batch is one or a few views of its slabs and
 * serializing it copies nothing (grpc-js then copies it once into its message).
 * Inbound batches decode frame by frame into the same objects fromBinary(LinkBatch)
 * gives (frame_decoder.ts).
 */
import { makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { create, fromBinary } from '@bufbuild/protobuf';
import { LinkBatchSchema, LinkFrameSchema, type LinkBatch, type LinkFrame } from '../../protocol/gen/cluster_pb.js';
import { encoderFor } from '../../protocol/compiled/frame_encoder.js';
import { Writer } from '../../protocol/compiled/proto_writer.js';
import { decoderFor } from '../../protocol/compiled/frame_decoder.js';

/** An outbound batch: chunks of framed LinkFrames, in order (concatenated, a LinkBatch). */
export type OutBatch = Uint8Array[];

export const LINK_PATH = '/switchboard.cluster.v1.ClusterLink/Link';

/** Writes a LinkFrame's bytes (identical to toBinary's) into a Writer. */
export const encodeLinkFrame = encoderFor<LinkFrame>(LinkFrameSchema);

export function encodeBatch(chunks: OutBatch): Buffer {
  if (chunks.length === 1) {
    const c = chunks[0];
    return Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  }
  return Buffer.concat(chunks);
}

/** A batch of a few frames outside the queue (Hello, Heartbeat): one framed chunk. */
export function frameBatch(frames: LinkFrame[]): OutBatch {
  const w = new Writer(256);
  for (const f of frames) {
    w.ensure(1);
    w.buf[w.pos++] = 0x0a;
    w.fork();
    encodeLinkFrame(w, f);
    w.join();
  }
  return [w.buf.subarray(0, w.pos)];
}

const decodeFrame = decoderFor<LinkFrame>(LinkFrameSchema);

/**
 * A LinkBatch, frame by frame (frame_decoder.ts; a frame it does not handle is
 * decoded by fromBinary on its own), else the whole batch by fromBinary.
 */
export function decodeBatch(buf: Buffer): LinkBatch {
  const batch = create(LinkBatchSchema);
  const frames = batch.frames;
  let p = 0;
  while (p < buf.length) {
    if (buf[p] !== 0x0a) return fromBinary(LinkBatchSchema, buf);
    let len = 0;
    let shift = 0;
    let c = 0x80;
    p++;
    while (c & 0x80 && shift < 35) {
      c = buf[p++];
      len += (c & 0x7f) * 2 ** shift;
      shift += 7;
    }
    const end = p + len;
    if (c & 0x80 || end > buf.length) return fromBinary(LinkBatchSchema, buf);
    frames.push(decodeFrame(buf, p, end));
    p = end;
  }
  return batch;
}

export const linkService: ServiceDefinition = {
  Link: {
    path: LINK_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: encodeBatch,
    requestDeserialize: decodeBatch,
    responseSerialize: encodeBatch,
    responseDeserialize: decodeBatch,
  },
};

export const LinkClient = makeGenericClientConstructor(linkService, 'ClusterLink');

/**
 * gRPC channel options of a link. Transport keepalive (HTTP/2 PING every 10 s,
 * 5 s to answer) catches a dead TCP path even when the app heartbeat is slower;
 * the app heartbeat (peer_link.ts) is what catches a frozen peer within seconds.
 * Messages up to 16 MiB: a batch is bounded by maxBatchBytes anyway.
 */
export const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  // Reconnect backoff is ours (peer_link.ts); keep grpc's own short.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

export const SERVER_OPTIONS = {
  // Accept the clients' 10 s keepalive pings (grpc's default minimum is 5 min).
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
};
