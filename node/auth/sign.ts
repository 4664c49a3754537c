/**
 * Minting tokens with a configured key: for the dev CLI (ops/token.ts), tests and
 * benchmarks. Production tokens normally come from an external identity service that
 * shares the key; this produces exactly what the verifier expects from it.
 */
import { SignJWT } from 'jose';
import { AuthConfigError } from './errors.js';
import { importKey, type ImportedKey } from './keys.js';
import { PRINCIPAL_RE, type KeySpec } from './types.js';

export interface TokenClaims {
  user: string;
  device: string;
  ttlSec: number;
  issuer?: string;
  audience?: string;
  /** Clock in ms since epoch; defaults to Date.now(). Lets tests mint already-expired tokens. */
  now?: number;
}

// Benchmarks mint thousands of tokens from one spec; parse its PEM once.
const imported = new WeakMap<KeySpec, ImportedKey>();

function keyFor(spec: KeySpec): ImportedKey {
  let key = imported.get(spec);
  if (key === undefined) {
    key = importKey(spec, `key "${spec.kid}"`);
    imported.set(spec, key);
  }
  return key;
}

/** True if the key can mint (HS256 always; EdDSA only with its private half). */
export function canSign(spec: KeySpec): boolean {
  return spec.alg === 'HS256' || spec.privateKeyPem !== undefined;
}

/** A compact JWS with sub, device, iat, exp (and iss/aud when given), `kid` in the header. */
export async function signToken(claims: TokenClaims, spec: KeySpec): Promise<string> {
  if (!PRINCIPAL_RE.test(claims.user)) throw new RangeError('user must be 1..128 characters of [A-Za-z0-9._:@-]');
  if (!PRINCIPAL_RE.test(claims.device)) throw new RangeError('device must be 1..128 characters of [A-Za-z0-9._:@-]');
  // ttlSec may be negative on purpose: tests mint expired tokens with it.
  if (!Number.isInteger(claims.ttlSec)) throw new RangeError(`ttlSec must be an integer (got ${claims.ttlSec})`);
  const key = keyFor(spec);
  if (key.signKey === undefined) {
    throw new AuthConfigError(`key "${spec.kid}".privateKeyPem`, 'is required to sign (this EdDSA key has only a public key)');
  }
  const iat = Math.floor((claims.now ?? Date.now()) / 1000);
  const jwt = new SignJWT({ device: claims.device })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setSubject(claims.user)
    .setIssuedAt(iat)
    .setExpirationTime(iat + claims.ttlSec);
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer);
  if (claims.audience !== undefined) jwt.setAudience(claims.audience);
  return jwt.sign(key.signKey);
}
