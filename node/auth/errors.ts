/**
 * Auth failures. Both error classes are built so that what they carry is safe to log:
 * an AuthError never holds the token text, an AuthConfigError never holds a secret.
 */
import type { ErrorCode } from '../../protocol/codes.js';

/** The two catalog codes a failed authentication maps to (close codes 4401 and 4402). */
export type AuthErrorCode = Extract<ErrorCode, 'unauthenticated' | 'token_expired'>;

export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    readonly code: AuthErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function unauthenticated(message: string, cause?: unknown): AuthError {
  return new AuthError('unauthenticated', message, cause === undefined ? undefined : { cause });
}

export function tokenExpired(message = 'token expired', cause?: unknown): AuthError {
  return new AuthError('token_expired', message, cause === undefined ? undefined : { cause });
}

/** A bad auth config; `path` names the offending key, e.g. `auth.keys[1].secret`. */
export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}
