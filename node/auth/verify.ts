/**
 * Token verification: compact JWS in, Identity out, or an AuthError.
 *
 * The key is chosen by the header's `kid` (a lone key also serves kid-less tokens), and
 * the header's `alg` must be the key's own alg: the allow-list alone would still let an
 * HS256 token be checked against an EdDSA key's public bytes (the classic confusion).
 * Error messages are fixed strings; they never quote the token, so they are safe to log
 * and to send to the client.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { AuthError, tokenExpired, unauthenticated } from './errors.js';
import { ALLOWED_ALGS, importKeys, type ImportedKey } from './keys.js';
import { PRINCIPAL_RE, type AuthConfig, type Identity } from './types.js';

/** Real tokens are a few hundred bytes; refuse to parse megabytes of attacker input. */
export const MAX_TOKEN_CHARS = 8192;

/** The narrow interface callers (gateway, ticket endpoint) depend on. */
export interface Verifier {
  /** Resolves to the token's identity; rejects with AuthError. */
  verify(token: string): Promise<Identity>;
}

export interface VerifierOptions {
  /** Clock in ms since epoch; injected by tests. */
  now?: () => number;
}

export function createVerifier(cfg: AuthConfig, opts: VerifierOptions = {}): Verifier {
  const keys = importKeys(cfg.keys);
  const only: ImportedKey | undefined = keys.size === 1 ? keys.values().next().value : undefined;
  const now = opts.now ?? Date.now;

  const pickKey = (header: { kid?: string; alg?: string }): ImportedKey => {
    const key = header.kid === undefined ? only : keys.get(header.kid);
    if (key === undefined) {
      // The kid is attacker-chosen text, so it is not echoed.
      throw unauthenticated(header.kid === undefined ? 'token has no kid and several keys are configured' : 'token kid matches no configured key');
    }
    if (header.alg !== key.alg) throw unauthenticated('token alg does not match its key');
    return key;
  };

  return {
    async verify(token: string): Promise<Identity> {
      if (typeof token !== 'string' || token.length === 0) throw unauthenticated('token missing');
      if (token.length > MAX_TOKEN_CHARS) throw unauthenticated(`token longer than ${MAX_TOKEN_CHARS} characters`);
      const options: JWTVerifyOptions = {
        algorithms: [...ALLOWED_ALGS],
        clockTolerance: cfg.clockToleranceSec,
        currentDate: new Date(now()),
        requiredClaims: ['sub', 'exp'],
      };
      if (cfg.issuer !== undefined) options.issuer = cfg.issuer;
      if (cfg.audience !== undefined) options.audience = cfg.audience;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, (header) => pickKey(header).verifyKey, options));
      } catch (err) {
        throw toAuthError(err, token);
      }
      return identityFrom(payload);
    },
  };
}

function identityFrom(payload: JWTPayload): Identity {
  const { sub, exp } = payload;
  if (typeof sub !== 'string' || !PRINCIPAL_RE.test(sub)) {
    throw unauthenticated('claim "sub" must be 1..128 characters of [A-Za-z0-9._:@-]');
  }
  const device = payload.device ?? payload.did;
  if (device === undefined) throw unauthenticated('claim "device" (or "did") is required');
  if (typeof device !== 'string' || !PRINCIPAL_RE.test(device)) {
    throw unauthenticated('claim "device" must be 1..128 characters of [A-Za-z0-9._:@-]');
  }
  if (typeof exp !== 'number') throw unauthenticated('claim "exp" must be a number');
  return { user: sub, device, exp };
}

/** Maps whatever jose threw to an AuthError with a message that cannot contain the token. */
function toAuthError(err: unknown, token: string): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof joseErrors.JWTExpired) return tokenExpired('token expired', err);
  let message = 'token rejected';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) message = 'token signature is invalid';
  else if (err instanceof joseErrors.JOSEAlgNotAllowed) message = `token alg not allowed (accepted: ${ALLOWED_ALGS.join(', ')})`;
  else if (err instanceof joseErrors.JWTClaimValidationFailed) message = `token claim check failed: ${err.message}`;
  else if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) message = `token malformed: ${err.message}`;
  else if (err instanceof joseErrors.JOSENotSupported) message = `token uses an unsupported feature: ${err.message}`;
  return unauthenticated(scrub(message, token), err);
}

/** Belt and braces over jose's own messages: drop any that quote a piece of the token. */
function scrub(message: string, token: string): string {
  const pieces = token.split('.').filter((p) => p.length >= 8);
  return pieces.some((p) => message.includes(p)) || message.includes(token) ? 'token rejected' : message;
}

// RFC 6750 §2.1: the b64token alphabet, trailing '=' padding allowed.
const BEARER_RE = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** `Bearer <token>` (scheme case-insensitive) -> token; anything else -> null. */
export function bearerFromHeader(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const m = BEARER_RE.exec(value.trim());
  return m ? m[1] : null;
}
