/**
 * The chat load's bytes on the wire, prepared once and patched per message. A send is
 * ClientFrame{send{conversation, client_msg_id, body}} encoded once per sender with
 * protobuf-es (so the bytes are exactly what the schema says), with a fixed-width
 * decimal client_msg_id that is overwritten in place for each message: no encoder
 * runs per message. Replies are read by walking the protobuf wire format just far
 * enough to find the frame kind and the client_msg_id; only rare frames (errors) are
 * decoded in full.
 */
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema } from '../../protocol/gen/client_pb.js';
import { frameHeader } from './fast_ws.js';

/** client_msg_id = ID_PREFIX + ID_DIGITS decimal digits: step * STEP_SPAN + index. */
export const ID_PREFIX = 'L';
export const ID_DIGITS = 15;
/** Messages per step are numbered below this, so the step is recoverable from an id. */
export const STEP_SPAN = 1e10;

export interface SendTemplate {
  /** One whole WebSocket frame (header, zero mask key, ClientFrame). */
  frame: Buffer;
  /** Offset of the first id digit in `frame`. */
  idAt: number;
}

export function sendTemplate(conversation: string, body: string): SendTemplate {
  const placeholder = ID_PREFIX + '0'.repeat(ID_DIGITS);
  const payload = toBinary(ClientFrameSchema, create(ClientFrameSchema, { kind: { case: 'send', value: { conversation, clientMsgId: placeholder, body } } }));
  const frame = Buffer.concat([frameHeader(payload.length), payload]);
  const at = frame.indexOf(placeholder);
  if (at < 0) throw new Error('placeholder id not found in the encoded send');
  return { frame, idAt: at + 1 };
}

/** Write `id` as ID_DIGITS decimal digits at buf[at..]. */
export function writeId(buf: Buffer, at: number, id: number): void {
  for (let k = at + ID_DIGITS - 1; k >= at; k--) {
    const q = Math.floor(id / 10);
    buf[k] = 48 + (id - q * 10);
    id = q;
  }
}

// ServerFrame oneof field numbers (protocol/client.proto) this load cares about.
export const KIND_SEND_ACK = 11;
export const KIND_MESSAGE = 12;
export const KIND_ERROR = 17;
/** The client_msg_id field inside SendAck, Message and Error. */
const ID_FIELD: Record<number, number> = { [KIND_SEND_ACK]: 2, [KIND_MESSAGE]: 6, [KIND_ERROR]: 6 };

/** Result of peek(): the frame kind (oneof field number, 0 if none) and our id (-1 if none / not ours). */
export const peeked = { kind: 0, id: -1 };

/** Read the ServerFrame's kind and client_msg_id from buf[start, end) into `peeked`. */
export function peek(buf: Buffer, start: number, end: number): typeof peeked {
  peeked.kind = 0;
  peeked.id = -1;
  let i = start;
  while (i < end) {
    let tag = buf[i++];
    if (tag & 0x80) tag = (tag & 0x7f) | (buf[i++] << 7); // field numbers >= 16 (error = 17) take two bytes
    const field = tag >> 3;
    const wt = tag & 7;
    if (wt === 0) {
      while (buf[i++] & 0x80);
      continue;
    }
    if (wt !== 2) return peeked; // nothing else at the top level of a ServerFrame
    let len = 0;
    for (let s = 0; ; s += 7) {
      const b = buf[i++];
      len += (b & 0x7f) * 2 ** s;
      if (b < 0x80) break;
    }
    if (ID_FIELD[field] !== undefined) {
      peeked.kind = field;
      peeked.id = findId(buf, i, i + len, ID_FIELD[field]);
      return peeked;
    }
    peeked.kind = field;
    i += len;
  }
  return peeked;
}

function findId(buf: Buffer, start: number, end: number, want: number): number {
  let i = start;
  while (i < end) {
    let tag = 0;
    for (let s = 0; ; s += 7) {
      const b = buf[i++];
      tag += (b & 0x7f) * 2 ** s;
      if (b < 0x80) break;
    }
    const wt = tag & 7;
    if (wt === 0) {
      while (buf[i++] & 0x80);
    } else if (wt === 2) {
      let len = 0;
      for (let s = 0; ; s += 7) {
        const b = buf[i++];
        len += (b & 0x7f) * 2 ** s;
        if (b < 0x80) break;
      }
      if (tag >> 3 === want) {
        if (len !== ID_DIGITS + 1 || buf[i] !== 76 /* 'L' */) return -1;
        let id = 0;
        for (let k = i + 1; k < i + len; k++) id = id * 10 + (buf[k] - 48);
        return id;
      }
      i += len;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else return -1;
  }
  return -1;
}

/** The error code of an Error frame (rare: decoded in full). */
export function errorCode(buf: Buffer, start: number, end: number): string {
  const f = fromBinary(ServerFrameSchema, buf.subarray(start, end));
  return f.kind.case === 'error' ? f.kind.value.code || 'error' : 'error';
}
