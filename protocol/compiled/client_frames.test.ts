/**
 * The compiled client-frame codecs against protobuf-es on random instances
 * (fast-check): every ServerFrame encodes to toBinary's bytes, and every byte string
 * (valid frames, random bytes, valid frames with a byte changed or cut) decodes to
 * fromBinary's ClientFrame, or fails where fromBinary fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ScalarType, create, fromBinary, toBinary, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema } from '../gen/client_pb.js';
import { clientFrameFromBytes, serverFrameBytes } from './client_frames.js';

const STRING = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', 'é', '😀', 'lone \ud800 surrogate', 'x'.repeat(200)));
const INT64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const UINT64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

function scalar(t: ScalarType): fc.Arbitrary<unknown> {
  switch (t) {
    case ScalarType.STRING:
      return STRING;
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 40 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
      return fc.double();
    case ScalarType.FLOAT:
      return fc.float();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.integer();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.integer({ min: 0, max: 0xffffffff });
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return UINT64;
    default:
      return INT64;
  }
}

/** A random init shape of `desc` (every field present or not, lists and maps 0..3 long). */
function message(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  if (depth > 4) return fc.constant({});
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of desc.fields) if (!f.oneof) parts[f.localName] = field(f, depth);
  for (const o of desc.oneofs) {
    parts[o.localName] = fc.oneof(fc.constant({ case: undefined }), ...o.fields.map((f) => field(f, depth).map((value) => ({ case: f.localName, value }))));
  }
  return fc.record(parts, { requiredKeys: [] });
}

function field(f: DescField, depth: number): fc.Arbitrary<unknown> {
  const one = (): fc.Arbitrary<unknown> => {
    switch (f.fieldKind) {
      case 'scalar':
        return scalar(f.scalar);
      case 'enum':
        return fc.oneof(fc.constantFrom(...f.enum.values.map((v) => v.number)), fc.integer({ min: 0, max: 50 }));
      case 'message':
        return message(f.message, depth + 1);
      case 'list':
        return f.listKind === 'message' ? message(f.message, depth + 1) : f.listKind === 'enum' ? fc.constantFrom(...f.enum.values.map((v) => v.number)) : scalar(f.scalar);
      case 'map':
        return f.mapKind === 'message' ? message(f.message, depth + 1) : f.mapKind === 'enum' ? fc.constantFrom(...f.enum.values.map((v) => v.number)) : scalar(f.scalar);
    }
  };
  if (f.fieldKind === 'list') return fc.array(one(), { maxLength: 3 });
  if (f.fieldKind === 'map') return fc.dictionary(f.mapKey === ScalarType.STRING ? STRING : fc.integer({ min: 0, max: 1000 }).map(String), one(), { maxKeys: 3 });
  return one();
}

const RUNS = 2000;

/** fromBinary's outcome and ours: the same frame, or both thrown. */
function sameDecode(bytes: Uint8Array): void {
  let want: unknown;
  let wantErr = false;
  try {
    want = fromBinary(ClientFrameSchema, bytes);
  } catch {
    wantErr = true;
  }
  let got: unknown;
  let gotErr = false;
  try {
    got = clientFrameFromBytes(bytes);
  } catch {
    gotErr = true;
  }
  assert.equal(gotErr, wantErr, `fromBinary ${wantErr ? 'threw' : 'decoded'}, the compiled decoder ${gotErr ? 'threw' : 'decoded'}`);
  if (!wantErr) assert.deepStrictEqual(plain(got), plain(want));
}

/**
 * Buffers as plain Uint8Arrays. The one difference allowed: a frame with an unknown
 * field goes to fromBinary as a Buffer view (frame_decoder.ts), so the unknown field's
 * bytes come back as a Buffer (a Uint8Array subclass, the same bytes); the shard never
 * reads them (client.proto has no bytes field, so nothing else can differ).
 */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    Object.setPrototypeOf(out, Object.getPrototypeOf(v));
    return out;
  }
  return v;
}

test('every ServerFrame encodes to the bytes of toBinary', () => {
  fc.assert(
    fc.property(message(ServerFrameSchema), (init) => {
      const frame = create(ServerFrameSchema, init);
      assert.deepEqual(serverFrameBytes(frame), toBinary(ServerFrameSchema, frame));
    }),
    { numRuns: RUNS },
  );
});

test('the hot server frames (send_ack, message, receipt, error) encode to the bytes of toBinary', () => {
  for (const kind of ['sendAck', 'message', 'receipt', 'error']) {
    const f = ServerFrameSchema.fields.find((x) => x.localName === kind)!;
    assert.ok(f, kind);
    fc.assert(
      fc.property(field(f, 0), fc.integer({ min: 0, max: 0xffffffff }), (value, reqId) => {
        const frame = create(ServerFrameSchema, { reqId, kind: { case: kind, value } } as never);
        assert.deepEqual(serverFrameBytes(frame), toBinary(ServerFrameSchema, frame));
      }),
      { numRuns: RUNS / 4 },
    );
  }
});

test('the result is a buffer of its own (it may be transferred to another thread)', () => {
  const a = serverFrameBytes(create(ServerFrameSchema, { reqId: 1 }));
  const b = serverFrameBytes(create(ServerFrameSchema, { reqId: 2 }));
  assert.equal(a.byteOffset, 0);
  assert.equal(a.byteLength, a.buffer.byteLength);
  assert.notEqual(a.buffer, b.buffer);
  assert.deepEqual(fromBinary(ServerFrameSchema, a).reqId, 1);
});

test('every valid ClientFrame decodes to the frame fromBinary gives', () => {
  fc.assert(
    fc.property(message(ClientFrameSchema), (init) => {
      sameDecode(toBinary(ClientFrameSchema, create(ClientFrameSchema, init)));
    }),
    { numRuns: RUNS },
  );
});

test('random bytes, and valid frames with a byte changed or cut short, decode or fail as fromBinary does', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), sameDecode), { numRuns: RUNS });
  fc.assert(
    fc.property(message(ClientFrameSchema), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (init, at, byte, cut) => {
      const bytes = toBinary(ClientFrameSchema, create(ClientFrameSchema, init));
      if (bytes.length === 0) return;
      const i = at % bytes.length;
      if (cut) sameDecode(bytes.subarray(0, i));
      else {
        const b = bytes.slice();
        b[i] = byte;
        sameDecode(b);
      }
    }),
    { numRuns: RUNS },
  );
});
