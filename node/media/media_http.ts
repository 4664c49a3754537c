/**
 * The HTTP API's media routes for app backends (API key; node/http_api.ts hooks them
 * in): the same ops a socket sends, on behalf of a user.
 *
 *   POST /v1/media/slots  {user, conversation, size, mime, sha256?}  201 {media_id, upload_url, expires_at_ms}
 *   POST /v1/media/urls   {user, conversation, media_id}             200 {media_id, url, expires_at_ms, mime, size, sha256}
 *
 * A send carries the upload with `"media_id"` on POST /v1/messages.
 */
import { CatalogError } from '../../protocol/errors.js';
import type { HttpRequest, HttpResponse } from '../../shards/messages.js';
import type { Caller } from '../core/chat_service.js';
import { USER_ID } from '../core/op_rules.js';
import type { CoreOp, CoreResult, MediaRefInfo } from '../core/ops.js';

type Run = (caller: Caller, op: CoreOp) => Promise<CoreResult>;

/** The answer for a media route, or null when the request is not one. Throws CatalogError on a refusal. */
export async function mediaRoute(req: HttpRequest, run: Run): Promise<HttpResponse | null> {
  if (req.method !== 'POST' || (req.path !== '/v1/media/slots' && req.path !== '/v1/media/urls')) return null;
  const b = body(req.body);
  const user = b.user;
  if (typeof user !== 'string' || !USER_ID.test(user)) throw new CatalogError('invalid_argument', 'user: must be a user id');
  const caller: Caller = { user, device: 'api', conn: null };
  const conversation = text(b, 'conversation');
  if (req.path === '/v1/media/slots') {
    const size = b.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) throw new CatalogError('invalid_argument', 'size: must be a positive integer (bytes)');
    const sha256 = b.sha256 === undefined ? '' : b.sha256;
    if (typeof sha256 !== 'string') throw new CatalogError('invalid_argument', 'sha256: must be a string');
    const res = ok(await run(caller, { op: 'media_slot', conversation, size, mime: text(b, 'mime'), sha256 }), 'media_slot');
    return { status: 201, body: { media_id: res.slot.mediaId, upload_url: res.slot.uploadUrl, expires_at_ms: res.slot.expiresAt } };
  }
  const res = ok(await run(caller, { op: 'media_url', conversation, mediaId: text(b, 'media_id') }), 'media_url');
  const u = res.url;
  return { status: 200, body: { media_id: u.mediaId, url: u.url, expires_at_ms: u.expiresAt, mime: u.mime, size: u.size, sha256: u.sha256 } };
}

/** A message's media reference as the HTTP API shows it. */
export function mediaJson(r: MediaRefInfo | null): Record<string, unknown> | undefined {
  return r ? { media_id: r.mediaId, mime: r.mime, size: r.size, sha256: r.sha256, width: r.width, height: r.height, blurhash: r.blurhash ?? '' } : undefined;
}

function ok<K extends CoreResult['r']>(res: CoreResult, r: K): Extract<CoreResult, { r: K }> {
  if (res.r === 'error') throw new CatalogError(res.code, res.message, res.retryAfterMs);
  if (res.r !== r) throw new CatalogError('internal', `unexpected result ${res.r}`);
  return res as Extract<CoreResult, { r: K }>;
}

function body(s: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(s || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* refused below */
  }
  throw new CatalogError('bad_frame', 'the body must be a JSON object');
}

function text(b: Record<string, unknown>, key: string): string {
  const v = b[key];
  if (typeof v !== 'string' || v === '') throw new CatalogError('invalid_argument', `${key}: required string`);
  return v;
}
