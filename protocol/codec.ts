/**
 * The two wire encodings of one schema (client.proto), negotiated per connection
 * with Sec-WebSocket-Protocol:
 *   switchboard.v1.proto  binary WebSocket frames carrying protobuf
 *   switchboard.v1.json   text WebSocket frames carrying proto3 canonical JSON
 *                         (snake_case field names on output; both spellings accepted)
 * The codec does no I/O: bytes in, frames out, or a DecodeError with a catalog code.
 */
import { create, fromBinary, fromJson, toBinary, toJsonString, type JsonValue } from '@bufbuild/protobuf';
import {
  ClientFrameSchema,
  ServerFrameSchema,
  type ClientFrame,
  type ServerFrame,
} from './gen/client_pb.js';
import type { ErrorCode } from './codes.js';

export type Encoding = 'proto' | 'json';

export const SUBPROTOCOLS: Record<string, Encoding> = {
  'switchboard.v1.proto': 'proto',
  'switchboard.v1.json': 'json',
};

/** When a client offers no subprotocol we speak JSON, so `websocat ws://…` just works. */
export const DEFAULT_ENCODING: Encoding = 'json';

/**
 * Pick the encoding from a Sec-WebSocket-Protocol header ("a, b, c").
 * Returns null when the client offered protocols but none of ours.
 */
export function negotiate(header: string | undefined): { encoding: Encoding; subprotocol: string } | null {
  if (!header || header.trim() === '') return { encoding: DEFAULT_ENCODING, subprotocol: '' };
  for (const raw of header.split(',')) {
    const name = raw.trim();
    const enc = SUBPROTOCOLS[name];
    if (enc) return { encoding: enc, subprotocol: name };
  }
  return null;
}

export class DecodeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly reqId = 0,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Decode one client frame. `isBinary` is the WebSocket opcode, which must match the encoding. */
export function decodeClientFrame(data: ArrayBuffer | Uint8Array, isBinary: boolean, enc: Encoding): ClientFrame {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let frame: ClientFrame;
  if (enc === 'proto') {
    if (!isBinary) throw new DecodeError('bad_frame', 'this connection speaks switchboard.v1.proto: send binary frames');
    try {
      frame = fromBinary(ClientFrameSchema, bytes);
    } catch (e) {
      throw new DecodeError('bad_frame', `not a ClientFrame protobuf: ${(e as Error).message}`);
    }
  } else {
    let json: JsonValue;
    try {
      json = JSON.parse(textDecoder.decode(bytes)) as JsonValue;
    } catch {
      throw new DecodeError('bad_frame', 'not valid UTF-8 JSON');
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new DecodeError('bad_frame', 'a frame is a JSON object');
    }
    const reqId = typeof json.req_id === 'number' ? json.req_id : typeof json.reqId === 'number' ? json.reqId : 0;
    try {
      // Unknown keys are tolerated so that a frame kind this server does not know is
      // reported as unknown_frame_type rather than as a decode failure.
      frame = fromJson(ClientFrameSchema, json, { ignoreUnknownFields: true });
    } catch (e) {
      throw new DecodeError('bad_frame', `not a ClientFrame: ${(e as Error).message}`, reqId);
    }
  }
  if (frame.kind.case === undefined) {
    throw new DecodeError('unknown_frame_type', 'the frame carries no known kind', frame.reqId);
  }
  return frame;
}

export function encodeServerFrame(frame: ServerFrame, enc: Encoding): Uint8Array | string {
  return enc === 'proto' ? toBinary(ServerFrameSchema, frame) : serverFrameToJson(frame);
}

export function serverFrameToJson(frame: ServerFrame): string {
  return toJsonString(ServerFrameSchema, frame, { useProtoFieldName: true });
}

/** Client side (tests, benchmarks, SDKs): encode a client frame. */
export function encodeClientFrame(frame: ClientFrame, enc: Encoding): Uint8Array | string {
  return enc === 'proto'
    ? toBinary(ClientFrameSchema, frame)
    : toJsonString(ClientFrameSchema, frame, { useProtoFieldName: true });
}

/** Client side: decode a server frame. */
export function decodeServerFrame(data: ArrayBuffer | Uint8Array | string, enc: Encoding): ServerFrame {
  if (enc === 'json') {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
    return fromJson(ServerFrameSchema, JSON.parse(text) as JsonValue, { ignoreUnknownFields: true });
  }
  if (typeof data === 'string') throw new DecodeError('bad_frame', 'expected a binary frame');
  return fromBinary(ServerFrameSchema, data instanceof Uint8Array ? data : new Uint8Array(data));
}

export { create, ClientFrameSchema, ServerFrameSchema };
export type { ClientFrame, ServerFrame };
