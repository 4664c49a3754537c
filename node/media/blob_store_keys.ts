/**
 * What a blob key may be, the same rules on every backend (so a key that works on the
 * filesystem store works on S3 and the other way round), and the checks of the other
 * arguments the stores share.
 *
 * A key is 1 to 1024 bytes of UTF-8 (S3's limit), made of `/`-separated segments. Refused:
 * an empty segment (so no leading `/`, no `//`, no trailing `/`: no absolute paths), a
 * `.` or `..` segment (path traversal on a filesystem; HTTP clients also collapse them in
 * URLs, so S3 would store a different key than asked), control characters including NUL
 * (they end C strings and break S3's XML listings) and unpaired surrogates (not UTF-8).
 */
import { BlobArgumentError, BlobKeyError, BlobUploadError } from './blob_store_errors.js';

/** S3's own limit on a key. */
export const MAX_KEY_BYTES = 1024;
/** Longest content type stored; real ones are under 100 characters. */
export const MAX_CONTENT_TYPE_CHARS = 255;
/** S3 numbers parts 1..10000; the filesystem store keeps the same range. */
export const MAX_PART_NO = 10_000;

// C0 controls (NUL included) and DEL.
const CONTROL = /[\u0000-\u001f\u007f]/;

// With the u flag a paired surrogate is one code point, so this matches only unpaired ones.
const wellFormed = (s: string): boolean => !/\p{Surrogate}/u.test(s);

/** Returns the key when it is valid, else throws BlobKeyError naming the problem. */
export function checkBlobKey(key: unknown): string {
  if (typeof key !== 'string') throw new BlobKeyError(key, 'must be a string');
  if (key === '') throw new BlobKeyError(key, 'must not be empty');
  if (!wellFormed(key)) throw new BlobKeyError(key, 'contains an unpaired surrogate (not valid UTF-8)');
  if (key.includes('\u0000')) throw new BlobKeyError(key, 'contains NUL');
  if (CONTROL.test(key)) throw new BlobKeyError(key, 'contains a control character');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new BlobKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (key.startsWith('/')) throw new BlobKeyError(key, 'must be relative (starts with /)');
  checkSegments(key, key.split('/'));
  return key;
}

/**
 * A list prefix: any string a key may start with (possibly empty, possibly ending in
 * `/`). Its complete segments (all but the last) follow the key rules, so a prefix
 * cannot walk out of the store's directory either.
 */
export function checkBlobPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new BlobKeyError(prefix, 'a prefix must be a string');
  if (prefix === '') return prefix;
  if (!wellFormed(prefix)) throw new BlobKeyError(prefix, 'contains an unpaired surrogate (not valid UTF-8)');
  if (CONTROL.test(prefix)) throw new BlobKeyError(prefix, 'contains a control character');
  if (Buffer.byteLength(prefix) > MAX_KEY_BYTES) throw new BlobKeyError(prefix, `longer than ${MAX_KEY_BYTES} bytes`);
  if (prefix.startsWith('/')) throw new BlobKeyError(prefix, 'must be relative (starts with /)');
  const segments = prefix.split('/');
  const last = segments.pop()!;
  checkSegments(prefix, segments);
  // A last segment of `..` or `.` can only prefix keys with that exact segment, which no key has.
  if (last === '..' || last === '.') throw new BlobKeyError(prefix, `a "${last}" segment is not allowed`);
  return prefix;
}

function checkSegments(whole: string, segments: string[]): void {
  for (const s of segments) {
    if (s === '') throw new BlobKeyError(whole, 'has an empty segment (leading, trailing or double /)');
    if (s === '.' || s === '..') throw new BlobKeyError(whole, `a "${s}" segment is not allowed`);
  }
}

/** A MIME type to store with a blob: non-empty, printable, at most 255 characters. */
export function checkContentType(ct: unknown): string {
  if (typeof ct !== 'string' || ct === '') throw new BlobArgumentError(`content type must be a non-empty string (got ${JSON.stringify(ct)})`);
  if (ct.length > MAX_CONTENT_TYPE_CHARS) throw new BlobArgumentError(`content type longer than ${MAX_CONTENT_TYPE_CHARS} characters`);
  if (CONTROL.test(ct) || !/^[\x20-\x7e]+$/.test(ct)) throw new BlobArgumentError(`content type must be printable ASCII (got ${JSON.stringify(ct)})`);
  return ct;
}

/** A declared size: a non-negative safe integer. */
export function checkSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new BlobArgumentError(`size must be a non-negative integer (got ${JSON.stringify(size)})`);
  return size;
}

export function checkPartNo(partNo: unknown): number {
  if (typeof partNo !== 'number' || !Number.isInteger(partNo) || partNo < 1 || partNo > MAX_PART_NO) {
    throw new BlobArgumentError(`part number must be an integer from 1 to ${MAX_PART_NO} (got ${JSON.stringify(partNo)})`);
  }
  return partNo;
}

/**
 * Clamp a requested range to a blob of `size` bytes, as HTTP does: an end past the blob
 * ends at its last byte; a start at or past the end is unsatisfiable (null).
 */
export function clampRange(range: { start: number; end: number }, size: number): { start: number; end: number } | null {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new BlobArgumentError(`range must have integers 0 <= start <= end (got ${JSON.stringify(range)})`);
  }
  if (start >= size) return null;
  return { start, end: Math.min(end, size - 1) };
}

/**
 * The parts of an upload can be completed: at least one, numbered 1..N without a gap,
 * each but the last at least `minPartSize` bytes. Both stores check this before
 * completing, so they refuse the same uploads with the same error.
 */
export function checkPartsComplete(parts: Array<{ partNo: number; size: number }>, minPartSize: number): void {
  if (parts.length === 0) throw new BlobUploadError('the upload has no parts');
  parts.forEach((p, i) => {
    if (p.partNo !== i + 1) throw new BlobUploadError(`part ${i + 1} is missing (parts are ${parts.map((x) => x.partNo).join(', ')})`);
    if (i < parts.length - 1 && p.size < minPartSize) throw new BlobUploadError(`part ${p.partNo} has ${p.size} bytes; every part but the last needs at least ${minPartSize}`);
  });
}
