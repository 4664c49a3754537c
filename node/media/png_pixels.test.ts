/** The small PNG decoder (every filter type, palette, gray) and the PNG blurhash. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { decode as decodeBlurhash, isBlurhashValid } from 'blurhash';
import { decodePng } from './png_pixels.js';
import { blurhashOfPng } from './blurhash.js';
import { pngBytes, pngChunk, realPng } from './media_test_kit.js';

const chunk = pngChunk;

/** A PNG of `rows` (channel bytes), row y filtered with filter type y % 5, as an encoder would. */
function filteredPng(w: number, rows: Buffer[], colorType: number, ch: number, plte?: Buffer): Buffer {
  const paeth = (a: number, b: number, c: number): number => {
    const p = a + b - c;
    const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  const out: Buffer[] = [];
  rows.forEach((row, y) => {
    const prev = y > 0 ? rows[y - 1] : Buffer.alloc(row.length);
    const f = y % 5;
    const line = Buffer.alloc(row.length + 1);
    line[0] = f;
    for (let x = 0; x < row.length; x++) {
      const a = x >= ch ? row[x - ch] : 0;
      const b = prev[x];
      const c = x >= ch ? prev[x - ch] : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f];
      line[x + 1] = (row[x] - pred) & 0xff;
    }
    out.push(line);
  });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(rows.length, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(plte ? [chunk('PLTE', plte)] : []),
    chunk('IDAT', deflateSync(Buffer.concat(out))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const rnd = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % 251));

describe('PNG pixels', () => {
  it('undoes every filter type (RGBA, alpha dropped)', () => {
    const w = 9;
    const rows = Array.from({ length: 10 }, (_, y) => rnd(w * 4, y));
    const px = decodePng(filteredPng(w, rows, 6, 4))!;
    assert.equal(px.width, w);
    assert.equal(px.height, 10);
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < w; x++) {
        assert.deepEqual([...px.rgb.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)], [...rows[y].subarray(x * 4, x * 4 + 3)], `pixel ${x},${y}`);
      }
    }
  });

  it('palette and grayscale images come out as RGB', () => {
    const plte = Buffer.from([10, 20, 30, 200, 100, 50]);
    const pal = decodePng(filteredPng(2, [Buffer.from([0, 1]), Buffer.from([1, 0])], 3, 1, plte))!;
    assert.deepEqual([...pal.rgb], [10, 20, 30, 200, 100, 50, 200, 100, 50, 10, 20, 30]);
    const gray = decodePng(filteredPng(2, [Buffer.from([7, 9])], 0, 1))!;
    assert.deepEqual([...gray.rgb], [7, 7, 7, 9, 9, 9]);
  });

  it('refuses what it does not decode, without throwing', () => {
    assert.equal(decodePng(pngBytes(5000)), null, 'a PNG header over random bytes');
    assert.equal(decodePng(Buffer.from('not a png')), null);
    const sixteen = realPng(4, 4);
    sixteen[24] = 16; // bit depth in IHDR
    assert.equal(decodePng(sixteen), null);
  });

  it('a blurhash of a real PNG is valid and carries its colours', () => {
    const png = realPng(200, 120);
    const hash = blurhashOfPng(png);
    assert.ok(isBlurhashValid(hash).result, hash);
    // Decoded, the top-left (where the image has strong blue) is bluer than the bottom-right.
    const px = decodeBlurhash(hash, 8, 8);
    const blue = (x: number, y: number): number => px[(y * 8 + x) * 4 + 2];
    assert.ok(blue(1, 1) > blue(6, 6) + 40, `blue ${blue(1, 1)} vs ${blue(6, 6)}`);
    assert.equal(blurhashOfPng(pngBytes(5000)), '', 'none for undecodable bytes');
  });
});
