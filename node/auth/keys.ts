/**
 * Turning key specs (config strings) into key material jose can use.
 *
 * Parsing happens once, when a verifier or signer is built, never per token. The same
 * functions back config validation, so a key that validates is a key that imports.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { AuthConfigError } from './errors.js';
import type { KeySpec } from './types.js';

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const MIN_SECRET_BYTES = 32;

/** The algorithms we accept, ever. Anything else (none, RS256, ...) is refused before key lookup. */
export const ALLOWED_ALGS = ['HS256', 'EdDSA'] as const;
export type Alg = (typeof ALLOWED_ALGS)[number];

export interface ImportedKey {
  kid: string;
  alg: Alg;
  verifyKey: Uint8Array | KeyObject;
  /** Absent for EdDSA keys configured with only the public half. */
  signKey?: Uint8Array | KeyObject;
}

const B64URL_RE = /^[A-Za-z0-9_-]+$/;

/**
 * Secret string -> bytes. `base64url:` and `utf8:` prefixes force an encoding. Without
 * one, a string that is canonical base64url and decodes to >= 32 bytes is decoded (that
 * is what `loadOrCreateDevSecret` and `openssl rand -base64 32 | tr '+/' '-_' | tr -d =`
 * produce); anything else is taken as UTF-8. Whoever else signs with the secret must
 * use the same bytes, hence the explicit prefixes for the rare ambiguous passphrase.
 */
export function decodeSecret(secret: string, path = 'secret'): Uint8Array {
  if (secret.startsWith('utf8:')) return new TextEncoder().encode(secret.slice(5));
  if (secret.startsWith('base64url:')) {
    const body = secret.slice(10);
    if (!isCanonicalBase64url(body)) throw new AuthConfigError(path, 'is not valid base64url after "base64url:"');
    return new Uint8Array(Buffer.from(body, 'base64url'));
  }
  if (isCanonicalBase64url(secret)) {
    const bytes = Buffer.from(secret, 'base64url');
    if (bytes.length >= MIN_SECRET_BYTES) return new Uint8Array(bytes);
  }
  return new TextEncoder().encode(secret);
}

function isCanonicalBase64url(s: string): boolean {
  return B64URL_RE.test(s) && Buffer.from(s, 'base64url').toString('base64url') === s;
}

function importEd25519Public(pem: string, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new AuthConfigError(path, 'is not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new AuthConfigError(path, `must be an Ed25519 key (got ${key.asymmetricKeyType ?? 'unknown'})`);
  }
  return key;
}

function importEd25519Private(pem: string, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    // Deliberately not echoing the parser's message: it may quote key material.
    throw new AuthConfigError(path, 'is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new AuthConfigError(path, `must be an Ed25519 key (got ${key.asymmetricKeyType ?? 'unknown'})`);
  }
  return key;
}

/** Imports one key spec; throws AuthConfigError naming the field under `path`. */
export function importKey(spec: KeySpec, path: string): ImportedKey {
  if (spec.alg === 'HS256') {
    const bytes = decodeSecret(spec.secret, `${path}.secret`);
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new AuthConfigError(`${path}.secret`, `must be at least ${MIN_SECRET_BYTES} bytes (got ${bytes.length})`);
    }
    return { kid: spec.kid, alg: 'HS256', verifyKey: bytes, signKey: bytes };
  }
  const pub = importEd25519Public(spec.publicKeyPem, `${path}.publicKeyPem`);
  if (spec.privateKeyPem === undefined) return { kid: spec.kid, alg: 'EdDSA', verifyKey: pub };
  const priv = importEd25519Private(spec.privateKeyPem, `${path}.privateKeyPem`);
  // A mismatched pair would mint tokens this very node rejects; catch it at startup.
  const derived = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  if (!derived.equals(pub.export({ format: 'der', type: 'spki' }))) {
    throw new AuthConfigError(`${path}.privateKeyPem`, 'does not match publicKeyPem');
  }
  return { kid: spec.kid, alg: 'EdDSA', verifyKey: pub, signKey: priv };
}

/** Imports every key, indexed by kid. */
export function importKeys(specs: readonly KeySpec[], path = 'auth.keys'): Map<string, ImportedKey> {
  const out = new Map<string, ImportedKey>();
  specs.forEach((spec, i) => {
    const at = `${path}[${i}]`;
    if (out.has(spec.kid)) throw new AuthConfigError(`${at}.kid`, `duplicate kid "${spec.kid}"`);
    out.set(spec.kid, importKey(spec, at));
  });
  return out;
}
