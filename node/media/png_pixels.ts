/**
 * Just enough PNG decoding for a blurhash, with node:zlib and no native image library:
 * non-interlaced, 8 bits per channel, grayscale / RGB / palette / gray+alpha / RGBA.
 * Anything else (16-bit, interlaced, damaged) answers null, and the media simply has no
 * blurhash. Pure: bytes in, pixels out.
 */
import { inflateSync } from 'node:zlib';

export interface Pixels {
  width: number;
  height: number;
  /** RGB, 3 bytes per pixel, row after row (alpha dropped). */
  rgb: Uint8Array;
}

/** Larger images are not decoded: 25 megapixels is a phone photo's upper end. */
export const MAX_PIXELS = 25_000_000;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export function decodePng(b: Uint8Array): Pixels | null {
  try {
    return decode(b);
  } catch {
    return null;
  }
}

function decode(b: Uint8Array): Pixels | null {
  if (b.length < 33 || SIGNATURE.some((x, i) => b[i] !== x)) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let width = 0;
  let height = 0;
  let colorType = -1;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 8 <= b.length; ) {
    const len = dv.getUint32(at);
    const type = String.fromCharCode(b[at + 4], b[at + 5], b[at + 6], b[at + 7]);
    const data = b.subarray(at + 8, at + 8 + len);
    if (data.length !== len) return null;
    if (type === 'IHDR') {
      width = dv.getUint32(at + 8);
      height = dv.getUint32(at + 12);
      const depth = b[at + 16];
      colorType = b[at + 17];
      const interlace = b[at + 20];
      if (depth !== 8 || interlace !== 0 || !(colorType in CHANNELS)) return null;
      if (width === 0 || height === 0 || width * height > MAX_PIXELS) return null;
    } else if (type === 'PLTE') palette = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  if (colorType < 0 || idat.length === 0 || (colorType === 3 && !palette)) return null;
  const ch = CHANNELS[colorType];
  const stride = width * ch;
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length < height * (stride + 1)) return null;
  const cur = new Uint8Array(stride);
  const prev = new Uint8Array(stride);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= ch ? cur[x - ch] : 0;
      const up = prev[x];
      const c = x >= ch ? prev[x - ch] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += up;
      else if (filter === 3) v += (a + up) >> 1;
      else if (filter === 4) v += paeth(a, up, c);
      else if (filter !== 0) return null;
      cur[x] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (colorType === 3) {
        const p = cur[x] * 3;
        rgb[o] = palette![p];
        rgb[o + 1] = palette![p + 1];
        rgb[o + 2] = palette![p + 2];
      } else if (ch <= 2) {
        rgb[o] = rgb[o + 1] = rgb[o + 2] = cur[x * ch];
      } else {
        rgb[o] = cur[x * ch];
        rgb[o + 1] = cur[x * ch + 1];
        rgb[o + 2] = cur[x * ch + 2];
      }
    }
    prev.set(cur);
  }
  return { width, height, rgb };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}
