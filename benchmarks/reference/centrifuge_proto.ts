/**
 * The few pieces of Centrifugo's client protocol (github.com/centrifugal/protocol,
 * client.proto) the reference fan-out bench needs, hand-encoded: no codec dependency.
 *
 * Why Protobuf and not JSON: Centrifugo sends the JSON protocol in WebSocket TEXT frames
 * and the Protobuf one in BINARY frames (centrifuge handler_websocket.go writeData);
 * FastWs (benchmarks/chat/fast_ws.ts) hands over binary frames only. Switchboard's bench
 * uses its Protobuf encoding too, so the two compare like with like. The client selects
 * it with `?cf_protocol=protobuf` (and the `centrifuge-protobuf` subprotocol).
 *
 * Framing: a WebSocket message carries one or more length-delimited messages (a varint
 * byte length, then a Command or a Reply). What is encoded here:
 *   Command { uint32 id = 1; ConnectRequest connect = 4; SubscribeRequest subscribe = 5; PublishRequest publish = 7 }
 *   ConnectRequest { string token = 1 }   SubscribeRequest { string channel = 1 }
 *   PublishRequest { string channel = 1; bytes data = 2 }
 * and read: Reply { uint32 id = 1; Error error = 2 (Error { uint32 code = 1; string message = 2 }) ... }.
 * Pushes (Reply.push = 4, Push.pub = 4, Publication.data = 4) are not decoded at all:
 * the receivers find the message index in the data bytes with indexOf (dataMarker).
 */
import { clientFrame } from '../chat/fast_ws.js';

/** Digits of the message index written into each publication's data (step * INDEX_SPAN + i). */
export const INDEX_DIGITS = 12;
/** Index room per bench step: at most a million messages in one step. */
export const INDEX_SPAN = 1_000_000;
/** What precedes the index in the data: `{"sb":"<12 digits>","p":"..."}` (valid JSON: the HTTP API needs that). */
export const DATA_MARKER = Buffer.from('{"sb":"');

const WT_VARINT = 0;
const WT_LEN = 2;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

const key = (field: number, wt: number): number[] => varint((field << 3) | wt);
const lenField = (field: number, b: Uint8Array): Buffer => Buffer.concat([Buffer.from([...key(field, WT_LEN), ...varint(b.length)]), b]);
const delimited = (msg: Buffer): Buffer => Buffer.concat([Buffer.from(varint(msg.length)), msg]);

/** One Command in one client WebSocket frame. */
function commandFrame(id: number, field: number, request: Buffer): Buffer {
  const cmd = Buffer.concat([Buffer.from([...key(1, WT_VARINT), ...varint(id)]), lenField(field, request)]);
  return clientFrame(delimited(cmd));
}

export function connectFrame(id: number, token: string): Buffer {
  return commandFrame(id, 4, lenField(1, Buffer.from(token)));
}

export function subscribeFrame(id: number, channel: string): Buffer {
  return commandFrame(id, 5, lenField(1, Buffer.from(channel)));
}

/** The data of message `index` with a body padded to `bodyBytes`: the HTTP API path uses it as JSON. */
export function messageData(index: number, bodyBytes: number): string {
  return `${DATA_MARKER.toString()}${String(index).padStart(INDEX_DIGITS, '0')}","p":"${'x'.repeat(bodyBytes)}"}`;
}

export interface PublishTemplate {
  /** A whole client frame: one publish Command. */
  frame: Buffer;
  /** Where the 5-byte command id goes (writeId). */
  idAt: number;
  /** Where the INDEX_DIGITS digits of the message index go (writeIndex). */
  indexAt: number;
}

/**
 * A publish Command frame of fixed length, so a burst is template copies with the id and
 * the index overwritten. The id is a 5-byte varint (non-minimal for small values, which
 * protobuf decoders accept): ids up to 2^32 - 1 fit without changing the length.
 */
export function publishTemplate(channel: string, bodyBytes: number): PublishTemplate {
  const data = Buffer.from(messageData(0, bodyBytes));
  const publish = Buffer.concat([lenField(1, Buffer.from(channel)), lenField(2, data)]);
  const idField = Buffer.from([...key(1, WT_VARINT), 0x81, 0x80, 0x80, 0x80, 0x00]);
  const cmd = Buffer.concat([idField, lenField(7, publish)]);
  const frame = clientFrame(delimited(cmd));
  const cmdAt = frame.length - cmd.length;
  const indexAt = frame.indexOf(DATA_MARKER, cmdAt) + DATA_MARKER.length;
  return { frame, idAt: cmdAt + 1, indexAt };
}

export function writeId(buf: Buffer, at: number, id: number): void {
  buf[at] = (id & 0x7f) | 0x80;
  buf[at + 1] = ((id >>> 7) & 0x7f) | 0x80;
  buf[at + 2] = ((id >>> 14) & 0x7f) | 0x80;
  buf[at + 3] = ((id >>> 21) & 0x7f) | 0x80;
  buf[at + 4] = (id >>> 28) & 0x0f;
}

export function writeIndex(buf: Buffer, at: number, index: number): void {
  for (let k = INDEX_DIGITS - 1; k >= 0; k--) {
    buf[at + k] = 48 + (index % 10);
    index = Math.floor(index / 10);
  }
}

/** Calls fn(index) for every publication data marker in buf[s, e): one indexOf per push, no decode. */
export function scanIndexes(buf: Buffer, s: number, e: number, fn: (index: number) => void): void {
  let at = buf.indexOf(DATA_MARKER, s);
  while (at >= 0 && at + DATA_MARKER.length + INDEX_DIGITS <= e) {
    let n = 0;
    const d = at + DATA_MARKER.length;
    for (let k = 0; k < INDEX_DIGITS; k++) n = n * 10 + (buf[d + k] - 48);
    fn(n);
    at = buf.indexOf(DATA_MARKER, d + INDEX_DIGITS);
  }
}

/** A Reply's id and error (code 0: none); pushes have id 0. */
export interface ReplyHead {
  id: number;
  errorCode: number;
  errorMessage: string;
}

/** Reads the varint-delimited Replies of one server frame, top-level fields only (set-up and acks). */
export function readReplies(buf: Buffer, s: number, e: number, fn: (r: ReplyHead) => void): void {
  const c = { buf, i: s };
  while (c.i < e) {
    const end = readVarint(c) + c.i;
    const r: ReplyHead = { id: 0, errorCode: 0, errorMessage: '' };
    while (c.i < end) {
      const k = readVarint(c);
      if ((k & 7) === WT_VARINT) {
        const v = readVarint(c);
        if (k >>> 3 === 1) r.id = v;
      } else if ((k & 7) === WT_LEN) {
        const l = readVarint(c);
        if (k >>> 3 === 2) readError({ buf, i: c.i }, c.i + l, r);
        c.i += l;
      } else throw new Error(`unexpected wire type ${k & 7} in a Reply`);
    }
    fn(r);
    c.i = end;
  }
}

interface Cursor {
  buf: Buffer;
  i: number;
}

function readVarint(c: Cursor): number {
  let n = 0;
  let mul = 1;
  for (;;) {
    const b = c.buf[c.i++];
    n += (b & 0x7f) * mul;
    if (b < 0x80) return n;
    mul *= 128;
  }
}

/** Error { uint32 code = 1; string message = 2; bool temporary = 3 }. */
function readError(c: Cursor, e: number, r: ReplyHead): void {
  while (c.i < e) {
    const k = readVarint(c);
    if ((k & 7) === WT_VARINT) {
      const v = readVarint(c);
      if (k >>> 3 === 1) r.errorCode = v;
    } else if ((k & 7) === WT_LEN) {
      const l = readVarint(c);
      if (k >>> 3 === 2) r.errorMessage = c.buf.toString('utf8', c.i, c.i + l);
      c.i += l;
    } else break;
  }
  r.errorCode ||= -1;
}
