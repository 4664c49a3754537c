/**
 * API-key checks for the HTTP API and the admin API, in constant time, and the id an
 * audit line names a key by.
 *
 * Both sides are hashed (SHA-256) before `timingSafeEqual`, so the comparison always
 * runs over 32 equal-length bytes: neither a key's content nor its length shows in the
 * time an answer takes. Every configured key is compared (no early exit on a match).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The key an `Authorization: Bearer <key>` header carries, or null. */
export function bearerKey(header: string | undefined): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return m ? m[1].trim() : null;
}

/** Whether the header carries one of `keys`. */
export function apiKeyMatches(header: string | undefined, keys: readonly string[]): boolean {
  const given = bearerKey(header);
  if (given === null) return false;
  const g = digest(given);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(digest(k), g) || ok;
  return ok;
}

/**
 * How logs name a presented key: `sha256:` and the first 8 hex digits of its hash.
 * Enough to tell the operators' keys apart in an audit trail; useless for guessing a
 * key of 24+ characters. Never the key itself.
 */
export function keyId(header: string | undefined): string | null {
  const k = bearerKey(header);
  return k === null ? null : `sha256:${digest(k).toString('hex').slice(0, 8)}`;
}
