/**
 * How a connection proves who it is (PROTOCOL.md §2.3): a token in the upgrade's
 * Authorization header (Node, native apps), or a single-use ticket in the URL
 * (browsers, which cannot set headers on a WebSocket), fetched with the token from
 * POST /v1/tickets on the same node, or handed over by the app. Resolved afresh for
 * every connect, so a token function can refresh an expired token.
 */
import { RequestError } from './connection.js';

export type Auth =
  /** A JWT, or a function returning a fresh one (called before every connect). */
  | { token: string | (() => Promise<string>) }
  /** A function returning a single-use ticket (POST /v1/tickets) for each connect. */
  | { ticket: () => Promise<string> };

/** The URL to open and the headers to send (if the transport takes headers). */
export async function credentials(wsUrl: string, auth: Auth, via: 'header' | 'ticket', f: typeof fetch): Promise<{ url: string; headers?: Record<string, string> }> {
  if ('ticket' in auth) return { url: withTicket(wsUrl, await auth.ticket()) };
  const token = typeof auth.token === 'string' ? auth.token : await auth.token();
  if (via === 'header') return { url: wsUrl, headers: { authorization: `Bearer ${token}` } };
  return { url: withTicket(wsUrl, await fetchTicket(wsUrl, token, f)) };
}

function withTicket(url: string, ticket: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}`;
}

/**
 * POST /v1/tickets on the node behind `wsUrl` (ws→http, same host and port). A 401
 * rejects with its catalog code (unauthenticated, token_expired), which the engine
 * treats like a 4401/4402 close.
 */
async function fetchTicket(wsUrl: string, token: string, f: typeof fetch): Promise<string> {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/v1/tickets';
  u.search = '';
  const r = await f(u.toString(), { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const body = (await r.json().catch(() => ({}))) as { ticket?: string; code?: string; message?: string };
  if (r.status !== 201 || !body.ticket) throw new RequestError(body.code ?? 'unavailable', `POST /v1/tickets: ${r.status} ${body.message ?? ''}`, r.status >= 500);
  return body.ticket;
}
