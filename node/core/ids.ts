/** Identifiers: deterministic direct-conversation ids and time-ordered message ids. */
import { createHash, randomBytes } from 'node:crypto';

/**
 * The 1:1 conversation of two users has an id derived from the sorted pair, so
 * "find or create" is idempotent on any node without a lookup or a lock.
 */
export function directConversationId(a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a];
  return 'd_' + createHash('sha256').update(x).update('\u0000').update(y).digest('base64url').slice(0, 22);
}

/** A UUIDv7 (RFC 9562): 48-bit ms timestamp then random bits, so ids sort by time. */
export function newMessageId(now = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** User and device ids: what tokens and the HTTP API accept (the rule lives in op_rules.ts). */
export { USER_ID as ID_PATTERN } from './op_rules.js';
