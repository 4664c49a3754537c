/**
 * The push routes of the HTTP API (app backends, API key checked by node/http_api.ts
 * before these run), PROTOCOL.md §14.3:
 *
 *   PUT    /v1/users/:user/devices/:device/push   register (or replace) a device
 *   DELETE /v1/users/:user/devices/:device/push   unregister it
 *   GET    /v1/users/:user/push                   the user's registrations (tokens redacted)
 *   PUT    /v1/users/:user/mutes/:conversation    mute / unmute a conversation
 *
 * Refusals are CatalogErrors; http_api.ts turns them into statuses.
 */
import type { HttpRequest, HttpResponse } from '../../shards/messages.js';
import { CatalogError } from '../../protocol/errors.js';
import { ID_PATTERN } from '../core/ids.js';
import type { RegistrationInput } from './registration.js';
import type { RegistrationView } from './push_service.js';

/** What the routes need of the push service. */
export interface PushApi {
  register(user: string, device: string, input: RegistrationInput): Promise<RegistrationView>;
  unregister(user: string, device: string): Promise<boolean>;
  list(user: string): Promise<RegistrationView[]>;
  mute(user: string, conversation: string, mute: { durationSec: number; forever: boolean }): Promise<number>;
}

const DEVICE_PUSH = /^\/v1\/users\/([^/]+)\/devices\/([^/]+)\/push$/;
const USER_PUSH = /^\/v1\/users\/([^/]+)\/push$/;
const MUTE = /^\/v1\/users\/([^/]+)\/mutes\/([^/]+)$/;

/** The response of a push route, or null when `req` is not one. */
export async function pushRoute(req: HttpRequest, push: PushApi): Promise<HttpResponse | null> {
  const { method, path } = req;
  let m = DEVICE_PUSH.exec(path);
  if (m) {
    const user = id('user', m[1]);
    const device = id('device', m[2]);
    if (method === 'PUT') {
      const b = body(req.body);
      const sub = b.subscription;
      if (sub !== undefined && (typeof sub !== 'object' || sub === null || Array.isArray(sub))) throw new CatalogError('invalid_argument', 'subscription: must be an object');
      const s = sub as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown }; p256dh?: unknown; auth?: unknown } | undefined;
      const input: RegistrationInput = {
        platform: opt(b, 'platform'),
        token: opt(b, 'token'),
        appId: opt(b, 'app_id'),
        mode: opt(b, 'mode'),
        // Both the browser's PushSubscription.toJSON() shape and the socket frame's flat one.
        subscription: s ? { endpoint: strOf(s.endpoint), keys: { p256dh: strOf(s.keys?.p256dh ?? s.p256dh), auth: strOf(s.keys?.auth ?? s.auth) } } : null,
      };
      return { status: 200, body: viewJson(await push.register(user, device, input)) };
    }
    if (method === 'DELETE') return { status: 200, body: { registered: false, removed: await push.unregister(user, device) } };
  }
  m = USER_PUSH.exec(path);
  if (m && method === 'GET') return { status: 200, body: { registrations: (await push.list(id('user', m[1]))).map(viewJson) } };
  m = MUTE.exec(path);
  if (m && method === 'PUT') {
    const user = id('user', m[1]);
    const conversation = decodeURIComponent(m[2]);
    const b = body(req.body);
    const d = b.duration_sec ?? 0;
    if (typeof d !== 'number') throw new CatalogError('invalid_argument', 'duration_sec: must be a number of seconds');
    const until = await push.mute(user, conversation, { durationSec: d, forever: b.forever === true });
    return { status: 200, body: { conversation, muted_until_ms: until } };
  }
  return null;
}

function viewJson(v: RegistrationView): Record<string, unknown> {
  return { platform: v.platform, device: v.device, app_id: v.appId, mode: v.mode, token: v.token };
}

function id(field: string, raw: string): string {
  const v = decodeURIComponent(raw);
  if (!ID_PATTERN.test(v)) throw new CatalogError('invalid_argument', `${field}: must be 1..128 chars of [A-Za-z0-9._:@-]`);
  return v;
}

function body(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* refused below */
  }
  throw new CatalogError('bad_frame', 'the body must be a JSON object');
}

function opt(b: Record<string, unknown>, key: string): string {
  const v = b[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new CatalogError('invalid_argument', `${key}: must be a string`);
  return v;
}

function strOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
