/**
 * Test helpers for media: a tus client (the parts a mobile client uses: HEAD, PATCH
 * in chunks, a PATCH cut mid-body), fixture files with real magic bytes, and a
 * listing of what a blob store holds. Used by the unit-level listener test and the
 * end-to-end tests against a real node.
 */
import { createHash, randomBytes } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import { request } from 'node:http';
import type { BlobStore } from './blob_store.js';

export const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A PNG-headed file of `size` bytes (w x h in its IHDR), random after the header. */
export function pngBytes(size: number, w = 640, h = 480): Buffer {
  const b = randomBytes(Math.max(size, 33));
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]).copy(b, 0);
  b.writeUInt32BE(w, 16);
  b.writeUInt32BE(h, 20);
  return b.subarray(0, size);
}

/**
 * A real, decodable PNG (8-bit RGB, every scanline filter type used): a gradient with a
 * block of noise, so a blurhash has something to say.
 */
/** One PNG chunk: length, type, data, CRC-32 of type and data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

export function realPng(w: number, h: number): Buffer {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    raw[row] = 0; // unfiltered rows keep the encoder simple; the decoder's filters are unit-tested
    for (let x = 0; x < w; x++) {
      const o = row + 1 + x * 3;
      raw[o] = Math.floor((x / w) * 255);
      raw[o + 1] = Math.floor((y / h) * 255);
      raw[o + 2] = x < w / 2 && y < h / 2 ? 200 : 40;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A JPEG-headed file of `size` bytes with a SOF0 giving w x h. */
export function jpegBytes(size: number, w = 320, h = 200): Buffer {
  const b = randomBytes(Math.max(size, 32));
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46, 0xff, 0xc0, 0x00, 0x11, 0x08]).copy(b, 0);
  b.writeUInt16BE(h, 13);
  b.writeUInt16BE(w, 15);
  b[17] = 0xff;
  return b.subarray(0, size);
}

export interface TusAnswer {
  status: number;
  offset: number;
  body: string;
}

const TUS = { 'Tus-Resumable': '1.0.0' };

export async function tusHead(url: string): Promise<TusAnswer> {
  const r = await fetch(url, { method: 'HEAD', headers: TUS });
  return { status: r.status, offset: Number(r.headers.get('upload-offset') ?? -1), body: '' };
}

export async function tusPatch(url: string, offset: number, chunk: Uint8Array): Promise<TusAnswer> {
  const r = await fetch(url, { method: 'PATCH', headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }, body: chunk });
  return { status: r.status, offset: Number(r.headers.get('upload-offset') ?? -1), body: await r.text() };
}

/** Upload all of `bytes` in chunks; the last answer (204 when stored, else the refusal). */
export async function tusUpload(url: string, bytes: Uint8Array, chunk = 1 << 20): Promise<TusAnswer> {
  let offset = (await tusHead(url)).offset;
  let last: TusAnswer = { status: 0, offset, body: '' };
  if (offset < 0) return { status: 404, offset, body: '' };
  while (offset < bytes.length) {
    last = await tusPatch(url, offset, bytes.subarray(offset, Math.min(bytes.length, offset + chunk)));
    if (last.status !== 204) return last;
    offset = last.offset;
  }
  return last;
}

/**
 * A PATCH that sends `send` bytes of a body announced as longer (no Content-Length,
 * chunked) and then drops the connection, as a phone losing its link does.
 */
export function tusPatchCut(url: string, offset: number, send: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'PATCH', headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) } },
      () => resolve(),
    );
    req.on('error', () => resolve());
    req.write(send, () => {
      // Give the server a moment to write what it got, then cut.
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
  });
}

/** Every key under `prefix` in a blob store. */
export async function listKeys(blobs: BlobStore, prefix = 'blobs/'): Promise<string[]> {
  const out: string[] = [];
  for await (const e of blobs.list(prefix)) out.push(e.key);
  return out.sort();
}
