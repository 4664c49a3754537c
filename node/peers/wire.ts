/**
 * The ClusterLink.Link method for grpc-js, with protobuf-es doing the encoding.
 *
 * Outbound batches are lists of already-encoded LinkFrames: a frame is encoded once,
 * when queued (which is also how the queue knows its exact byte size), and a batch is
 * just the frames framed as `repeated LinkFrame frames = 1` (tag 0x0a, length, bytes),
 * which is byte-for-byte what toBinary(LinkBatch) would produce. Inbound batches
 * decode with fromBinary(LinkBatchSchema).
 */
import { makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { LinkBatchSchema, type LinkBatch } from '../../protocol/gen/cluster_pb.js';

/** An outbound batch: encoded LinkFrames. */
export type OutBatch = Uint8Array[];

export const LINK_PATH = '/switchboard.cluster.v1.ClusterLink/Link';

function varint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
}

export function encodeBatch(frames: OutBatch): Buffer {
  let size = 0;
  const heads: number[][] = frames.map((f) => {
    const h = [0x0a];
    varint(f.length, h);
    size += h.length + f.length;
    return h;
  });
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  frames.forEach((f, i) => {
    for (const b of heads[i]) out[o++] = b;
    out.set(f, o);
    o += f.length;
  });
  return out;
}

export const decodeBatch = (buf: Buffer): LinkBatch => fromBinary(LinkBatchSchema, buf);

/** Bytes a frame costs inside a batch (for queue accounting). */
export const framedSize = (len: number): number => len + 1 + (len < 128 ? 1 : len < 16384 ? 2 : len < 2097152 ? 3 : 4);

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
