/**
 * Log redaction for credentials. Anything that reaches a log line (URLs, headers,
 * error text) should pass through `redact` first: a JWT or ticket in a log file is a
 * working credential for anyone who can read it.
 */

export const REDACTED = '[redacted]';

// A JWS/JWE compact form: base64url of '{"' (eyJ) then 2..4 more dot-separated parts.
// The '-' and '_' guards stop us cutting a token out of the middle of a longer word.
const JWT_RE = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}/g;
// Credential-carrying query/form parameters: the ticket, and the common token names.
const PARAM_RE = /(?<=(?:^|[?&;\s"'])(?:ticket|token|access_token|id_token)=)[^&#;\s"']+/gi;
// Authorization header values, whatever the token looks like.
const BEARER_RE = /(?<=\bBearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;

/** Replaces JWTs, `ticket=...` (and `token=`, `access_token=`) values and bearer tokens with [redacted]. */
export function redact(s: string): string {
  return s.replace(JWT_RE, REDACTED).replace(PARAM_RE, REDACTED).replace(BEARER_RE, REDACTED);
}
