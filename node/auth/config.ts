/**
 * Validation of the `auth` config section: raw JSON in, a complete AuthConfig out.
 *
 * As with an OTP child spec, the data is checked and defaults are filled in before
 * anything starts, and a bad value is rejected with an error naming its path. Unknown
 * keys are rejected too: a typo like `clockTolerence` should not silently mean "default".
 * Keys are imported here (PEM parsed, secrets measured) so a config that validates
 * cannot fail later in a shard thread.
 */
import { AuthConfigError } from './errors.js';
import { importKeys } from './keys.js';
import type { AuthConfig, KeySpec } from './types.js';

/**
 * The one source of the auth section's defaults and ranges: node/config.ts (the
 * node's loader and docs/CONFIG.md) reads these, so the two validators cannot disagree.
 */
export const AUTH_LIMITS = {
  /**
   * Default 5 s: token issuers and nodes are servers kept in sync by NTP (drift well
   * under a second), and every second of leeway is a second an expired token still
   * works. At most 10 min: more would make `exp` meaningless.
   */
  clockToleranceSec: { dflt: 5, min: 0, max: 600 },
  /**
   * Default 30 s: a ticket is redeemed within a second of issue; 30 s covers slow
   * mobile networks. At least 1 s, at most 10 min: a ticket is a bearer credential
   * that may sit in a URL, so it must not live long.
   */
  ticketTtlMs: { dflt: 30_000, min: 1_000, max: 600_000 },
} as const;

export const DEFAULT_TICKET_TTL_MS = AUTH_LIMITS.ticketTtlMs.dflt;
export const DEFAULT_CLOCK_TOLERANCE_SEC = AUTH_LIMITS.clockToleranceSec.dflt;

const KID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Obj, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new AuthConfigError(`${path}.${k}`, `unknown key (allowed: ${allowed.join(', ')})`);
  }
}

function optString(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new AuthConfigError(`${path}.${key}`, 'must be a non-empty string');
  return v;
}

function intInRange(o: Obj, key: string, path: string, dflt: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new AuthConfigError(`${path}.${key}`, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function validateKey(raw: unknown, path: string): KeySpec {
  if (!isObj(raw)) throw new AuthConfigError(path, 'must be an object');
  const kid = raw.kid;
  if (typeof kid !== 'string' || !KID_RE.test(kid)) {
    throw new AuthConfigError(`${path}.kid`, 'must be 1..64 characters of [A-Za-z0-9._:-]');
  }
  switch (raw.alg) {
    case 'HS256': {
      onlyKeys(raw, ['kid', 'alg', 'secret'], path);
      if (typeof raw.secret !== 'string') throw new AuthConfigError(`${path}.secret`, 'must be a string (base64url or UTF-8)');
      return { kid, alg: 'HS256', secret: raw.secret };
    }
    case 'EdDSA': {
      onlyKeys(raw, ['kid', 'alg', 'publicKeyPem', 'privateKeyPem'], path);
      if (typeof raw.publicKeyPem !== 'string') throw new AuthConfigError(`${path}.publicKeyPem`, 'must be a PEM string');
      const spec: KeySpec = { kid, alg: 'EdDSA', publicKeyPem: raw.publicKeyPem };
      if (raw.privateKeyPem !== undefined) {
        if (typeof raw.privateKeyPem !== 'string') throw new AuthConfigError(`${path}.privateKeyPem`, 'must be a PEM string');
        spec.privateKeyPem = raw.privateKeyPem;
      }
      return spec;
    }
    default:
      throw new AuthConfigError(`${path}.alg`, `must be "HS256" or "EdDSA" (got ${JSON.stringify(raw.alg)})`);
  }
}

export function validateAuthConfig(raw: unknown, path = 'auth'): AuthConfig {
  if (!isObj(raw)) throw new AuthConfigError(path, 'must be an object');
  onlyKeys(raw, ['issuer', 'audience', 'clockToleranceSec', 'keys', 'ticketTtlMs'], path);
  if (!Array.isArray(raw.keys) || raw.keys.length === 0) {
    throw new AuthConfigError(`${path}.keys`, 'must be a non-empty array of keys');
  }
  const keys = raw.keys.map((k, i) => validateKey(k, `${path}.keys[${i}]`));
  // Import once to prove every key is usable; the result is discarded because the
  // config must stay plain data (it crosses into worker threads).
  importKeys(keys, `${path}.keys`);
  const cfg: AuthConfig = {
    clockToleranceSec: intInRange(raw, 'clockToleranceSec', path, DEFAULT_CLOCK_TOLERANCE_SEC, AUTH_LIMITS.clockToleranceSec.min, AUTH_LIMITS.clockToleranceSec.max),
    keys,
    ticketTtlMs: intInRange(raw, 'ticketTtlMs', path, DEFAULT_TICKET_TTL_MS, AUTH_LIMITS.ticketTtlMs.min, AUTH_LIMITS.ticketTtlMs.max),
  };
  const issuer = optString(raw, 'issuer', path);
  const audience = optString(raw, 'audience', path);
  if (issuer !== undefined) cfg.issuer = issuer;
  if (audience !== undefined) cfg.audience = audience;
  return cfg;
}
