/**
 * Checking what a device registers, the same for the socket frame and the HTTP API:
 * platform (enabled on this node), token or Web Push subscription in the shape its
 * provider takes, app id, mode; a mute's conversation and end. Each refusal is a
 * CatalogError naming the field (`invalid_argument`, `limit_exceeded`), never quoting
 * a token back.
 */
import { CatalogError } from '../../protocol/errors.js';
import type { PushMode, PushPlatform, PushRegistration } from './types.js';
import { hostAllowed } from './endpoint_hosts.js';

export const PLATFORMS: readonly PushPlatform[] = ['apns', 'fcm', 'webpush', 'webhook'];

/** What a client sends (socket frame or HTTP body), before checks. */
export interface RegistrationInput {
  platform: string;
  /** apns / fcm: the token; webhook: the URL. */
  token?: string;
  /** webpush: the browser's PushSubscription (endpoint, keys.p256dh, keys.auth). */
  subscription?: { endpoint?: string; keys?: { p256dh?: string; auth?: string } } | null;
  appId?: string;
  mode?: string;
}

export interface RegistrationPolicy {
  /** Platforms whose provider is enabled on this node. */
  enabled: ReadonlySet<PushPlatform>;
  /** Plain-http endpoints accepted (local test servers), per platform. */
  allowHttp: { webpush: boolean; webhook: boolean };
  /** Webhook origins allowed; empty = any. */
  webhookOrigins: readonly string[];
  /** Web Push endpoint hosts allowed (endpoint_hosts.ts); empty = any. */
  webpushHosts: readonly string[];
}

const APNS_TOKEN = /^[0-9a-fA-F]{64,200}$/;
// FCM registration tokens are ~150-200 chars of base64url with a ':' in them.
const FCM_TOKEN = /^[A-Za-z0-9_:-]{20,4096}$/;
const APP_ID = /^[A-Za-z0-9._-]{0,255}$/;
const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;

const bad = (field: string, why: string): CatalogError => new CatalogError('invalid_argument', `${field}: ${why}`);

/** The registration to store for (user, device), or a CatalogError. */
export function checkRegistration(user: string, device: string, input: RegistrationInput, policy: RegistrationPolicy, now: number): PushRegistration {
  const platform = input.platform as PushPlatform;
  if (!PLATFORMS.includes(platform)) throw bad('platform', `must be one of ${PLATFORMS.join(', ')}`);
  if (!policy.enabled.has(platform)) throw bad('platform', `${platform} push is not enabled on this server`);
  const mode = (input.mode || 'wake') as PushMode;
  if (mode !== 'wake' && mode !== 'preview') throw bad('mode', 'must be wake or preview');
  const appId = input.appId ?? '';
  if (!APP_ID.test(appId)) throw bad('app_id', 'must be up to 255 chars of [A-Za-z0-9._-]');
  let token: string;
  switch (platform) {
    case 'apns':
      token = input.token ?? '';
      if (!APNS_TOKEN.test(token)) throw bad('token', 'an APNs device token is 64..200 hex digits');
      break;
    case 'fcm':
      token = input.token ?? '';
      if (!FCM_TOKEN.test(token)) throw bad('token', 'an FCM registration token is 20..4096 chars of [A-Za-z0-9_:-]');
      break;
    case 'webpush':
      token = subscriptionToken(input.subscription, policy);
      break;
    case 'webhook':
      token = webhookUrl(input.token ?? '', policy);
      break;
  }
  return { user, device, platform, token, appId, mode, updatedAt: now };
}

function subscriptionToken(sub: RegistrationInput['subscription'], policy: RegistrationPolicy): string {
  if (!sub || typeof sub !== 'object') throw bad('subscription', 'required for webpush: {endpoint, keys: {p256dh, auth}}');
  const endpoint = httpUrl('subscription.endpoint', sub.endpoint ?? '', policy.allowHttp.webpush);
  const host = new URL(endpoint).hostname;
  if (!hostAllowed(host, policy.webpushHosts)) throw bad('subscription.endpoint', `host ${host} is not a push service this server sends to`);
  const p256dh = sub.keys?.p256dh ?? '';
  const auth = sub.keys?.auth ?? '';
  // RFC 8291: p256dh is an uncompressed P-256 point (65 bytes), auth a 16-byte secret.
  if (!B64URL.test(p256dh) || Buffer.from(p256dh, 'base64url').length !== 65) throw bad('subscription.keys.p256dh', 'must be base64url of a 65-byte uncompressed P-256 point');
  if (!B64URL.test(auth) || Buffer.from(auth, 'base64url').length !== 16) throw bad('subscription.keys.auth', 'must be base64url of 16 bytes');
  return JSON.stringify({ endpoint, keys: { p256dh, auth } });
}

function webhookUrl(raw: string, policy: RegistrationPolicy): string {
  const url = httpUrl('token', raw, policy.allowHttp.webhook);
  const origin = new URL(url).origin;
  if (policy.webhookOrigins.length && !policy.webhookOrigins.includes(origin)) throw bad('token', `webhook origin ${origin} is not allowed on this server`);
  return url;
}

function httpUrl(field: string, raw: string, allowHttp: boolean): string {
  if (raw.length === 0 || raw.length > 2048) throw bad(field, 'must be a URL of 1..2048 chars');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(field, 'must be an absolute URL');
  }
  if (u.protocol !== 'https:' && !(allowHttp && u.protocol === 'http:')) throw bad(field, allowHttp ? 'must be http(s)' : 'must be https');
  if (u.username || u.password) throw bad(field, 'must not carry credentials');
  return u.toString();
}

/** A mute's end (ms since epoch) from its duration: 0 unmutes, `forever` mutes until unmuted. */
export function checkMute(conversation: string, mute: { durationSec: number; forever: boolean }, now: number): number {
  if (!conversation || conversation.length > 256) throw bad('conversation', 'required, up to 256 chars');
  if (mute.forever) return Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(mute.durationSec) || mute.durationSec < 0 || mute.durationSec > 0xffffffff) throw bad('duration_sec', 'must be an integer from 0 (unmute) to 4294967295');
  return mute.durationSec === 0 ? 0 : now + mute.durationSec * 1000;
}

/** Refuse a new device past the per-user cap (re-registering a known device always works). */
export function checkDeviceCap(existing: readonly PushRegistration[], device: string, max: number): void {
  if (existing.some((r) => r.device === device)) return;
  if (existing.length >= max) throw new CatalogError('limit_exceeded', `at most ${max} push registrations per user; unregister one first`);
}
