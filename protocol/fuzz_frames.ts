/**
 * fast-check arbitraries of client frames on the wire, for the fuzz tests
 * (codec.fuzz.test.ts, shards/session.fuzz.test.ts) and the fuzz bench
 * (benchmarks/fuzz.ts). Every input is bytes plus the WebSocket opcode, as a socket
 * shard receives them:
 *
 *   valid      a well-formed frame of any kind, in either encoding
 *   bytes      random bytes, as text or binary, whatever the connection speaks
 *   mutated    a valid frame's bytes with random flips, inserts, deletes, cuts
 *   json       a valid JSON frame with a value replaced, a key dropped or added
 *   range      a valid-shaped frame with a seq, cursor or req_id drawn around the
 *              edges of its range (negative, 2^32, 2^53, 2^64, fractions); it carries
 *              what decoding must give, so the decoder is checked against an oracle
 *
 * checkReply is the check every server reply goes through: a catalogued error, and
 * a frame a client can decode back to what was sent.
 */
import fc from 'fast-check';
import { create, equals, toJson, type JsonObject, type JsonValue, type MessageInitShape } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema, type ClientFrame, type ServerFrame } from './gen/client_pb.js';
import { decodeServerFrame, encodeClientFrame, encodeServerFrame, MAX_SEQ, type Encoding } from './codec.js';
import { ERROR_CODES } from './codes.js';

export type FrameInit = MessageInitShape<typeof ClientFrameSchema>;
export type Source = 'valid' | 'bytes' | 'mutated' | 'json' | 'range';

/** What decoding a `range` input must give. */
export type Expect =
  | { accept: true; reqId: number; seq: bigint | null }
  | { accept: false; code: 'invalid_argument'; reqId: number; field: string };

export interface FuzzInput {
  source: Source;
  enc: Encoding;
  isBinary: boolean;
  bytes: Uint8Array;
  expect?: Expect;
}

const utf8 = new TextEncoder();

export function describeInput(i: FuzzInput): string {
  const body = i.isBinary ? `0x${Buffer.from(i.bytes).toString('hex')}` : JSON.stringify(Buffer.from(i.bytes).toString('utf8'));
  return `${i.source}/${i.enc}${i.isBinary ? '/binary' : '/text'} ${body.length > 400 ? body.slice(0, 400) + '…' : body}`;
}

export function wire(f: ClientFrame, enc: Encoding): Uint8Array {
  const w = encodeClientFrame(f, enc);
  return typeof w === 'string' ? utf8.encode(w) : w;
}

export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}

export function fail(what: string, input?: FuzzInput): never {
  throw new FuzzFailure(input ? `${what}\n  input: ${describeInput(input)}` : what);
}

export const jsonish = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));

/**
 * Check a frame the server is about to send: it encodes in `enc` and a client decodes
 * it back to the same frame; an error carries a catalogued code and flag.
 */
export function checkReply(f: ServerFrame, enc: Encoding, input?: FuzzInput): void {
  if (!Number.isInteger(f.reqId) || f.reqId < 0 || f.reqId > 0xffff_ffff) fail(`reply req_id ${f.reqId} is not a uint32`, input);
  if (f.kind.case === 'error') {
    const e = f.kind.value;
    const spec = (ERROR_CODES as Record<string, { retryable: boolean }>)[e.code];
    if (!spec) fail(`error code ${JSON.stringify(e.code)} is not in ERROR_CODES`, input);
    if (e.retryable !== spec.retryable) fail(`${e.code}: retryable ${e.retryable}, the catalog says ${spec.retryable}`, input);
  }
  let back: ServerFrame;
  try {
    back = decodeServerFrame(encodeServerFrame(f, enc), enc);
  } catch (e) {
    fail(`a client cannot read the reply ${jsonish(f)}: ${(e as Error).message}`, input);
  }
  if (!equals(ServerFrameSchema, back, f)) fail(`the reply changed on the wire: ${jsonish(f)} -> ${jsonish(back)}`, input);
}

// ------------------------------------------------------------------ valid frames

/** A few conversations, so acks, syncs and pushes of one run meet each other. */
export const CONVERSATIONS = ['a', 'b', 'c'];
const conversation = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...CONVERSATIONS) }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }) });
const user = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,16}$/);
const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });
/** Seqs biased to small ones and to the edge of the accepted range. */
const seq = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt(0n, 50n) },
  { weight: 1, arbitrary: fc.bigInt(0n, BigInt(MAX_SEQ)) },
  { weight: 1, arbitrary: fc.constantFrom(BigInt(MAX_SEQ), BigInt(MAX_SEQ) - 1n) },
);
const reqId = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 1000 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 0xffff_ffff) }, { weight: 1, arbitrary: fc.nat() });

/**
 * A frame the session accepts under `limits` (each field within what onClientFrame
 * checks), of every kind the schema has.
 */
export function validFrameInit(limits: { maxSyncPage: number; maxHistoryPage: number }): fc.Arbitrary<FrameInit> {
  const kind = fc.oneof(
    fc.record({ case: fc.constant('send' as const), value: fc.record({ conversation, clientMsgId: fc.string({ minLength: 1, maxLength: 64 }), body: text(60), meta: fc.dictionary(fc.string({ maxLength: 8 }), text(8), { maxKeys: 2 }) }) }),
    fc.record({ case: fc.constant('ack' as const), value: fc.record({ conversation, seq }) }),
    fc.record({ case: fc.constant('read' as const), value: fc.record({ conversation, seq }) }),
    fc.record({
      case: fc.constant('sync' as const),
      value: fc.record({ cursors: fc.array(fc.record({ conversation, seq }), { maxLength: 4 }), limit: fc.integer({ min: 0, max: limits.maxSyncPage }) }),
    }),
    fc.record({ case: fc.constant('history' as const), value: fc.record({ conversation, beforeSeq: seq, limit: fc.integer({ min: 0, max: limits.maxHistoryPage }) }) }),
    fc.record({ case: fc.constant('openDirect' as const), value: fc.record({ peer: user }) }),
    fc.record({ case: fc.constant('ping' as const), value: fc.record({ ts: fc.bigInt(0n, 2n ** 64n - 1n) }) }),
    fc.record({ case: fc.constant('listConversations' as const), value: fc.constant({}) }),
    fc.record({ case: fc.constant('createGroup' as const), value: fc.record({ subject: text(20), members: fc.array(user, { maxLength: 4 }) }) }),
    fc.record({ case: fc.constant('addMembers' as const), value: fc.record({ conversation, users: fc.array(user, { minLength: 1, maxLength: 4 }) }) }),
    fc.record({ case: fc.constant('removeMembers' as const), value: fc.record({ conversation, users: fc.array(user, { minLength: 1, maxLength: 4 }) }) }),
    fc.record({ case: fc.constant('leaveGroup' as const), value: fc.record({ conversation }) }),
    fc.record({ case: fc.constant('setSubject' as const), value: fc.record({ conversation, subject: text(20) }) }),
    fc.record({ case: fc.constant('memberReceipts' as const), value: fc.record({ conversation, seq: seq.map((s) => (s === 0n ? 1n : s)) }) }),
    fc.record({ case: fc.constant('presenceSubscribe' as const), value: fc.record({ users: fc.array(user, { maxLength: 4 }) }) }),
    fc.record({ case: fc.constant('typing' as const), value: fc.record({ conversation }) }),
    fc.record({ case: fc.constant('presenceSettings' as const), value: fc.record({ hideLastSeen: fc.boolean() }) }),
  );
  return fc.record({ reqId, kind }) as fc.Arbitrary<FrameInit>;
}

/**
 * The encoding inputs are written in: either, or mostly the connection's (`enc`) with
 * one in ten in the other one, which the connection must refuse as bad_frame.
 */
function encodings(enc?: Encoding): fc.Arbitrary<Encoding> {
  if (!enc) return fc.constantFrom<Encoding>('json', 'proto');
  return fc.oneof({ weight: 9, arbitrary: fc.constant(enc) }, { weight: 1, arbitrary: fc.constant<Encoding>(enc === 'json' ? 'proto' : 'json') });
}

type Limits = { maxSyncPage: number; maxHistoryPage: number };

export function validInput(limits: Limits, enc?: Encoding): fc.Arbitrary<FuzzInput & { frame: ClientFrame }> {
  return fc.tuple(validFrameInit(limits), encodings(enc)).map(([init, enc]) => {
    const frame = create(ClientFrameSchema, init);
    return { source: 'valid' as const, enc, isBinary: enc === 'proto', bytes: wire(frame, enc), frame };
  });
}

// ------------------------------------------------------------------ random bytes

/** Random bytes; as text frames, mostly printable JSON-ish characters, sometimes any. */
export function bytesInput(enc?: Encoding): fc.Arbitrary<FuzzInput> {
  return fc.oneof(
  fc.tuple(encodings(enc), fc.boolean(), fc.uint8Array({ maxLength: 200 })).map(([enc, isBinary, bytes]) => ({ source: 'bytes' as const, enc, isBinary, bytes })),
  fc
    .tuple(encodings(enc), fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789-.eE truefalsnl_abcdkqsy\\u'.split('')), maxLength: 120 }))
    .map(([enc, s]) => ({ source: 'bytes' as const, enc, isBinary: false, bytes: utf8.encode(s) })),
  );
}

// ------------------------------------------------------------------ byte mutations

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; n: number }
  | { op: 'truncate'; at: number }
  | { op: 'dup'; at: number; n: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d)) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
);

function mutate(src: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Array.from(src);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.op) {
      case 'flip':
        if (at < b.length) b[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (at < b.length) b[at] = m.byte;
        break;
      case 'insert':
        b.splice(at, 0, ...m.bytes);
        break;
      case 'delete':
        b.splice(at, m.n);
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'dup':
        b.splice(at, 0, ...b.slice(at, at + m.n));
        break;
    }
  }
  return new Uint8Array(b);
}

export function mutatedInput(limits: Limits, enc?: Encoding): fc.Arbitrary<FuzzInput> {
  return fc
    .tuple(validInput(limits, enc), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([v, muts, keepOpcode]) => ({
      source: 'mutated' as const,
      enc: v.enc,
      // Mostly the opcode the encoding expects, so the bytes reach the parser.
      isBinary: keepOpcode ? v.isBinary : !v.isBinary,
      bytes: mutate(v.bytes, muts),
    }));
}

// ------------------------------------------------------------------ JSON structure mutations

/** Raw JSON number literals JSON.stringify cannot write (placeholders swapped in after). */
const RAW = ['1e400', '-1e400', '9007199254740993', '18446744073709551616', '1.0000000000000001', '-0', '4294967296', '0.5e1'];
const rawToken = (i: number) => `\u0001raw${i}\u0001`;

const oddValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>(-1, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, '-1', '9007199254740992', '18446744073709551615', '4294967296', '0x10', ' 7 ', '', null, true, [], {}, 'many'),
  // Any UTF-16, lone surrogates included (JSON.stringify writes them as \ud800 escapes).
  fc.string({ unit: fc.oneof(fc.constantFrom('\ud800', '\udfff', '\ud83d', '\u0000', '"', '\\'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 6 }),
  fc.integer({ min: 0, max: RAW.length - 1 }).map((i) => rawToken(i)),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
);
const knownKey = fc.constantFrom('req_id', 'reqId', 'send', 'ack', 'read', 'sync', 'history', 'ping', 'typing', 'seq', 'cursors', 'conversation', 'before_seq', 'beforeSeq', 'limit', 'meta', 'members', 'users', '__proto__', 'teleport');

type JsonEdit = { op: 'replace' | 'delete' | 'add'; at: number; key: string; value: JsonValue };
const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({ op: fc.constantFrom('replace' as const, 'replace' as const, 'delete' as const, 'add' as const), at: fc.nat(), key: fc.oneof(knownKey, fc.string({ maxLength: 6 })), value: oddValue });

/** Every (container, key) of a JSON tree, the root's own keys included. */
function slots(v: JsonValue, out: Array<[JsonObject | JsonValue[], string | number]> = []): Array<[JsonObject | JsonValue[], string | number]> {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  } else if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      out.push([v, k]);
      slots(v[k], out);
    }
  }
  return out;
}

function edit(root: JsonObject, e: JsonEdit): void {
  // A copy: fast-check hands out the same constant objects again, and one must not end up inside itself.
  const value = structuredClone(e.value);
  const all = slots(root);
  if (e.op === 'add' || all.length === 0) {
    const objects = [root, ...all.map(([c, k]) => (c as Record<string | number, JsonValue>)[k]).filter((x): x is JsonObject => x !== null && typeof x === 'object' && !Array.isArray(x))];
    const target = objects[e.at % objects.length];
    Object.defineProperty(target, e.key, { value, enumerable: true, writable: true, configurable: true });
    return;
  }
  const [c, k] = all[e.at % all.length];
  if (e.op === 'delete') {
    if (Array.isArray(c)) c.splice(k as number, 1);
    else delete c[k as string];
  } else (c as Record<string | number, JsonValue>)[k] = value;
}

export function jsonInput(limits: Limits): fc.Arbitrary<FuzzInput> {
  return fc.tuple(validFrameInit(limits), fc.array(jsonEdit, { minLength: 1, maxLength: 3 })).map(([init, edits]) => {
    const root = toJson(ClientFrameSchema, create(ClientFrameSchema, init), { useProtoFieldName: true }) as JsonObject;
    for (const e of edits) edit(root, e);
    let s = JSON.stringify(root);
    RAW.forEach((lit, i) => (s = s.split(JSON.stringify(rawToken(i))).join(lit)));
    return { source: 'json' as const, enc: 'json' as const, isBinary: false, bytes: utf8.encode(s) };
  });
}

// ------------------------------------------------------------------ range oracle

const U32 = 2n ** 32n - 1n;
const U64 = 2n ** 64n - 1n;
const MAX = BigInt(MAX_SEQ);
const EDGES = [0n, 1n, 2n ** 31n - 1n, 2n ** 31n, U32, U32 + 1n, U32 + 6n, MAX - 1n, MAX, MAX + 1n, MAX + 2n, 2n ** 63n - 1n, 2n ** 63n, U64, U64 + 1n, 2n ** 70n, -1n, -2n, -(2n ** 31n), -(2n ** 53n), -(2n ** 63n)];
/** Integers around every edge that matters, and anywhere in between. */
export const edgyInt: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGES) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...EDGES), fc.integer({ min: -3, max: 3 })).map(([e, d]) => e + BigInt(d)) },
  { weight: 1, arbitrary: fc.bigInt(-(2n ** 64n), 2n ** 65n) },
  { weight: 1, arbitrary: fc.bigInt(0n, 1000n) },
);

type Carrier = { field: string; make: (v: bigint, reqId: number) => FrameInit; get: (f: ClientFrame) => bigint };
/** Every client field holding a seq or cursor (codec.ts SEQ_FIELDS), as a frame builder. */
export const SEQ_CARRIERS: Carrier[] = [
  { field: 'ack.seq', make: (v, r) => ({ reqId: r, kind: { case: 'ack', value: { conversation: 'a', seq: v } } }), get: (f) => (f.kind.case === 'ack' ? f.kind.value.seq : -1n) },
  { field: 'read.seq', make: (v, r) => ({ reqId: r, kind: { case: 'read', value: { conversation: 'a', seq: v } } }), get: (f) => (f.kind.case === 'read' ? f.kind.value.seq : -1n) },
  {
    field: 'sync.cursors[1].seq',
    make: (v, r) => ({ reqId: r, kind: { case: 'sync', value: { cursors: [{ conversation: 'b', seq: 2n }, { conversation: 'a', seq: v }] } } }),
    get: (f) => (f.kind.case === 'sync' ? f.kind.value.cursors[1].seq : -1n),
  },
  { field: 'history.before_seq', make: (v, r) => ({ reqId: r, kind: { case: 'history', value: { conversation: 'a', beforeSeq: v } } }), get: (f) => (f.kind.case === 'history' ? f.kind.value.beforeSeq : -1n) },
  { field: 'member_receipts.seq', make: (v, r) => ({ reqId: r, kind: { case: 'memberReceipts', value: { conversation: 'a', seq: v } } }), get: (f) => (f.kind.case === 'memberReceipts' ? f.kind.value.seq : -1n) },
];

/** A JSON frame with `placeholder` (a bigint stand-in) replaced by `literal`. */
function jsonWith(init: FrameInit, placeholder: bigint, literal: string): Uint8Array {
  const s = JSON.stringify(toJson(ClientFrameSchema, create(ClientFrameSchema, init), { useProtoFieldName: true }));
  return utf8.encode(s.split(`"${placeholder}"`).join(literal));
}

function varint(n: bigint): number[] {
  const out: number[] = [];
  for (; n >= 0x80n; n >>= 7n) out.push(Number(n & 0x7fn) | 0x80);
  out.push(Number(n));
  return out;
}

/** A unique stand-in value, swapped for the literal under test after encoding. */
const PLACEHOLDER = 777_777_777_777n;

/** How a JSON literal of `v` is written, and the value a decoder must see if it accepts it. */
type Form = 'number' | 'string' | 'fraction';

const seqRange: fc.Arbitrary<FuzzInput> = fc
  .tuple(fc.constantFrom(...SEQ_CARRIERS), edgyInt, fc.constantFrom<Form | 'proto'>('number', 'string', 'fraction', 'proto'), fc.integer({ min: 1, max: 1000 }))
  .map(([c, v, form, r]) => {
    if (form === 'proto') {
      // uint64 on the wire: only 0..2^64-1 can be written; wrap the rest into range.
      const w = ((v % (U64 + 1n)) + (U64 + 1n)) % (U64 + 1n);
      const ok = w <= MAX;
      return { source: 'range' as const, enc: 'proto' as const, isBinary: true, bytes: wire(create(ClientFrameSchema, c.make(w, r)), 'proto'), expect: ok ? { accept: true as const, reqId: r, seq: w } : { accept: false as const, code: 'invalid_argument' as const, reqId: r, field: c.field } };
    }
    // A fraction is never an integer, so never a seq (kept below 2^52 so a double keeps the .5).
    const literal = form === 'number' ? String(v) : form === 'string' ? `"${v}"` : `${v % 2n ** 50n}.5`;
    const ok = form !== 'fraction' && v >= 0n && v <= MAX;
    return {
      source: 'range' as const,
      enc: 'json' as const,
      isBinary: false,
      bytes: jsonWith(c.make(PLACEHOLDER, r), PLACEHOLDER, literal),
      expect: ok ? { accept: true as const, reqId: r, seq: v } : { accept: false as const, code: 'invalid_argument' as const, reqId: r, field: c.field },
    };
  });

const reqIdRange: fc.Arbitrary<FuzzInput> = fc.tuple(edgyInt, fc.constantFrom<Form | 'proto'>('number', 'string', 'fraction', 'proto'), fc.boolean()).map(([v, form, camel]) => {
  const body: FrameInit = { kind: { case: 'listConversations', value: {} } };
  if (form === 'proto') {
    const w = ((v % (U64 + 1n)) + (U64 + 1n)) % (U64 + 1n);
    const bytes = new Uint8Array([0x08, ...varint(w), ...wire(create(ClientFrameSchema, body), 'proto')]);
    return { source: 'range' as const, enc: 'proto' as const, isBinary: true, bytes, expect: w <= U32 ? { accept: true as const, reqId: Number(w), seq: null } : { accept: false as const, code: 'invalid_argument' as const, reqId: 0, field: 'req_id' } };
  }
  const literal = form === 'number' ? String(v) : form === 'string' ? `"${v}"` : `${v % 2n ** 50n}.5`;
  const ok = form !== 'fraction' && v >= 0n && v <= U32;
  const bytes = utf8.encode(`{"${camel ? 'reqId' : 'req_id'}":${literal},"list_conversations":{}}`);
  return { source: 'range' as const, enc: 'json' as const, isBinary: false, bytes, expect: ok ? { accept: true as const, reqId: Number(v), seq: null } : { accept: false as const, code: 'invalid_argument' as const, reqId: 0, field: 'req_id' } };
});

/** Valid-shaped frames with a seq, cursor or req_id around the edges of its range, with the verdict. */
export function rangeInput(enc?: Encoding): fc.Arbitrary<FuzzInput> {
  const all = fc.oneof({ weight: 3, arbitrary: seqRange }, { weight: 1, arbitrary: reqIdRange });
  // Mostly in the connection's encoding; the oracle is checked only there.
  return enc ? fc.oneof({ weight: 9, arbitrary: all.filter((i) => i.enc === enc) }, { weight: 1, arbitrary: all }) : all;
}

/** The carried seq of a `range` input frame (the one SEQ_CARRIERS put there). */
export function carriedSeq(f: ClientFrame): bigint | null {
  for (const c of SEQ_CARRIERS) {
    const v = c.get(f);
    if (v !== -1n) return v;
  }
  return null;
}

// ------------------------------------------------------------------ the mix

/** Every kind of input, weighted towards the ones that reach deep into the decoder. */
export function anyInput(limits: Limits, enc?: Encoding): fc.Arbitrary<FuzzInput> {
  return fc.oneof(
    { weight: 2, arbitrary: validInput(limits, enc) },
    { weight: 1, arbitrary: bytesInput(enc) },
    { weight: 3, arbitrary: mutatedInput(limits, enc) },
    // JSON structure edits reach the decoder only on JSON connections.
    { weight: enc === 'proto' ? 1 : 3, arbitrary: jsonInput(limits) },
    { weight: 2, arbitrary: rangeInput(enc) },
  );
}
