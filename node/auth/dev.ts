/**
 * The dev default: what `npm start` and `npm run token` use when no config gives an
 * `auth` section. One HS256 key whose secret is generated on first use and kept at
 * `<dataDir>/dev-secret` (mode 0600), so tokens minted by the CLI verify on the node
 * and survive restarts. Never meant for production: the secret sits beside the data.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CLOCK_TOLERANCE_SEC, DEFAULT_TICKET_TTL_MS } from './config.js';
import { MIN_SECRET_BYTES } from './keys.js';
import type { AuthConfig } from './types.js';

export const DEFAULT_DATA_DIR = './data';
export const DEV_SECRET_FILE = 'dev-secret';
export const DEV_KID = 'dev';

/**
 * Returns the dev secret (base64url of 32 random bytes), creating it on first use.
 * Creation is atomic: the file is written under a temporary name and hard-linked into
 * place, which fails if it already exists, so a node and the CLI starting together
 * agree on one secret and nobody ever reads a half-written file.
 */
export function loadOrCreateDevSecret(dataDir: string = DEFAULT_DATA_DIR): string {
  const path = join(dataDir, DEV_SECRET_FILE);
  const existing = readSecret(path);
  if (existing !== null) return existing;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, randomBytes(MIN_SECRET_BYTES).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  const secret = readSecret(path);
  if (secret === null) throw new Error(`${path}: dev secret vanished right after it was created`);
  return secret;
}

function readSecret(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const secret = text.trim();
  if (Buffer.from(secret, 'base64url').length < MIN_SECRET_BYTES) {
    throw new Error(`${path}: dev secret must be base64url of at least ${MIN_SECRET_BYTES} bytes; delete the file to regenerate it`);
  }
  return secret;
}

/** The AuthConfig a node runs with when its config has no `auth` section. */
export function devAuthConfig(dataDir: string = DEFAULT_DATA_DIR): AuthConfig {
  return {
    clockToleranceSec: DEFAULT_CLOCK_TOLERANCE_SEC,
    keys: [{ kid: DEV_KID, alg: 'HS256', secret: loadOrCreateDevSecret(dataDir) }],
    ticketTtlMs: DEFAULT_TICKET_TTL_MS,
  };
}
