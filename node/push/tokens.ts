/**
 * Tokens are credentials of a device: never logged in full, never stored as dead in
 * clear. `redactToken` is what a log line may show; `tokenHash` is the key of the
 * dead-token list.
 */
import { createHash } from 'node:crypto';
import type { PushPlatform } from './provider.js';

/** What a log line may show of a token: its length and last 4 characters. */
export function redactToken(token: string): string {
  return `…${token.slice(-4)} (${token.length} chars)`;
}

/** The dead-token key: SHA-256 of platform and token, so the list holds no usable token. */
export function tokenHash(platform: PushPlatform | string, token: string): string {
  return createHash('sha256').update(`${platform}\u0000${token}`).digest('hex');
}
