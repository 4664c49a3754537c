import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScalarType, create, createFileRegistry, fromBinary, toBinary, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { LinkBatchSchema, LinkFrameSchema, file_cluster, type LinkFrame } from '../../protocol/gen/cluster_pb.js';
import { file_client } from '../../protocol/gen/client_pb.js';
import { encoderFor, encoderHandles } from '../../protocol/compiled/frame_encoder.js';
import { Writer } from '../../protocol/compiled/proto_writer.js';
import { FrameQueue } from './frame_queue.js';
import { decoderFor, decoderHandles } from '../../protocol/compiled/frame_decoder.js';
import { decodeBatch, encodeBatch, encodeLinkFrame } from './wire.js';

// Deterministic PRNG so a failure reproduces.
let seed = 12345;
const rnd = (): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
};
const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];

const STRINGS = ['', 'a', 'hello', 'héllo wörld', '日本語テキスト', '😀 emoji', 'lone \ud800 surrogate', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(300), 'é'.repeat(70), 'q'.repeat(20_000)];

function scalar(t: ScalarType): unknown {
  switch (t) {
    case ScalarType.STRING:
      return pick(STRINGS);
    case ScalarType.BYTES:
      return pick([new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(200).fill(7)]);
    case ScalarType.BOOL:
      return rnd() < 0.5;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return pick([0, 1.5, -2.25, 1e10]);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick([0, 1, -1, 127, 128, 300, -300, 0x7fffffff, -0x80000000]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick([0, 1, 127, 128, 16_384, 0xffffffff]);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return pick([0n, 1n, 127n, 128n, 0xffffffffn, 0x100000000n, 1_700_000_000_000n, 0xffffffffffffffffn]);
    default:
      return pick([0n, 1n, -1n, 128n, -128n, 0x100000000n, -0x100000000n, 0x7fffffffffffffffn, -0x8000000000000000n]);
  }
}

function init(desc: DescMessage, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const oneofsDone = new Set<string>();
  for (const f of desc.fields) {
    if (f.oneof) {
      if (oneofsDone.has(f.oneof.localName)) continue;
      oneofsDone.add(f.oneof.localName);
      if (rnd() < 0.2) continue;
      const chosen = pick(f.oneof.fields);
      out[f.oneof.localName] = { case: chosen.localName, value: value(chosen, depth) };
      continue;
    }
    if (rnd() < 0.25) continue;
    out[f.localName] = value(f, depth);
  }
  return out;
}

function value(f: DescField, depth: number): unknown {
  const n = depth > 3 ? 0 : Math.floor(rnd() * 4);
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(f.scalar);
    case 'enum':
      return pick(f.enum.values).number;
    case 'message':
      return init(f.message, depth + 1);
    case 'list':
      return Array.from({ length: n }, () => (f.listKind === 'message' ? init(f.message, depth + 1) : f.listKind === 'enum' ? pick(f.enum.values).number : scalar(f.scalar)));
    case 'map':
      return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}${pick(['', 'é', '😀'])}`, f.mapKind === 'message' ? init(f.message, depth + 1) : f.mapKind === 'enum' ? pick(f.enum.values).number : scalar(f.scalar)]));
  }
}

const all = (msgs: readonly DescMessage[]): DescMessage[] => msgs.flatMap((m) => [m, ...all(m.nestedMessages)]);
const encode = (desc: DescMessage, m: Message, w = new Writer(16)): Uint8Array => {
  w.pos = 0;
  encoderFor(desc)(w, m);
  return w.buf.subarray(0, w.pos);
};

test('every cluster and client message takes the fast paths (none is left to protobuf-es)', () => {
  for (const desc of [...all(file_cluster.messages), ...all(file_client.messages)]) {
    assert.ok(encoderHandles(desc), `encoder: ${desc.typeName}`);
    assert.ok(decoderHandles(desc), `decoder: ${desc.typeName}`);
  }
});

test('encoder output is byte-identical to toBinary for every cluster and client message', () => {
  const w = new Writer(8);
  let checked = 0;
  for (const desc of [...all(file_cluster.messages), ...all(file_client.messages)]) {
    for (let i = 0; i < 60; i++) {
      const m = create(desc, init(desc, 0));
      const want = toBinary(desc, m);
      assert.deepEqual(Buffer.from(encode(desc, m, w)), Buffer.from(want), `${desc.typeName} #${i}`);
      checked++;
    }
  }
  assert.ok(checked > 1000);
});

test('encoder writes unknown fields and rejects invalid values like toBinary', () => {
  const bytes = toBinary(LinkFrameSchema, create(LinkFrameSchema, { kind: { case: 'heartbeat', value: { sentAtMs: 5n } } }));
  // Field 99 (unknown to this version) survives a decode/encode round trip.
  const withUnknown = Buffer.concat([bytes, Buffer.from([0x9a, 0x06, 0x02, 0x68, 0x69])]);
  const m = fromBinary(LinkFrameSchema, withUnknown);
  assert.deepEqual(Buffer.from(encode(LinkFrameSchema, m)), Buffer.from(toBinary(LinkFrameSchema, m)));
  const bad = create(LinkFrameSchema, { kind: { case: 'hello', value: { nodeId: 'a', protocol: 1 } } });
  (bad.kind.value as { protocol: number }).protocol = -1;
  assert.throws(() => toBinary(LinkFrameSchema, bad));
  assert.throws(() => encode(LinkFrameSchema, bad), /uint32/);
});

const frame = (i: number, body = 100): LinkFrame =>
  create(LinkFrameSchema, { kind: { case: 'deliver', value: { users: [`u${i}`], message: { conversation: 'c', seq: BigInt(i), body: 'x'.repeat(body + (i % 7) * 50) } } } });

test('the queue: batches are the bytes of toBinary(LinkBatch), across slab boundaries and drops', () => {
  // Tiny slabs (1 KiB) so frames keep moving to new slabs mid-encode; some frames are
  // bigger than a slab.
  const q = new FrameQueue<LinkFrame>(40_000, encodeLinkFrame, 1024);
  const frames: LinkFrame[] = [];
  let dropped = 0;
  for (let i = 0; i < 400; i++) {
    const f = frame(i, i % 50 === 0 ? 3000 : 100);
    if (q.push(f)) frames.push(f);
    else dropped++;
    if (i % 37 === 0) {
      const batch = encodeBatch(q.take(5_000));
      const n = fromBinary(LinkBatchSchema, batch).frames.length;
      const want = toBinary(LinkBatchSchema, create(LinkBatchSchema, { frames: frames.splice(0, n) }));
      assert.deepEqual(batch, Buffer.from(want));
    }
  }
  assert.ok(dropped > 0 && q.dropped === dropped);
  while (q.length > 0) {
    const before = q.bytes;
    const batch = encodeBatch(q.take(5_000));
    assert.ok(batch.length <= 5_000 || fromBinary(LinkBatchSchema, batch).frames.length === 1);
    assert.equal(before - q.bytes, batch.length);
    const n = fromBinary(LinkBatchSchema, batch).frames.length;
    assert.deepEqual(batch, Buffer.from(toBinary(LinkBatchSchema, create(LinkBatchSchema, { frames: frames.splice(0, n) }))));
  }
  assert.equal(frames.length, 0);
  assert.equal(q.bytes, 0);
  // After clear the queue starts over cleanly.
  q.push(frame(1));
  q.clear();
  q.push(frame(2));
  assert.deepEqual(encodeBatch(q.take(1)), Buffer.from(toBinary(LinkBatchSchema, create(LinkBatchSchema, { frames: [frame(2)] }))));
});

test('an encoder error leaves the queue usable', () => {
  const q = new FrameQueue<LinkFrame>(10_000, encodeLinkFrame, 512);
  q.push(frame(1));
  const bad = create(LinkFrameSchema, { kind: { case: 'hello', value: { nodeId: 'a'.repeat(600), protocol: 1 } } });
  (bad.kind.value as { protocol: number }).protocol = 1.5;
  assert.throws(() => q.push(bad));
  q.push(frame(2));
  assert.deepEqual(encodeBatch(q.take(10_000)), Buffer.from(toBinary(LinkBatchSchema, create(LinkBatchSchema, { frames: [frame(1), frame(2)] }))));
});

test('decoder output equals fromBinary for every cluster and client message', () => {
  let checked = 0;
  for (const desc of [...all(file_cluster.messages), ...all(file_client.messages)]) {
    const decode = decoderFor(desc);
    for (let i = 0; i < 60; i++) {
      const m = create(desc, init(desc, 0));
      const bytes = Buffer.from(toBinary(desc, m));
      const got = decode(bytes);
      assert.deepStrictEqual(got, fromBinary(desc, bytes), `${desc.typeName} #${i}`);
      // Inside a bigger buffer, by range.
      const padded = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([9])]);
      assert.deepStrictEqual(decode(padded, 3, 3 + bytes.length), got);
      checked++;
    }
  }
  assert.ok(checked > 1000);
});

test('decoder hands surprises to fromBinary: unknown fields, invalid UTF-8, merges, truncation', () => {
  const decode = decoderFor<LinkFrame>(LinkFrameSchema);
  const f = frame(3);
  const bytes = Buffer.from(toBinary(LinkFrameSchema, f));
  // Unknown field 99 (a newer peer's frame kind): kept in $unknown, as fromBinary does.
  const unknown = Buffer.concat([bytes, Buffer.from([0x9a, 0x06, 0x02, 0x68, 0x69])]);
  assert.deepStrictEqual(decode(unknown), fromBinary(LinkFrameSchema, unknown));
  assert.equal(decode(unknown).$unknown?.length, 1);
  // The same oneof message twice merges.
  const twice = Buffer.concat([bytes, bytes]);
  assert.deepStrictEqual(decode(twice), fromBinary(LinkFrameSchema, twice));
  // Truncated: fromBinary's error.
  for (let cut = 1; cut < bytes.length; cut += 7) assert.throws(() => decode(bytes.subarray(0, cut)));
  // Invalid UTF-8 in a proto3 string: fromBinary's error.
  const body = bytes.indexOf(Buffer.from('xxxx'));
  const broken = Buffer.from(bytes);
  broken[body] = 0xff;
  assert.throws(() => fromBinary(LinkFrameSchema, broken));
  assert.throws(() => decode(broken));
  // Non-ASCII strings, long and short.
  const intl = create(LinkFrameSchema, { kind: { case: 'deliver', value: { users: ['ü', '日本'], message: { body: 'é'.repeat(100), meta: { 'k😀': 'v€' } } } } });
  const ib = Buffer.from(toBinary(LinkFrameSchema, intl));
  assert.deepStrictEqual(decode(ib), fromBinary(LinkFrameSchema, ib));
});

test('decodeBatch equals fromBinary(LinkBatch), with a frame it leaves to fromBinary', () => {
  const frames = Array.from({ length: 50 }, (_, i) => frame(i, i === 10 ? 20_000 : 100));
  const bytes = Buffer.from(toBinary(LinkBatchSchema, create(LinkBatchSchema, { frames })));
  assert.deepStrictEqual(decodeBatch(bytes), fromBinary(LinkBatchSchema, bytes));
  const withUnknown = Buffer.concat([bytes, Buffer.from([0x0a, 0x05, 0x9a, 0x06, 0x02, 0x68, 0x69]), bytes.subarray(0, 200)]);
  assert.throws(() => fromBinary(LinkBatchSchema, withUnknown));
  assert.throws(() => decodeBatch(withUnknown));
  const ok = Buffer.concat([bytes, Buffer.from([0x0a, 0x05, 0x9a, 0x06, 0x02, 0x68, 0x69]), bytes]);
  const got = decodeBatch(ok);
  assert.deepStrictEqual(got, fromBinary(LinkBatchSchema, ok));
  assert.equal(got.frames.length, 101);
  assert.deepStrictEqual(decodeBatch(Buffer.alloc(0)), fromBinary(LinkBatchSchema, Buffer.alloc(0)));
});

test('a child type the fast paths do not handle falls back alone, inside a fast parent', () => {
  // child.proto (proto2): a `required` field (toBinary-only) and a closed enum (fromBinary-only).
  const T = FieldDescriptorProto_Type;
  const L = FieldDescriptorProto_Label;
  const child = create(FileDescriptorProtoSchema, {
    name: 'child.proto',
    package: 't',
    syntax: 'proto2',
    enumType: [{ name: 'Color', value: [{ name: 'RED', number: 0 }, { name: 'BLUE', number: 1 }] }],
    messageType: [
      {
        name: 'Child',
        field: [
          { name: 'a', number: 1, type: T.INT32, label: L.REQUIRED },
          { name: 'color', number: 2, type: T.ENUM, typeName: '.t.Color', label: L.OPTIONAL },
        ],
      },
    ],
  });
  const parent = create(FileDescriptorProtoSchema, {
    name: 'parent.proto',
    package: 't',
    syntax: 'proto3',
    dependency: ['child.proto'],
    messageType: [
      {
        name: 'Parent',
        field: [
          { name: 's', number: 1, type: T.STRING, label: L.OPTIONAL, jsonName: 's' },
          { name: 'c', number: 2, type: T.MESSAGE, typeName: '.t.Child', label: L.OPTIONAL, jsonName: 'c' },
          { name: 'cs', number: 3, type: T.MESSAGE, typeName: '.t.Child', label: L.REPEATED, jsonName: 'cs' },
        ],
      },
    ],
  });
  const reg = createFileRegistry(parent, (name) => (name === 'child.proto' ? child : undefined));
  const Parent = reg.getMessage('t.Parent')!;
  const Child = reg.getMessage('t.Child')!;
  assert.ok(encoderHandles(Parent) && decoderHandles(Parent));
  assert.ok(!encoderHandles(Child) && !decoderHandles(Child));
  const m = create(Parent, { s: 'hi', c: { a: 5, color: 1 }, cs: [{ a: 1 }, { a: 2, color: 0 }] } as never);
  const bytes = Buffer.from(toBinary(Parent, m));
  assert.deepEqual(Buffer.from(encode(Parent, m)), bytes);
  assert.deepStrictEqual(decoderFor(Parent)(bytes), fromBinary(Parent, bytes));
  // A closed-enum value the child does not know goes to its $unknown, as fromBinary does.
  const odd = Buffer.concat([bytes, Buffer.from([0x12, 0x04, 0x08, 0x07, 0x10, 0x05])]);
  assert.deepStrictEqual(decoderFor(Parent)(odd), fromBinary(Parent, odd));
  // Missing required field: toBinary's error.
  const bad = create(Parent, { c: {} } as never);
  assert.throws(() => toBinary(Parent, bad));
  assert.throws(() => encode(Parent, bad));
});
