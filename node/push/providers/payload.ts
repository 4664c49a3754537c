/**
 * What every provider puts in a push, in one place: the content-free wake body, the
 * preview (truncated to fit a provider's size limit), collapse ids squeezed into each
 * provider's header limit, and the short token tag that logs carry instead of a token.
 *
 * A wake push carries only opaque ids and a count (v, conversation, seq, unread): no
 * sender, no text, so the push provider never sees message content. The app syncs from
 * the server when woken. A preview push adds sender and body, only for devices whose
 * user opted in (PushDevice.mode === 'preview').
 */
import { createHash } from 'node:crypto';
import type { PushRequest } from '../provider.js';

/** Version of the push body; apps check it before reading the other fields. */
export const PUSH_BODY_VERSION = 1;

/** The fields every push body carries, as strings (FCM data values must be strings). */
export function wakeFields(req: PushRequest): Record<string, string> {
  return { v: String(PUSH_BODY_VERSION), conversation: req.conversation, seq: String(req.seq), unread: String(req.unread) };
}

/** The content-free body that Web Push and the webhook send for a wake push, as JSON text. */
export function wakeBody(req: PushRequest): { v: number; kind: 'wake'; conversation: string; seq: number; unread: number } {
  return { v: PUSH_BODY_VERSION, kind: 'wake', conversation: req.conversation, seq: req.seq, unread: req.unread };
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = Math.max(0, maxBytes);
  // Back off continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

const ELLIPSIS = '…';

/**
 * Builds a payload with the preview body shortened until `size(payload) <= limit`.
 * Returns null when even an empty body does not fit (then the push is rejected).
 * `build(body)` renders the whole payload for a given body text.
 */
export function fitBody(body: string, limit: number, build: (body: string) => string): string | null {
  const full = build(body);
  const size = (s: string): number => Buffer.byteLength(s, 'utf8');
  if (size(full) <= limit) return full;
  const empty = build('');
  if (size(empty) > limit) return null;
  // JSON escaping can make a body longer on the wire than in UTF-8, so shrink until it fits.
  let budget = limit - size(empty) - Buffer.byteLength(ELLIPSIS);
  for (;;) {
    if (budget <= 0) return empty;
    const out = build(truncateUtf8(body, budget) + ELLIPSIS);
    if (size(out) <= limit) return out;
    budget -= Math.max(1, size(out) - limit);
  }
}

/** base64url of SHA-256 of a string (43 chars). */
function hash64(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}

/** apns-collapse-id: at most 64 bytes; a longer id is replaced by its hash (43 chars), stable per id. */
export function apnsCollapseId(id: string): string {
  return Buffer.byteLength(id) <= 64 ? id : hash64(id);
}

/** Web Push Topic: at most 32 characters of the URL-safe base64 alphabet (RFC 8030 §5.4); other ids are hashed. */
export function webPushTopic(id: string): string {
  return /^[A-Za-z0-9_-]{1,32}$/.test(id) ? id : hash64(id).slice(0, 32);
}

/** What a log line carries instead of a device token or subscription: 8 hex chars of its SHA-256. */
export function tokenTag(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 8);
}

/** Seconds from now until expiresAt, at least 0 (TTL headers). */
export function ttlSeconds(expiresAt: number, now: number): number {
  return Math.max(0, Math.floor((expiresAt - now) / 1000));
}

/** Retry-After (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) in ms; null when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}
