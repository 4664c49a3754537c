/**
 * The two wire encodings of one schema (client.proto), negotiated per connection
 * with Sec-WebSocket-Protocol:
 *   switchboard.v1.proto  binary WebSocket frames carrying protobuf
 *   switchboard.v1.json   text WebSocket frames carrying proto3 canonical JSON
 *                         (snake_case field names on output; both spellings accepted)
 * The codec does no I/O: bytes in, frames out, or a CatalogError (errors.ts) with a catalog code.
 */
import { create, fromBinary, fromJson, ScalarType, toBinary, toJsonString, type DescField, type DescMessage, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import {
  AckDeliveredSchema,
  ClientFrameSchema,
  CursorSchema,
  HistoryRequestSchema,
  MarkReadSchema,
  MemberReceiptsQuerySchema,
  MediaSlotRequestSchema,
  ServerFrameSchema,
  type ClientFrame,
  type ServerFrame,
} from './gen/client_pb.js';
import { CatalogError } from './errors.js';

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

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The largest seq or cursor a client may send. Seqs are JavaScript numbers inside the
 * node, so a uint64 above 2^53 - 1 could not be held exactly: it is refused with
 * invalid_argument rather than rounded to a neighbouring seq.
 */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const MAX_SEQ_BIG = BigInt(MAX_SEQ);
const UINT32_MAX = 0xffff_ffff;
const UINT32_MAX_BIG = BigInt(UINT32_MAX);

/**
 * Protobuf bytes -> ClientFrame. Must give fromBinary's frame, or throw where it throws
 * (a socket shard passes the compiled decoder, compiled/client_frames.ts, which hands
 * anything unusual to fromBinary itself).
 */
export type ClientFrameBinaryDecoder = (bytes: Uint8Array) => ClientFrame;

const protobufEsClientFrame: ClientFrameBinaryDecoder = (bytes) => fromBinary(ClientFrameSchema, bytes);

/**
 * Decode one client frame. `isBinary` is the WebSocket opcode, which must match the
 * encoding. `binary`: the protobuf decoder (protobuf-es by default, so the browser SDK
 * needs nothing Node-only); every check after it is the same whichever decodes.
 */
export function decodeClientFrame(data: ArrayBuffer | Uint8Array, isBinary: boolean, enc: Encoding, binary: ClientFrameBinaryDecoder = protobufEsClientFrame): ClientFrame {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let frame: ClientFrame;
  if (enc === 'proto') {
    if (!isBinary) throw new CatalogError('bad_frame', 'this connection speaks switchboard.v1.proto: send binary frames');
    try {
      frame = binary(bytes);
    } catch (e) {
      throw new CatalogError('bad_frame', `not a ClientFrame protobuf: ${(e as Error).message}`);
    }
    // protobuf-es, like every protobuf runtime, keeps the low 32 bits of a longer
    // varint in a uint32 field: req_id 2^32 + 5 would be answered as req_id 5.
    if (wideReqId(bytes)) throw new CatalogError('invalid_argument', `req_id: must be an integer in 0..${UINT32_MAX}`);
  } else {
    let json: JsonValue;
    try {
      json = JSON.parse(textDecoder.decode(bytes)) as JsonValue;
    } catch {
      throw new CatalogError('bad_frame', 'not valid UTF-8 JSON');
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new CatalogError('bad_frame', 'a frame is a JSON object');
    }
    // Integers out of their field's range are refused here, by name, before protobuf-es
    // folds them into its generic "cannot decode" (which would read as bad_frame).
    const outside = jsonRangeError(json);
    if (outside) throw new CatalogError('invalid_argument', outside, 0, jsonReqId(json));
    try {
      // Unknown keys are tolerated so that a frame kind this server does not know is
      // reported as unknown_frame_type rather than as a decode failure.
      frame = fromJson(ClientFrameSchema, json, { ignoreUnknownFields: true });
    } catch (e) {
      throw new CatalogError('bad_frame', `not a ClientFrame: ${(e as Error).message}`, 0, jsonReqId(json));
    }
  }
  if (frame.kind.case === undefined) {
    throw new CatalogError('unknown_frame_type', 'the frame carries no known kind', 0, frame.reqId);
  }
  const seq = seqRangeError(frame);
  if (seq) throw new CatalogError('invalid_argument', seq, 0, frame.reqId);
  return frame;
}

/**
 * Every client field that carries a seq or a cursor (codec.test.ts checks that every
 * other uint64 of ClientFrame is deliberately left out: today only ping.ts, which is
 * echoed as it came and never becomes a number).
 */
export const SEQ_FIELDS: ReadonlySet<DescField> = new Set([
  AckDeliveredSchema.field.seq,
  MarkReadSchema.field.seq,
  CursorSchema.field.seq,
  HistoryRequestSchema.field.beforeSeq,
  MemberReceiptsQuerySchema.field.seq,
  // Not a seq, but a uint64 the node turns into a number all the same (a media size).
  MediaSlotRequestSchema.field.size,
]);

const SEQ_WHY = `must be an integer in 0..${MAX_SEQ} (2^53 - 1)`;
const seqRangeMessage = (path: string) => `${path}: ${SEQ_WHY}`;

/** A seq or cursor above MAX_SEQ in a decoded frame, or null (uint64 cannot be negative). */
function seqRangeError(frame: ClientFrame): string | null {
  // The field path is built only for a refusal: this runs on every frame.
  const k = frame.kind;
  switch (k.case) {
    case 'ack':
    case 'read':
      return k.value.seq > MAX_SEQ_BIG ? seqRangeMessage(`${k.case}.seq`) : null;
    case 'memberReceipts':
      return k.value.seq > MAX_SEQ_BIG ? seqRangeMessage('member_receipts.seq') : null;
    case 'history':
      return k.value.beforeSeq > MAX_SEQ_BIG ? seqRangeMessage('history.before_seq') : null;
    case 'mediaSlot':
      return k.value.size > MAX_SEQ_BIG ? seqRangeMessage('media_slot.size') : null;
    case 'sync': {
      const cs = k.value.cursors;
      for (let i = 0; i < cs.length; i++) if (cs[i].seq > MAX_SEQ_BIG) return seqRangeMessage(`sync.cursors[${i}].seq`);
      return null;
    }
    default:
      return null;
  }
}

/**
 * Does the top level of a ClientFrame carry a req_id (field 1) varint beyond uint32?
 * Called only after fromBinary accepted the bytes, so lengths stay in bounds. A
 * hand-rolled walk over the few top-level fields (req_id and the kind), in plain
 * numbers: protobuf-es's BinaryReader added about 60 % to decoding a small frame.
 * Groups, which no ClientFrame has, take that slower way.
 */
function wideReqId(b: Uint8Array): boolean {
  let i = 0;
  while (i < b.length) {
    let tag = 0;
    for (let shift = 0; i < b.length; shift += 7) {
      const byte = b[i++];
      tag += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) break;
    }
    const wt = tag % 8;
    if (wt === WireType.Varint) {
      const at = i;
      while (i < b.length && b[i] & 0x80) i++;
      i++;
      // Four varint bytes hold 28 bits: only longer ones can exceed uint32.
      if (tag === 8 && i - at > 4 && bigVarint(b, at) > UINT32_MAX_BIG) return true;
    } else if (wt === WireType.LengthDelimited) {
      let len = 0;
      for (let shift = 0; i < b.length; shift += 7) {
        const byte = b[i++];
        len += (byte & 0x7f) * 2 ** shift;
        if (!(byte & 0x80)) break;
      }
      i += len;
    } else if (wt === WireType.Bit64) i += 8;
    else if (wt === WireType.Bit32) i += 4;
    else return wideReqIdSlow(b);
  }
  return false;
}

function bigVarint(b: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let shift = 0n; at < b.length; shift += 7n) {
    const byte = b[at++];
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) break;
  }
  return v;
}

function wideReqIdSlow(bytes: Uint8Array): boolean {
  const r = new BinaryReader(bytes);
  try {
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (no === 1 && wt === WireType.Varint) {
        if (BigInt(r.uint64()) > UINT32_MAX_BIG) return true;
      } else r.skip(wt, no);
    }
  } catch {
    // fromBinary accepted these bytes, so this walk should not fail; if it does, the
    // frame is refused as undecodable rather than let an exception out of the codec.
    throw new CatalogError('bad_frame', 'not a ClientFrame protobuf');
  }
  return false;
}

/** The frame's req_id as protobuf-es would read it, or 0 when it has none or it is unusable. */
function jsonReqId(json: JsonObject): number {
  const raw = Object.hasOwn(json, 'req_id') ? json.req_id : Object.hasOwn(json, 'reqId') ? json.reqId : undefined;
  if (raw === undefined || raw === null) return 0;
  try {
    return fromJson(ClientFrameSchema, { reqId: raw }).reqId;
  } catch {
    return 0;
  }
}

/** An inclusive integer range, also as doubles for the common case of a safe integer. */
interface Range {
  lo: bigint;
  hi: bigint;
  loN: number;
  hiN: number;
}
const range = (lo: bigint, hi: bigint): Range => ({ lo, hi, loN: Number(lo), hiN: Number(hi) });
const U32 = range(0n, 2n ** 32n - 1n);
const I32 = range(-(2n ** 31n), 2n ** 31n - 1n);
const U64 = range(0n, 2n ** 64n - 1n);
const I64 = range(-(2n ** 63n), 2n ** 63n - 1n);

/** Inclusive range of each integer scalar type a ClientFrame may carry. */
const INT_RANGE: Partial<Record<ScalarType, Range>> = {
  [ScalarType.UINT32]: U32,
  [ScalarType.FIXED32]: U32,
  [ScalarType.INT32]: I32,
  [ScalarType.SINT32]: I32,
  [ScalarType.SFIXED32]: I32,
  [ScalarType.UINT64]: U64,
  [ScalarType.FIXED64]: U64,
  [ScalarType.INT64]: I64,
  [ScalarType.SINT64]: I64,
  [ScalarType.SFIXED64]: I64,
};

const SEQ_RANGE = range(0n, MAX_SEQ_BIG);

const DECIMAL = /^\s*-?\d+\s*$/;

/**
 * Is this JSON value, given for an integer field, a number that is not an integer in
 * `r`? JSON numbers are checked (fractions, negatives, beyond the type); strings
 * only when they are decimal integers. Any other value is left to protobuf-es, which
 * answers a wrong type with bad_frame.
 */
function outOfRange(v: JsonValue, r: Range): boolean {
  if (typeof v === 'number') {
    // A safe integer compares exactly as a double (every bound is within 1 of a double).
    if (Number.isSafeInteger(v)) return v < r.loN || v > r.hiN;
    if (!Number.isInteger(v)) return true;
    const n = BigInt(v);
    return n < r.lo || n > r.hi;
  }
  if (typeof v === 'string' && DECIMAL.test(v)) {
    const n = BigInt(v.trim());
    return n < r.lo || n > r.hi;
  }
  return false;
}

const keyIndex = new WeakMap<DescMessage, Map<string, DescField>>();

/** A message's fields by either JSON spelling (proto name and lowerCamelCase). */
function fieldsByKey(desc: DescMessage): Map<string, DescField> {
  let m = keyIndex.get(desc);
  if (!m) {
    m = new Map();
    for (const f of desc.fields) {
      m.set(f.name, f);
      m.set(f.jsonName, f);
    }
    keyIndex.set(desc, m);
  }
  return m;
}

type OutOfRange = { path: string; why: string };
const rangeWhy = (r: Range) => `must be an integer in ${r.lo}..${r.hi}`;

/** "path: why" for the first integer field of a JSON ClientFrame out of its range, or null. */
function jsonRangeError(json: JsonObject): string | null {
  const e = firstOutOfRange(ClientFrameSchema, json);
  return e && `${e.path}: ${e.why}`;
}

/**
 * The first integer field of `obj` (a JSON message of type `desc`, nested messages
 * included) holding a value out of its type's range. Recursion follows the schema,
 * which has no cycles, so its depth is bounded. The path is put together only on the
 * way out of a refusal: this runs on every JSON frame.
 */
function firstOutOfRange(desc: DescMessage, obj: JsonObject): OutOfRange | null {
  const fields = fieldsByKey(desc);
  for (const key in obj) {
    const f = fields.get(key);
    if (!f || !Object.hasOwn(obj, key)) continue;
    const v = obj[key];
    if (v === null || v === undefined) continue;
    if (f.fieldKind === 'scalar') {
      const r = SEQ_FIELDS.has(f) ? SEQ_RANGE : INT_RANGE[f.scalar];
      if (r && outOfRange(v, r)) return { path: f.name, why: r === SEQ_RANGE ? SEQ_WHY : rangeWhy(r) };
    } else if (f.fieldKind === 'message') {
      if (typeof v === 'object' && !Array.isArray(v)) {
        const e = firstOutOfRange(f.message, v);
        if (e) return { path: `${f.name}.${e.path}`, why: e.why };
      }
    } else if (f.fieldKind === 'list' && Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item = v[i];
        if (f.listKind === 'scalar') {
          const r = INT_RANGE[f.scalar];
          if (r && item !== null && outOfRange(item, r)) return { path: `${f.name}[${i}]`, why: rangeWhy(r) };
        } else if (f.listKind === 'message' && item !== null && typeof item === 'object' && !Array.isArray(item)) {
          const e = firstOutOfRange(f.message, item);
          if (e) return { path: `${f.name}[${i}].${e.path}`, why: e.why };
        }
      }
    }
  }
  return null;
}

/** `binary`: the protobuf encoder (protobuf-es by default; a shard passes the compiled one, same bytes). */
export function encodeServerFrame(frame: ServerFrame, enc: Encoding, binary: (frame: ServerFrame) => Uint8Array = protobufEsServerFrame): Uint8Array | string {
  return enc === 'proto' ? binary(frame) : serverFrameToJson(frame);
}

const protobufEsServerFrame = (frame: ServerFrame): Uint8Array => toBinary(ServerFrameSchema, frame);

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
  if (typeof data === 'string') throw new CatalogError('bad_frame', 'expected a binary frame');
  return fromBinary(ServerFrameSchema, data instanceof Uint8Array ? data : new Uint8Array(data));
}

export { create, ClientFrameSchema, ServerFrameSchema };
export type { ClientFrame, ServerFrame };
