/**
 * Test fixtures for the auth tests. Key material is generated fresh per run, so nothing
 * secret is committed.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { signToken } from './sign.js';
import { TicketStore } from './tickets.js';
import type { EdDsaKeySpec, Hs256KeySpec } from './types.js';
import { createVerifier } from './verify.js';

export function hsKey(kid = 'hs'): Hs256KeySpec {
  return { kid, alg: 'HS256', secret: randomBytes(32).toString('base64url') };
}

export function edKey(kid = 'ed', withPrivate = true): EdDsaKeySpec {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spec: EdDsaKeySpec = { kid, alg: 'EdDSA', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  if (withPrivate) spec.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return spec;
}

/** A verifier, a store and tokens on one fixed clock, for the ticket handler tests. */
export async function ticketFixture() {
  const now = Date.UTC(2030, 0, 1);
  const key = hsKey('k');
  const verifier = createVerifier({ clockToleranceSec: 0, ticketTtlMs: 30_000, keys: [key] }, { now: () => now });
  const store = new TicketStore({ ttlMs: 30_000, now: () => now });
  const claims = { user: 'alice', device: 'phone', now };
  return {
    now,
    verifier,
    store,
    token: await signToken({ ...claims, ttlSec: 600 }, key),
    expiredToken: await signToken({ ...claims, ttlSec: -1 }, key),
    // Same kid, different secret: well-formed but badly signed.
    badToken: await signToken({ ...claims, ttlSec: 600 }, hsKey('k')),
  };
}
