/**
 * The client frames through the descriptor-compiled codecs (frame_encoder.ts,
 * frame_decoder.ts) instead of protobuf-es: same bytes out as toBinary, same frame
 * (or error) in as fromBinary, checked on random instances by client_frames.test.ts.
 *
 * Why (issue 14): a durable message touches three frames (send in, send_ack and the
 * message push out); protobuf-es took 11.7 µs for them, the compiled codecs 4.5 µs
 * (toBinary grows a fresh buffer per message and fromBinary allocates per tag).
 *
 * Node only (Buffer): the socket shards and the host use it; protocol/codec.ts, which
 * the browser SDK imports, keeps protobuf-es and takes these as parameters.
 */
import { ClientFrameSchema, ServerFrameSchema, type ClientFrame, type ServerFrame } from '../gen/client_pb.js';
import { encoderFor } from './frame_encoder.js';
import { decoderFor } from './frame_decoder.js';
import { Writer } from './proto_writer.js';

const encodeServer = encoderFor<ServerFrame>(ServerFrameSchema);
const decodeClient = decoderFor<ClientFrame>(ClientFrameSchema);

/**
 * One scratch writer per thread, reused by every encode (JS runs one at a time): 4 KiB
 * holds any reply or push but a sync page, for which it grows once and stays grown.
 */
const scratch = new Writer(4096);

/**
 * ServerFrame -> protobuf bytes, identical to toBinary(ServerFrameSchema, frame). The
 * result is a copy of exactly its length that the caller owns (it may be transferred
 * to another thread, or kept by a socket's queue).
 */
export function serverFrameBytes(frame: ServerFrame): Uint8Array {
  const w = scratch;
  w.pos = 0;
  w.stack.length = 0;
  encodeServer(w, frame);
  const out = new Uint8Array(w.pos);
  out.set(w.buf.subarray(0, w.pos));
  return out;
}

/** Protobuf bytes -> ClientFrame, as fromBinary(ClientFrameSchema, bytes) gives it (or throws it). */
export function clientFrameFromBytes(bytes: Uint8Array): ClientFrame {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeClient(buf);
}
