/**
 * A protobuf binary decoder for the inbound side of a link (and of a socket shard: client_frames.ts), compiled from the same
 * descriptors as protobuf-es and producing the same message objects as fromBinary
 * (each message starts as `create(desc)`; fields are set as fromBinary sets them).
 *
 * Why: fromBinary allocates per tag ([fieldNo, wireType] arrays), looks field readers
 * up in a Map and decodes every string through TextDecoder; on a busy link that was a
 * third of the CPU. This decoder reads the common case only and hands everything else
 * to fromBinary: a message whose type uses a feature not handled here (groups,
 * closed enums, wrapper / Struct fields, 64-bit values as strings, non-string map
 * keys) and any frame with a surprise in it (an unknown field, a wire type that
 * does not match the schema, a singular message field repeated (a merge), invalid
 * UTF-8, truncation) is decoded by fromBinary from its own bytes, so the result (or
 * the error) is always fromBinary's. A child type it does not handle is decoded by
 * fromBinary alone, inside a fast parent. node/peers/frame_codec.test.ts and
 * protocol/compiled/client_frames.test.ts compare the two.
 */
import { isUtf8 } from 'node:buffer';
import { isDeepStrictEqual } from 'node:util';
import { wireType } from './frame_encoder.js';
import { ScalarType, create, fromBinary, protoInt64, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';

type Any = Record<string, unknown>;
/** Buffer's unchecked slicers (public since Node 0.x, not in @types/node). */
type Slices = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };

class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  depth = 0;
  /** Set when a read ran past its end or hit something this decoder does not handle. */
  bad = false;

  /** A varint of at most 32 significant bits (as uint32); sets `bad` past 10 bytes. */
  u32(): number {
    const b = this.buf;
    let p = this.pos;
    let x = b[p++];
    if (x < 0x80) {
      this.pos = p;
      return x;
    }
    x &= 0x7f;
    for (let shift = 7; shift < 35; shift += 7) {
      const c = b[p++];
      x |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.pos = p;
        return x >>> 0;
      }
    }
    // Bytes 6..10 of a 64-bit varint (negative int32): the low 32 bits are already in.
    for (let i = 0; i < 5; i++) {
      if (b[p++] < 0x80) {
        this.pos = p;
        return x >>> 0;
      }
    }
    this.bad = true;
    return 0;
  }

  /** A 64-bit varint as [lo, hi] in `lo`/`hi`. */
  lo = 0;
  hi = 0;
  u64(): void {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let c = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      c = b[p++];
      lo |= (c & 0x7f) << shift;
      if (c < 0x80) return this.done64(p, lo, 0);
    }
    c = b[p++];
    lo |= (c & 0x0f) << 28;
    hi = (c & 0x7f) >> 4;
    if (c < 0x80) return this.done64(p, lo, hi);
    for (let shift = 3; shift <= 31; shift += 7) {
      c = b[p++];
      hi |= (c & 0x7f) << shift;
      if (c < 0x80) return this.done64(p, lo, hi);
    }
    this.bad = true;
  }

  private done64(p: number, lo: number, hi: number): void {
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }
}

type Dec = (r: Reader, end: number) => Any | null;

const compiled = new WeakMap<DescMessage, Dec | null>();
const reader = new Reader();

/**
 * A decoder of `desc` messages: `decode(bytes, start, end)`. Byte ranges it does not
 * handle are decoded by fromBinary (which also throws on malformed input).
 */
export function decoderFor<T extends Message>(desc: DescMessage): (buf: Buffer, start?: number, end?: number) => T {
  const dec = messageDecoder(desc);
  return (buf, start = 0, end = buf.length) => {
    if (dec !== null) {
      const r = reader;
      r.buf = buf;
      r.pos = start;
      r.bad = false;
      r.depth = 0;
      const m = dec(r, end);
      r.buf = EMPTY;
      if (m !== null && r.pos === end && !r.bad) return m as unknown as T;
    }
    return fromBinary(desc, buf.subarray(start, end)) as T;
  };
}

const EMPTY = Buffer.alloc(0);

/** Whether `desc` messages take the fast path at all (else every one goes to fromBinary). */
export const decoderHandles = (desc: DescMessage): boolean => messageDecoder(desc) !== null;

function messageDecoder(desc: DescMessage): Dec | null {
  if (compiled.has(desc)) return compiled.get(desc)!;
  // Registered first, so a recursive type finds itself (through `late` below).
  compiled.set(desc, null);
  compiling.add(desc);
  let dec: Dec | null = null;
  try {
    dec = generate(desc);
  } finally {
    compiling.delete(desc);
  }
  compiled.set(desc, dec);
  return dec;
}

const compiling = new Set<DescMessage>();

/**
 * The decoder of one message type, generated as source so every property access is
 * a named, monomorphic one (closures reading `m[name]` for every field of every type
 * share one megamorphic site and were most of the decoding time). The source contains
 * only field names from the descriptors (JSON-quoted), numbers and helper indices.
 */
function generate(desc: DescMessage): Dec | null {
  const literal = newMessageLiteral(desc);
  if (literal === null) return null;
  const helpers: unknown[] = [];
  const h = (x: unknown): string => `h[${helpers.push(x) - 1}]`;
  const cases: string[] = [];
  for (const f of desc.fields) {
    const c = fieldCases(f, h);
    if (c === null) return null;
    cases.push(c);
  }
  const source = `return function decode(r, end) {
  if (++r.depth > 100) return null;
  const m = ${literal};
  while (r.pos < end) {
    const t = r.buf[r.pos];
    let tag;
    if (t < 0x80) { r.pos++; tag = t; } else tag = r.u32();
    switch (tag) {
${cases.join('\n')}
      default: return null;
    }
  }
  r.depth--;
  return r.pos === end && !r.bad ? m : null;
};`;
  const dec = new Function('h', 'delimited', source)(helpers, delimited) as Dec;
  return dec;
}

/** Source of an object literal equal to create(desc) (null: not a plain proto3-style shape). */
function newMessageLiteral(desc: DescMessage): string | null {
  const template = create(desc) as unknown as Any;
  if (Object.getPrototypeOf(template) !== Object.prototype) return null;
  const parts: string[] = [];
  for (const k of Object.keys(template)) {
    const v = template[k];
    let src: string;
    if (k === '$typeName' && typeof v === 'string') src = JSON.stringify(v);
    else if (typeof v === 'number' && Object.is(v, 0)) src = '0';
    else if (v === '') src = '""';
    else if (v === false) src = 'false';
    else if (v === 0n) src = '0n';
    else if (Array.isArray(v) && v.length === 0) src = '[]';
    else if (v instanceof Uint8Array && v.length === 0) src = 'new Uint8Array(0)';
    else if (isPlain(v) && Object.keys(v).length === 0) src = '{}';
    else if (isPlain(v) && Object.keys(v).join() === 'case' && v.case === undefined) src = '{ case: undefined }';
    else return null;
    parts.push(`${JSON.stringify(k)}: ${src}`);
  }
  const literal = `{ ${parts.join(', ')} }`;
  const check = new Function(`return ${literal};`)() as unknown;
  return isDeepStrictEqual(check, template) ? literal : null;
}

const isPlain = (v: unknown): v is Any => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** A length-delimited payload: its end, or -1 when it overruns `r.buf`. */
function delimited(r: Reader): number {
  const len = r.u32();
  const end = r.pos + len;
  return r.bad || end > r.buf.length ? -1 : end;
}

/**
 * A child message decoder: late-bound for a type still being generated (recursion),
 * fromBinary on the child's bytes for a type this file does not handle (its parents
 * stay fast; an error there hands the whole frame to fromBinary).
 */
function childDecoder(desc: DescMessage): Dec {
  if (compiling.has(desc)) return (r, end) => compiled.get(desc)?.(r, end) ?? null;
  const dec = messageDecoder(desc);
  if (dec !== null) return dec;
  return (r, end) => {
    try {
      const m = fromBinary(desc, r.buf.subarray(r.pos, end)) as unknown as Any;
      r.pos = end;
      return m;
    } catch {
      return null;
    }
  };
}

/** The `case` lines of one field (null: a feature left to fromBinary). */
function fieldCases(f: DescField, h: (x: unknown) => string): string | null {
  const name = JSON.stringify(f.localName);
  const no = f.number;
  if (no >= 1 << 28) return null;
  const readChild = (child: string): string =>
    `const e = delimited(r); if (e < 0) return null; const v = ${child}(r, e); if (v === null) return null;`;
  switch (f.fieldKind) {
    case 'message': {
      if (f.delimitedEncoding || f.message.typeName.startsWith('google.protobuf.')) return null;
      const c = h(childDecoder(f.message));
      const tag = (no << 3) | 2;
      if (f.oneof) {
        const o = JSON.stringify(f.oneof.localName);
        // A repeated occurrence merges into the first: fromBinary's business.
        return `      case ${tag}: { if (m[${o}].case === ${name}) return null; ${readChild(c)} m[${o}] = { case: ${name}, value: v }; break; }`;
      }
      return `      case ${tag}: { if (m[${name}] !== undefined) return null; ${readChild(c)} m[${name}] = v; break; }`;
    }
    case 'scalar':
    case 'enum': {
      if (f.fieldKind === 'enum' && !f.enum.open) return null;
      if (f.fieldKind === 'scalar' && f.longAsString) return null;
      const type = f.fieldKind === 'enum' ? ScalarType.INT32 : f.scalar;
      const read = h(scalarDecoder(type));
      const tag = (no << 3) | wireType(type);
      if (f.oneof) {
        const o = JSON.stringify(f.oneof.localName);
        return `      case ${tag}: m[${o}] = { case: ${name}, value: ${read}(r) }; break;`;
      }
      return `      case ${tag}: m[${name}] = ${read}(r); break;`;
    }
    case 'list': {
      if (f.listKind === 'message') {
        if (f.delimitedEncoding || f.message.typeName.startsWith('google.protobuf.')) return null;
        return `      case ${(no << 3) | 2}: { ${readChild(h(childDecoder(f.message)))} m[${name}].push(v); break; }`;
      }
      if (f.listKind === 'enum' && !f.enum.open) return null;
      if (f.listKind === 'scalar' && f.longAsString) return null;
      const type = f.listKind === 'enum' ? ScalarType.INT32 : f.scalar;
      const read = h(scalarDecoder(type));
      const wire = wireType(type);
      const one = `      case ${(no << 3) | wire}: m[${name}].push(${read}(r)); break;`;
      if (wire === 2) return one;
      // Packed or not, whatever the schema says: a parser accepts both.
      return `${one}
      case ${(no << 3) | 2}: { const e = delimited(r); if (e < 0) return null; const a = m[${name}]; while (r.pos < e && !r.bad) a.push(${read}(r)); if (r.pos !== e) return null; break; }`;
    }
    case 'map': {
      if (f.mapKey !== ScalarType.STRING || f.mapKind !== 'scalar' || f.scalar === ScalarType.BYTES) return null;
      const LONG = [ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64];
      if (LONG.includes(f.scalar)) return null; // 64-bit values: left to fromBinary
      const readKey = scalarDecoder(ScalarType.STRING);
      const read = scalarDecoder(f.scalar);
      const wire = wireType(f.scalar);
      const zero = f.scalar === ScalarType.STRING ? '' : f.scalar === ScalarType.BOOL ? false : 0;
      const entry = (r: Reader, record: Any): boolean => {
        const end = delimited(r);
        if (end < 0) return false;
        let key = '';
        let val: unknown = zero;
        while (r.pos < end && !r.bad) {
          const tag = r.u32();
          if (tag === 0x0a) key = readKey(r) as string;
          else if (tag === (0x10 | wire)) val = read(r);
          else return false;
        }
        if (r.bad || r.pos !== end || key === '__proto__') return false;
        record[key] = val;
        return true;
      };
      return `      case ${(no << 3) | 2}: if (!${h(entry)}(r, m[${name}])) return null; break;`;
    }
  }
}

/** Reads one value; sets `r.bad` (and returns anything) on trouble. */
function scalarDecoder(t: ScalarType): (r: Reader) => unknown {
  const fixed = (r: Reader, n: number): number => {
    const p = r.pos;
    r.pos += n;
    if (r.pos > r.buf.length) r.bad = true;
    return p;
  };
  switch (t) {
    case ScalarType.STRING:
      return (r) => {
        const end = delimited(r);
        if (end < 0) {
          r.bad = true;
          return '';
        }
        const b = r.buf;
        const start = r.pos;
        r.pos = end;
        const len = end - start;
        if (len < 64) {
          let i = start;
          while (i < end && b[i] < 0x80) i++;
          if (i === end) return (b as Slices).latin1Slice(start, end);
        }
        // Invalid UTF-8: fromBinary's business (it throws, or substitutes U+FFFD).
        if (!isUtf8(b.subarray(start, end))) {
          r.bad = true;
          return '';
        }
        return (b as Slices).utf8Slice(start, end);
      };
    case ScalarType.BYTES:
      return (r) => {
        const end = delimited(r);
        if (end < 0) {
          r.bad = true;
          return new Uint8Array(0);
        }
        const v = r.buf.subarray(r.pos, end);
        r.pos = end;
        return v;
      };
    case ScalarType.BOOL:
      return (r) => {
        r.u64();
        return r.lo !== 0 || r.hi !== 0;
      };
    case ScalarType.INT32:
      return (r) => r.u32() | 0;
    case ScalarType.UINT32:
      return (r) => r.u32();
    case ScalarType.SINT32:
      return (r) => {
        const n = r.u32();
        return (n >>> 1) ^ -(n & 1);
      };
    case ScalarType.FIXED32:
      return (r) => {
        const p = fixed(r, 4);
        return r.bad ? 0 : r.buf.readUInt32LE(p);
      };
    case ScalarType.SFIXED32:
      return (r) => {
        const p = fixed(r, 4);
        return r.bad ? 0 : r.buf.readInt32LE(p);
      };
    case ScalarType.FLOAT:
      return (r) => {
        const p = fixed(r, 4);
        return r.bad ? 0 : r.buf.readFloatLE(p);
      };
    case ScalarType.DOUBLE:
      return (r) => {
        const p = fixed(r, 8);
        return r.bad ? 0 : r.buf.readDoubleLE(p);
      };
    case ScalarType.UINT64:
      return (r) => {
        r.u64();
        return r.hi === 0 ? BigInt(r.lo) : protoInt64.uDec(r.lo, r.hi);
      };
    case ScalarType.INT64:
      return (r) => {
        r.u64();
        return r.hi === 0 ? BigInt(r.lo) : protoInt64.dec(r.lo, r.hi);
      };
    case ScalarType.SINT64:
      return (r) => {
        r.u64();
        const lo = r.lo;
        const hi = r.hi;
        const s = -(lo & 1);
        return protoInt64.dec((((lo >>> 1) | (hi << 31)) ^ s) >>> 0, ((hi >>> 1) ^ s) >>> 0);
      };
    case ScalarType.FIXED64:
      return (r) => {
        const p = fixed(r, 8);
        return r.bad ? 0n : protoInt64.uDec(r.buf.readUInt32LE(p), r.buf.readUInt32LE(p + 4));
      };
    case ScalarType.SFIXED64:
      return (r) => {
        const p = fixed(r, 8);
        return r.bad ? 0n : protoInt64.dec(r.buf.readUInt32LE(p), r.buf.readUInt32LE(p + 4));
      };
  }
}
