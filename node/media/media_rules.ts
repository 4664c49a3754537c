/**
 * The media service's rules as pure functions of (request, state, now): slot
 * validation, the daily quota, what a finished upload is allowed to be. The I/O
 * around them is in media_service.ts (slots, references, URLs) and
 * upload_finish.ts (hash, sniff, dedup).
 */
import { CatalogError } from '../../protocol/errors.js';
import { canonicalMime, compatible, SNIFFABLE } from './sniff.js';

export interface MediaLimits {
  /** Largest upload accepted (declared and actual). */
  maxBytes: number;
  /** Bytes one user may upload per UTC day; 0 = unlimited. */
  quotaBytesPerDay: number;
  /** How long a slot stays open for its upload. */
  slotTtlMs: number;
}

export type MediaErrorCode =
  | 'invalid_argument'
  | 'forbidden'
  | 'not_member'
  | 'limit_exceeded'
  | 'quota_exceeded'
  | 'media_size_mismatch'
  | 'media_hash_mismatch'
  | 'media_type_mismatch'
  | 'unavailable'
  | 'internal';

/** A refusal in the error catalog's terms (protocol/codes.ts): the core answers it as an error frame. */
export class MediaError extends CatalogError {
  declare readonly code: MediaErrorCode;

  constructor(code: MediaErrorCode, message: string, retryAfterMs = 0) {
    super(code, message, retryAfterMs);
    this.name = 'MediaError';
  }
}

export interface SlotRequest {
  size: number;
  mime: string;
  sha256?: string;
  conversation: string;
}

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Checks a slot request's fields against the limits (membership and quota are checked by the caller). */
export function validateSlot(req: SlotRequest, limits: MediaLimits): { mime: string; sha256: string } {
  if (!Number.isSafeInteger(req.size) || req.size < 1) throw new MediaError('invalid_argument', 'size: must be a positive integer (bytes)');
  if (req.size > limits.maxBytes) throw new MediaError('limit_exceeded', `size: ${req.size} bytes is over the limit of ${limits.maxBytes}`);
  const mime = canonicalMime(req.mime ?? '');
  if (!MIME.test(mime)) throw new MediaError('invalid_argument', 'mime: must be a MIME type such as image/jpeg');
  const sha256 = (req.sha256 ?? '').toLowerCase();
  if (sha256 !== '' && !SHA256.test(sha256)) throw new MediaError('invalid_argument', 'sha256: must be 64 hex digits');
  if (typeof req.conversation !== 'string' || req.conversation === '') throw new MediaError('invalid_argument', 'conversation: required');
  return { mime, sha256 };
}

/** The UTC day a time falls in, as the quota counts it. */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Milliseconds until the next UTC midnight: when a quota refusal may be retried. */
export function msUntilNextDay(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) - now;
}

/** null when `size` more bytes fit today's quota, else the refusal. */
export function quotaRefusal(usedToday: number, size: number, limits: MediaLimits, now: number): MediaError | null {
  if (limits.quotaBytesPerDay === 0 || usedToday + size <= limits.quotaBytesPerDay) return null;
  if (size > limits.quotaBytesPerDay) return new MediaError('limit_exceeded', `size: ${size} bytes is over the daily quota of ${limits.quotaBytesPerDay}`);
  return new MediaError(
    'quota_exceeded',
    `daily upload quota: ${usedToday} of ${limits.quotaBytesPerDay} bytes used today; ${size} more do not fit`,
    msUntilNextDay(now),
  );
}

/** Declared application/octet-stream: client-encrypted (or opaque) bytes, never sniffed. */
export function isOpaque(declaredMime: string): boolean {
  return canonicalMime(declaredMime) === 'application/octet-stream';
}

export type FinishVerdict = { ok: true; mime: string } | { ok: false; code: 'media_size_mismatch' | 'media_hash_mismatch' | 'media_type_mismatch'; message: string };

/**
 * What a finished upload is: the type it is served as, or why it is refused.
 * - size: the bytes must be exactly the declared size;
 * - hash: the SHA-256 must match the declared one when there is one;
 * - type: opaque uploads are served as application/octet-stream, unsniffed; otherwise a
 *   recognised type must agree with the declaration, and a declared type the table
 *   recognises must be found in the bytes (a "PNG" that is HTML is refused).
 */
export function judgeUpload(
  slot: { size: number; declaredMime: string; declaredSha256: string },
  got: { size: number; sha256: string; sniffed: string | null },
): FinishVerdict {
  if (got.size !== slot.size) return { ok: false, code: 'media_size_mismatch', message: `size mismatch: declared ${slot.size} bytes, received ${got.size}` };
  if (slot.declaredSha256 !== '' && got.sha256 !== slot.declaredSha256) {
    return { ok: false, code: 'media_hash_mismatch', message: `sha256 mismatch: declared ${slot.declaredSha256}, the bytes hash to ${got.sha256}` };
  }
  const declared = canonicalMime(slot.declaredMime);
  if (isOpaque(declared)) return { ok: true, mime: 'application/octet-stream' };
  if (got.sniffed !== null) {
    if (!compatible(declared, got.sniffed)) return { ok: false, code: 'media_type_mismatch', message: `type mismatch: declared ${declared}, the bytes are ${got.sniffed}` };
    return { ok: true, mime: got.sniffed };
  }
  if (SNIFFABLE.has(declared)) return { ok: false, code: 'media_type_mismatch', message: `type mismatch: declared ${declared}, the bytes are not ${declared}` };
  return { ok: true, mime: declared };
}
