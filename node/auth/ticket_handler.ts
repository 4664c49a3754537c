/**
 * The logic of `POST /v1/tickets`, free of HTTP: the lead's HTTP adapter passes the
 * Authorization header value in and writes {status, headers, body} out as JSON.
 *
 *   201 {"ticket": "<43 chars>", "expires_at": <ms since epoch>}
 *   401 {"code": "unauthenticated" | "token_expired", "message": "..."}
 */
import { AuthError } from './errors.js';
import type { IssuedTicket } from './tickets.js';
import type { Identity } from './types.js';
import { bearerFromHeader, type Verifier } from './verify.js';

export type TicketResponse =
  | { status: 201; headers: Record<string, string>; body: { ticket: string; expires_at: number } }
  | { status: 401; headers: Record<string, string>; body: { code: AuthError['code']; message: string } };

/** Only what the handler uses of TicketStore, so tests can pass a stub. */
export interface TicketIssuer {
  issue(identity: Identity): IssuedTicket;
}

// A ticket is a credential: no proxy or browser cache may keep the response.
const NO_STORE = { 'cache-control': 'no-store' };

export async function handleTicketRequest(
  authHeader: string | null | undefined,
  verifier: Verifier,
  store: TicketIssuer,
): Promise<TicketResponse> {
  const token = bearerFromHeader(authHeader);
  if (token === null) {
    return unauthorized('unauthenticated', 'Authorization header must be "Bearer <token>"');
  }
  try {
    const { ticket, expiresAt } = store.issue(await verifier.verify(token));
    return { status: 201, headers: { ...NO_STORE }, body: { ticket, expires_at: expiresAt } };
  } catch (err) {
    if (err instanceof AuthError) return unauthorized(err.code, err.message);
    throw err;
  }
}

function unauthorized(code: AuthError['code'], message: string): TicketResponse {
  // RFC 6750 §3: tell the client which scheme to use, and that the token was the problem.
  const challenge = code === 'token_expired' ? 'Bearer error="invalid_token", error_description="token expired"' : 'Bearer error="invalid_token"';
  return { status: 401, headers: { ...NO_STORE, 'www-authenticate': challenge }, body: { code, message } };
}
