/**
 * The HTTP API, free of sockets: a request in, {status, body} out. Socket shards
 * receive the HTTP requests and forward them here (the host thread).
 *
 *   GET  /healthz                                   liveness
 *   GET  /readyz                                    200 when accepting, 503 while draining
 *   POST /v1/tickets                    (user JWT)  single-use WebSocket ticket for browsers
 *   POST /v1/conversations/direct       (API key)   {"users": [a, b]} -> the 1:1 conversation
 *   POST /v1/messages                   (API key)   send on behalf of a user (same dedup and order)
 *   GET  /v1/conversations/:id/messages (API key)   history, newest first: ?before=<seq>&limit=<n>
 *   POST /v1/media/slots, /v1/media/urls (API key)   media upload slots and download URLs (node/media/media_http.ts)
 *   GET  /metrics                                   Prometheus text, all threads merged
 *   /admin/*                            (API key)   status, connections, sessions, kick, drain, trace, cluster,
 *                                                   log-level: node/admin/admin_routes.ts (audited)
 *   GET  /web/, POST /web/dev-signin                the browser chat (node/web/serve.ts), when web.enabled
 *   PUT|DELETE /v1/users/:u/devices/:d/push, GET /v1/users/:u/push, PUT /v1/users/:u/mutes/:c
 *                                       (API key)   push registrations and mutes (node/push/push_http.ts)
 *
 * Errors are JSON {code, message} with codes from protocol/codes.ts.
 */
import { ERROR_CODES, type ErrorCode } from '../protocol/codes.js';
import type { HttpRequest, HttpResponse } from '../shards/messages.js';
import type { Caller } from './core/chat_service.js';
import { CatalogError } from '../protocol/errors.js';
import { ID_PATTERN } from './core/ids.js';
import { handleTicketRequest } from './auth/ticket_handler.js';
import type { TicketStore } from './auth/tickets.js';
import type { Verifier } from './auth/verify.js';
import type { CoreOp, CoreResult } from './core/ops.js';
import { pushRoute, type PushApi } from './push/push_http.js';
import { mediaJson, mediaRoute } from './media/media_http.js';
import { clientMeta, mediaOfMeta } from './core/ops.js';
import { handleAdmin, type AdminApi } from './admin/admin_routes.js';
import { apiKeyMatches } from './admin/admin_auth.js';

export interface HttpApiDeps {
  /** Runs an op like a socket's (here or at the conversation's owner node). */
  run: (caller: Caller, op: CoreOp) => Promise<CoreResult>;
  verifier: Verifier;
  tickets: TicketStore;
  apiKeys: string[];
  ready: () => boolean;
  metrics?: () => Promise<string>;
  /** The admin API's operations (node/admin/admin_service.ts). */
  admin?: AdminApi;
  /** The web chat's routes under /web (node/web/serve.ts); absent when web.enabled is false. */
  web?: (req: HttpRequest) => Promise<HttpResponse>;
  /** Push registrations and mutes (node/push/); absent when no push provider is enabled. */
  push?: PushApi;
}

/** A CoreResult of the expected kind, or its error thrown as a CatalogError. */
function expect<K extends CoreResult['r']>(res: CoreResult, r: K): Extract<CoreResult, { r: K }> {
  if (res.r === 'error') throw new CatalogError(res.code, res.message, res.retryAfterMs);
  if (res.r !== r) throw new CatalogError('internal', `unexpected result ${res.r}`);
  return res as Extract<CoreResult, { r: K }>;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  bad_frame: 400,
  invalid_argument: 400,
  unknown_frame_type: 404,
  not_member: 404,
  forbidden: 403,
  unauthenticated: 401,
  token_expired: 401,
  rate_limited: 429,
  overloaded: 503,
  unavailable: 503,
  timeout: 504,
  limit_exceeded: 413,
  quota_exceeded: 429,
  media_size_mismatch: 422,
  media_hash_mismatch: 422,
  media_type_mismatch: 422,
  frame_too_large: 413,
  internal: 500,
};

/**
 * An error as HTTP: the status, the catalog code, and for a retryable refusal that
 * says when (rate_limited, overloaded, ...) `retry_after_ms` in the body and the
 * standard `Retry-After` header (whole seconds, rounded up; RFC 9110 §10.2.3).
 */
export function errorResponse(code: ErrorCode, message: string, retryAfterMs = 0): HttpResponse {
  const body: Record<string, unknown> = { code, message, retryable: ERROR_CODES[code].retryable };
  if (retryAfterMs > 0) body.retry_after_ms = retryAfterMs;
  const headers = retryAfterMs > 0 ? { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) } : undefined;
  return { status: STATUS_OF[code] ?? 400, body, ...(headers ? { headers } : {}) };
}

export async function handleHttp(req: HttpRequest, deps: HttpApiDeps): Promise<HttpResponse> {
  try {
    return await route(req, deps);
  } catch (e) {
    if (e instanceof CatalogError) return errorResponse(e.code, e.message, e.retryAfterMs ?? 0);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code in ERROR_CODES) return errorResponse(code as ErrorCode, (e as Error).message);
    return errorResponse('internal', 'internal error');
  }
}

async function route(req: HttpRequest, deps: HttpApiDeps): Promise<HttpResponse> {
  const { method, path } = req;
  if (method === 'GET' && path === '/healthz') return { status: 200, body: { status: 'ok' } };
  if (method === 'GET' && path === '/readyz') return deps.ready() ? { status: 200, body: { status: 'ready' } } : { status: 503, body: { status: 'draining' } };
  if (method === 'GET' && path === '/metrics' && deps.metrics) return { status: 200, body: null, text: await deps.metrics() };
  // Authenticated, audited and answered in node/admin/admin_routes.ts.
  if (path.startsWith('/admin/') && deps.admin) return handleAdmin(req, deps.admin, deps.apiKeys);
  if (deps.web && (path === '/web' || path.startsWith('/web/'))) return deps.web(req);
  if (method === 'POST' && path === '/v1/tickets') {
    const r = await handleTicketRequest(req.authorization, deps.verifier, deps.tickets);
    return { status: r.status, headers: r.headers, body: r.body };
  }
  if (path.startsWith('/v1/')) {
    if (!apiKeyOk(req.authorization, deps.apiKeys)) {
      return errorResponse('unauthenticated', deps.apiKeys.length ? 'Authorization: Bearer <api key> required' : 'the HTTP API is off: set api.keys in the config');
    }
    if (method === 'POST' && path === '/v1/conversations/direct') {
      const b = json(req.body);
      const users = b.users;
      if (!Array.isArray(users) || users.length !== 2 || users.some((u) => typeof u !== 'string' || !ID_PATTERN.test(u))) {
        return errorResponse('invalid_argument', 'users: must be two user ids');
      }
      const caller: Caller = { user: users[0] as string, device: 'api', conn: null };
      const { conversation: conv } = expect(await deps.run(caller, { op: 'open_direct', peer: users[1] as string }), 'direct_opened');
      return { status: 200, body: { conversation: conv.id, members: conv.members.map((m) => m.user) } };
    }
    if (method === 'POST' && path === '/v1/messages') {
      const b = json(req.body);
      const sender = str(b, 'sender');
      if (!ID_PATTERN.test(sender)) return errorResponse('invalid_argument', 'sender: must be a user id');
      const device = typeof b.sender_device === 'string' && b.sender_device ? b.sender_device : 'api';
      const meta = b.meta ?? {};
      if (typeof meta !== 'object' || Array.isArray(meta) || Object.values(meta).some((v) => typeof v !== 'string')) {
        return errorResponse('invalid_argument', 'meta: must be an object of strings');
      }
      if (b.media_id !== undefined && (typeof b.media_id !== 'string' || b.media_id === '')) return errorResponse('invalid_argument', 'media_id: must be a string');
      const { ack } = expect(
        await deps.run(
          { user: sender, device, conn: null },
          {
            op: 'send',
            conversation: str(b, 'conversation'),
            clientMsgId: str(b, 'client_msg_id'),
            body: typeof b.body === 'string' ? b.body : '',
            meta: meta as Record<string, string>,
            ...(typeof b.media_id === 'string' ? { mediaId: b.media_id } : {}),
          },
        ),
        'send_ack',
      );
      return {
        status: ack.duplicate ? 200 : 201,
        body: { conversation: ack.conversation, client_msg_id: ack.clientMsgId, message_id: ack.messageId, seq: ack.seq, server_ts: ack.serverTs, duplicate: ack.duplicate },
      };
    }
    const pushed = deps.push ? await pushRoute(req, deps.push) : null;
    if (pushed) return pushed;
    const media = await mediaRoute(req, deps.run);
    if (media) return media;
    const m = /^\/v1\/conversations\/([^/]+)\/messages$/.exec(path);
    if (method === 'GET' && m) {
      const q = new URLSearchParams(req.query);
      const before = intParam(q, 'before', 0);
      const limit = intParam(q, 'limit', 50);
      const { page } = expect(await deps.run({ user: '', device: 'api', conn: null, backend: true }, { op: 'history', conversation: decodeURIComponent(m[1]), beforeSeq: before, limit }), 'history_page');
      return {
        status: 200,
        body: {
          conversation: page.conversation,
          has_more: page.hasMore,
          first_seq: page.firstSeq,
          messages: page.messages.map((x) => ({
            seq: x.seq,
            message_id: x.messageId,
            sender: x.sender,
            sender_device: x.senderDevice,
            client_msg_id: x.clientMsgId,
            body: x.body,
            meta: clientMeta(x.meta),
            server_ts: x.serverTs,
            media: mediaJson(mediaOfMeta(x.meta)),
          })),
        },
      };
    }
  }
  return { status: 404, body: { code: 'invalid_argument', message: `no route ${method} ${path}` } };
}

/** Constant time over the key's content and length (node/admin/admin_auth.ts). */
const apiKeyOk = apiKeyMatches;

function json(body: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(body || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new CatalogError('bad_frame', 'the body must be a JSON object');
}

function str(b: Record<string, unknown>, key: string): string {
  const v = b[key];
  if (typeof v !== 'string' || v === '') throw new CatalogError('invalid_argument', `${key}: required string`);
  return v;
}

function intParam(q: URLSearchParams, key: string, dflt: number): number {
  const v = q.get(key);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  // Above 2^53 - 1 a number is already rounded here: refuse it rather than answer
  // for a neighbouring seq (the socket decoder does the same, PROTOCOL.md §3.3).
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new CatalogError('invalid_argument', `${key}: must be an integer from 0 to 2^53 - 1`);
  return n;
}
