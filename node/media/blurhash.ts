/**
 * A blurhash (https://blurha.sh: a ~30-character placeholder a client paints before
 * the download) for PNG images, computed without native code: our own small PNG decoder
 * (png_pixels.ts) and the reference encoder (npm `blurhash`). Runs in the hash pool,
 * beside the SHA-256 (node/media/hash_task.ts). JPEG and other formats get none.
 */
import { encode } from 'blurhash';
import { decodePng, type Pixels } from './png_pixels.js';

/** The encoder is O(pixels x components): average down to this many pixels a side first. */
const SIDE = 32;

/** The blurhash of PNG bytes, or '' when they cannot be decoded. */
export function blurhashOfPng(bytes: Uint8Array): string {
  const px = decodePng(bytes);
  if (!px) return '';
  const small = shrink(px, SIDE);
  // 4 x 3 components (3 x 4 for portrait): the size blurha.sh recommends for photos.
  const [cx, cy] = small.width >= small.height ? [4, 3] : [3, 4];
  return encode(small.rgba, small.width, small.height, cx, cy);
}

/** Box-average down so the longer side is at most `side`; RGBA out. */
function shrink(p: Pixels, side: number): { width: number; height: number; rgba: Uint8ClampedArray } {
  const f = Math.max(1, Math.ceil(Math.max(p.width, p.height) / side));
  const width = Math.max(1, Math.floor(p.width / f));
  const height = Math.max(1, Math.floor(p.height / f));
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = 0; dy < f; dy++) {
        for (let dx = 0; dx < f; dx++) {
          const o = ((y * f + dy) * p.width + (x * f + dx)) * 3;
          r += p.rgb[o];
          g += p.rgb[o + 1];
          b += p.rgb[o + 2];
        }
      }
      const n = f * f;
      const o = (y * width + x) * 4;
      rgba[o] = r / n;
      rgba[o + 1] = g / n;
      rgba[o + 2] = b / n;
      rgba[o + 3] = 255;
    }
  }
  return { width, height, rgba };
}
