/**
 * A protobuf binary encoder that writes into a caller-owned, reused buffer.
 *
 * Why: toBinary (protobuf-es) starts every message in a fresh 128-byte buffer, grows
 * it by doubling and copies the result out: a 300-byte forwarded Send costs four
 * ArrayBuffer allocations, which was most of a link's CPU. This encoder is compiled
 * from the same descriptors (so frame kinds added to cluster.proto are picked up
 * without code here) and produces the same bytes as toBinary (field order, implicit /
 * explicit presence, packed lists, maps, unknown fields); node/peers/frame_codec.test.ts checks
 * that byte for byte. Messages using a feature it does not handle (group/delimited
 * encoding, unboxed wrapper or Struct fields, proto2 `required`) are encoded with
 * toBinary instead (only that type: its parents stay fast), so it is never wrong,
 * only sometimes not faster. node/peers/frame_codec.test.ts checks both, and
 * protocol/compiled/client_frames.test.ts the client frames on random instances.
 *
 * The byte writer the encoders write through is proto_writer.ts.
 */
import { ScalarType, protoInt64, toBinary, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import type { Writer } from './proto_writer.js';

type Any = Record<string, unknown> & { $unknown?: { no: number; wireType: number; data: Uint8Array }[] };
type Enc = (w: Writer, m: Any) => void;
type ValueEnc = (w: Writer, v: unknown) => void;

const IMPLICIT = 2;
const LEGACY_REQUIRED = 3;
const compiled = new WeakMap<DescMessage, Enc>();

/** An encoder of `desc` messages into a Writer (bytes identical to toBinary). */
export function encoderFor<T extends Message>(desc: DescMessage): (w: Writer, message: T) => void {
  return messageEncoder(desc) as unknown as (w: Writer, message: T) => void;
}

/** Whether `desc` messages take the fast path (else toBinary encodes them). */
export const encoderHandles = (desc: DescMessage): boolean => {
  messageEncoder(desc);
  return !fallback.has(desc);
};
const fallback = new WeakSet<DescMessage>();

function messageEncoder(desc: DescMessage): Enc {
  let enc = compiled.get(desc);
  if (enc) return enc;
  if (!supported(desc)) {
    enc = (w, m) => w.raw(toBinary(desc, m as unknown as Message));
    fallback.add(desc);
    compiled.set(desc, enc);
    return enc;
  }
  // Recursive types find this late-bound stand-in while their encoder is generated.
  compiled.set(desc, (w, m) => compiled.get(desc)!(w, m));
  enc = generate(desc);
  compiled.set(desc, enc);
  return enc;
}

/**
 * The encoder of one message type, generated as source so each field is read with a
 * named, monomorphic property access (a closure per field reading `m[name]` shares one
 * megamorphic site across all fields of all types). Lists and maps call the closures
 * of fieldEncoder. The source holds only JSON-quoted field names, numbers and helper
 * indices; field order, presence and zero checks are toBinary's (see compileField in
 * @bufbuild/protobuf/dist/esm/to-binary.js).
 */
function generate(desc: DescMessage): Enc {
  const helpers: unknown[] = [];
  const h = (x: unknown): string => `h[${helpers.push(x) - 1}]`;
  const lines: string[] = [];
  for (const f of [...desc.fields].sort((a, b) => a.number - b.number)) lines.push(fieldSource(f, h));
  const source = `return function encode(w, m) {
  let v;
${lines.join('\n')}
  const u = m.$unknown;
  if (u !== undefined) ${h(writeUnknown)}(w, u);
};`;
  return new Function('h', 'hasOwn', source)(helpers, Object.prototype.hasOwnProperty) as Enc;
}

function writeUnknown(w: Writer, unknown: { no: number; wireType: number; data: Uint8Array }[]): void {
  for (const u of unknown) {
    w.varint(((u.no << 3) | u.wireType) >>> 0);
    w.raw(u.data);
  }
}

function fieldSource(f: DescField, h: (x: unknown) => string): string {
  const name = JSON.stringify(f.localName);
  const no = f.number;
  const get = f.oneof ? `v = m[${JSON.stringify(f.oneof.localName)}]; if (v.case === ${name}) { v = v.value;` : `v = m[${name}]; if (`;
  switch (f.fieldKind) {
    case 'message': {
      const child = h(messageEncoder(f.message));
      const write = `w.varint(${(no << 3) | 2}); w.fork(); if (v !== undefined) ${child}(w, v); w.join();`;
      if (f.oneof) return `  ${get} ${write} }`;
      return `  ${get}v !== undefined && hasOwn.call(m, ${name})) { ${write} }`;
    }
    case 'scalar':
    case 'enum': {
      const type = f.fieldKind === 'enum' ? ScalarType.INT32 : f.scalar;
      const write = `w.varint(${(no << 3) | wireType(type)}); ${h(scalarEncoder(type, `${f.parent.typeName}.${f.name}`))}(w, v);`;
      if (f.oneof) return `  ${get} ${write} }`;
      if (f.presence !== IMPLICIT) return `  ${get}v !== undefined && hasOwn.call(m, ${name})) { ${write} }`;
      return `  ${get}${nonZero(f, type)}) { ${write} }`;
    }
    default:
      return `  ${h(fieldEncoder(f))}(w, m);`;
  }
}

/** toBinary's test that an implicit-presence field is set. */
function nonZero(f: DescField, t: ScalarType): string {
  if (f.fieldKind === 'enum') return `v !== ${f.enum.values[0].number}`;
  switch (t) {
    case ScalarType.STRING:
      return 'v !== ""';
    case ScalarType.BOOL:
      return 'v !== false';
    case ScalarType.BYTES:
      return '!(v instanceof Uint8Array) || v.byteLength > 0';
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return '!Object.is(v, 0)';
    default:
      // Loose, as toBinary: 0, 0n and "0" are all zero.
      return 'v != 0';
  }
}

/**
 * Everything toBinary would do differently from this file (see the header), in the
 * message's own fields: a child type with such a feature falls back alone.
 */
function supported(desc: DescMessage): boolean {
  for (const f of desc.fields) {
    if (f.presence === LEGACY_REQUIRED) return false;
    if (f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message') || (f.fieldKind === 'map' && f.mapKind === 'message')) {
      if ('delimitedEncoding' in f && f.delimitedEncoding) return false;
      if (f.message!.typeName.startsWith('google.protobuf.')) return false;
    }
  }
  return true;
}

function fieldEncoder(f: DescField): Enc {
  const name = f.localName;
  const no = f.number;
  switch (f.fieldKind) {
    case 'message': {
      const child = messageEncoder(f.message);
      const tag = (no << 3) | 2;
      const write = (w: Writer, v: Any | undefined): void => {
        w.varint(tag);
        w.fork();
        if (v !== undefined) child(w, v);
        w.join();
      };
      if (f.oneof) {
        const oneof = f.oneof.localName;
        return (w, m) => {
          const o = m[oneof] as { case: string | undefined; value?: Any };
          if (o.case === name) write(w, o.value);
        };
      }
      return (w, m) => {
        const v = m[name] as Any | undefined;
        if (v !== undefined && Object.prototype.hasOwnProperty.call(m, name)) write(w, v);
      };
    }
    case 'scalar':
    case 'enum': {
      const type = f.fieldKind === 'enum' ? ScalarType.INT32 : f.scalar;
      const value = scalarEncoder(type, `${f.parent.typeName}.${f.name}`);
      const tag = (no << 3) | wireType(type);
      const write = (w: Writer, v: unknown): void => {
        w.varint(tag);
        value(w, v);
      };
      if (f.oneof) {
        const oneof = f.oneof.localName;
        return (w, m) => {
          const o = m[oneof] as { case: string | undefined; value?: unknown };
          if (o.case === name) write(w, o.value);
        };
      }
      if (f.presence !== IMPLICIT) {
        return (w, m) => {
          const v = m[name];
          if (v !== undefined && Object.prototype.hasOwnProperty.call(m, name)) write(w, v);
        };
      }
      const isZero = zeroCheck(f, type);
      return (w, m) => {
        const v = m[name];
        if (!isZero(v)) write(w, v);
      };
    }
    case 'list': {
      if (f.listKind === 'message') {
        const child = messageEncoder(f.message);
        const tag = (no << 3) | 2;
        return (w, m) => {
          const items = m[name] as Any[];
          for (let i = 0; i < items.length; i++) {
            w.varint(tag);
            w.fork();
            child(w, items[i]);
            w.join();
          }
        };
      }
      const type = f.listKind === 'enum' ? ScalarType.INT32 : f.scalar;
      const value = scalarEncoder(type, `${f.parent.typeName}.${f.name}`);
      if (f.packed) {
        const tag = (no << 3) | 2;
        return (w, m) => {
          const items = m[name] as unknown[];
          if (items.length === 0) return;
          w.varint(tag);
          w.fork();
          for (let i = 0; i < items.length; i++) value(w, items[i]);
          w.join();
        };
      }
      const tag = (no << 3) | wireType(type);
      return (w, m) => {
        const items = m[name] as unknown[];
        for (let i = 0; i < items.length; i++) {
          w.varint(tag);
          value(w, items[i]);
        }
      };
    }
    case 'map': {
      const keyTag = (1 << 3) | wireType(f.mapKey);
      const key = scalarEncoder(f.mapKey, `${f.parent.typeName}.${f.name}`);
      const toKey = mapKeyConverter(f.mapKey);
      const tag = (no << 3) | 2;
      let value: (w: Writer, v: unknown) => void;
      if (f.mapKind === 'message') {
        const child = messageEncoder(f.message);
        value = (w, v) => {
          w.varint((2 << 3) | 2);
          w.fork();
          child(w, v as Any);
          w.join();
        };
      } else {
        const type = f.mapKind === 'enum' ? ScalarType.INT32 : f.scalar;
        const scalar = scalarEncoder(type, `${f.parent.typeName}.${f.name}`);
        const valueTag = (2 << 3) | wireType(type);
        value = (w, v) => {
          w.varint(valueTag);
          scalar(w, v);
        };
      }
      return (w, m) => {
        const record = m[name] as Record<string, unknown>;
        for (const k of Object.keys(record)) {
          w.varint(tag);
          w.fork();
          w.varint(keyTag);
          key(w, toKey(k));
          value(w, record[k]);
          w.join();
        }
      };
    }
  }
}

/** The protobuf wire type of a scalar (the decoder uses the same table). */
export function wireType(t: ScalarType): number {
  switch (t) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return 2;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 1;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return 5;
    default:
      return 0;
  }
}

function zeroCheck(f: DescField, t: ScalarType): (v: unknown) => boolean {
  if (f.fieldKind === 'enum') {
    const zero = f.enum.values[0].number;
    return (v) => v === zero;
  }
  switch (t) {
    case ScalarType.STRING:
      return (v) => v === '';
    case ScalarType.BOOL:
      return (v) => v === false;
    case ScalarType.BYTES:
      return (v) => v instanceof Uint8Array && v.byteLength === 0;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return (v) => Object.is(v, 0);
    default:
      // Loose, as toBinary: 0, 0n and "0" are all zero.
      return (v) => v == 0;
  }
}

function mapKeyConverter(t: ScalarType): (k: string) => unknown {
  switch (t) {
    case ScalarType.STRING:
      return (k) => k;
    case ScalarType.BOOL:
      return (k) => (k === 'true' ? true : k === 'false' ? false : k);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
    case ScalarType.INT64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return (k) => k; // the 64-bit writers take decimal strings
    default:
      return (k) => {
        const n = Number.parseInt(k);
        return Number.isFinite(n) ? n : k;
      };
  }
}

const U32 = 0x100000000n;

function scalarEncoder(t: ScalarType, field: string): ValueEnc {
  const bad = (v: unknown, what: string): Error => new Error(`cannot encode field ${field} to binary: invalid ${what}: ${String(v)}`);
  const int32 = (v: unknown, lo: number, hi: number, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(v, what);
    return v;
  };
  switch (t) {
    case ScalarType.STRING:
      return (w, v) => w.string(typeof v === 'string' ? v : String(v));
    case ScalarType.BYTES:
      return (w, v) => {
        const b = v as Uint8Array;
        w.varint(b.byteLength);
        w.raw(b);
      };
    case ScalarType.BOOL:
      return (w, v) => {
        w.ensure(1);
        w.buf[w.pos++] = v ? 1 : 0;
      };
    case ScalarType.UINT32:
      return (w, v) => w.varint(int32(v, 0, 0xffffffff, 'uint32'));
    case ScalarType.INT32:
      return (w, v) => {
        const n = int32(v, -0x80000000, 0x7fffffff, 'int32');
        if (n >= 0) w.varint(n);
        else w.varint64(n, -1);
      };
    case ScalarType.SINT32:
      return (w, v) => {
        const n = int32(v, -0x80000000, 0x7fffffff, 'int32');
        w.varint(((n << 1) ^ (n >> 31)) >>> 0);
      };
    case ScalarType.FIXED32:
      return (w, v) => w.fixed32(int32(v, 0, 0xffffffff, 'uint32'));
    case ScalarType.SFIXED32:
      return (w, v) => w.sfixed32(int32(v, -0x80000000, 0x7fffffff, 'int32'));
    case ScalarType.FLOAT:
      return (w, v) => {
        if (typeof v !== 'number' || (Number.isFinite(v) && (v > 3.4028234663852886e38 || v < -3.4028234663852886e38))) throw bad(v, 'float32');
        w.float(v);
      };
    case ScalarType.DOUBLE:
      return (w, v) => w.double(v as number);
    case ScalarType.UINT64:
      return (w, v) => {
        if (typeof v === 'bigint' && v >= 0n && v < U32) return w.varint(Number(v));
        const { lo, hi } = protoInt64.uEnc(v as bigint);
        w.varint64(lo, hi);
      };
    case ScalarType.INT64:
      return (w, v) => {
        if (typeof v === 'bigint' && v >= 0n && v < U32) return w.varint(Number(v));
        const { lo, hi } = protoInt64.enc(v as bigint);
        w.varint64(lo, hi);
      };
    case ScalarType.SINT64:
      return (w, v) => {
        const { lo, hi } = protoInt64.enc(v as bigint);
        const sign = hi >> 31;
        w.varint64((lo << 1) ^ sign, ((hi << 1) | (lo >>> 31)) ^ sign);
      };
    case ScalarType.FIXED64:
      return (w, v) => {
        const { lo, hi } = protoInt64.uEnc(v as bigint);
        w.fixed64(lo, hi);
      };
    case ScalarType.SFIXED64:
      return (w, v) => {
        const { lo, hi } = protoInt64.enc(v as bigint);
        w.fixed64(lo, hi);
      };
  }
}
