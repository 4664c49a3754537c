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

/**
 * Randomness for message ids, drawn in blocks: one randomBytes call per POOL_IDS ids
 * instead of one per message (a syscall-backed call plus a Buffer each time cost ~3 %
 * of a message's CPU). 256 ids x 10 bytes = 2.5 KiB: a page-sized draw, refilled about
 * every 128 ms at 2,000 msg/s. The bytes are used once each, so ids stay as
 * unpredictable as before; only the draw is batched.
 */
const POOL_IDS = 256;
const RANDOM_BYTES_PER_ID = 10;
let pool = Buffer.alloc(0);
let poolAt = 0;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A UUIDv7 (RFC 9562): 48-bit ms timestamp then random bits, so ids sort by time. */
export function newMessageId(now = Date.now()): string {
  if (poolAt + RANDOM_BYTES_PER_ID > pool.length) {
    pool = randomBytes(POOL_IDS * RANDOM_BYTES_PER_ID);
    poolAt = 0;
  }
  const r = pool;
  const o = poolAt;
  poolAt += RANDOM_BYTES_PER_ID;
  // 48-bit timestamp, big-endian (split: bitwise ops are 32-bit).
  const hi = Math.floor(now / 0x1000000) % 0x1000000;
  const lo = now % 0x1000000;
  const h = HEX;
  return (
    h[(hi >>> 16) & 0xff] + h[(hi >>> 8) & 0xff] + h[hi & 0xff] + h[(lo >>> 16) & 0xff] + '-' +
    h[(lo >>> 8) & 0xff] + h[lo & 0xff] + '-' +
    // version 7 in the high nibble of byte 6; byte 8: variant 10xx.
    h[(r[o] & 0x0f) | 0x70] + h[r[o + 1]] + '-' +
    h[(r[o + 2] & 0x3f) | 0x80] + h[r[o + 3]] + '-' +
    h[r[o + 4]] + h[r[o + 5]] + h[r[o + 6]] + h[r[o + 7]] + h[r[o + 8]] + h[r[o + 9]]
  );
}

/** User and device ids: what tokens and the HTTP API accept (the rule lives in op_rules.ts). */
export { USER_ID as ID_PATTERN } from './op_rules.js';
