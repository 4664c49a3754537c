/**
 * The provider factory: one client per enabled platform in the `push` config, built
 * from the credentials the config check already parsed (credentials.ts). The node
 * (node/push/push_service.ts) holds the result as `providers`; a platform that is off
 * has no entry, and registrations for it are refused.
 */
import type { PushProvidersConfig } from '../../config.js';
import type { PushPlatform, PushProvider } from '../provider.js';
import { ApnsProvider } from './apns.js';
import type { ProviderEnv } from './common.js';
import { loadPushCredentials, type PushCredentials } from './credentials.js';
import { FcmProvider } from './fcm.js';
import { WebhookProvider } from './webhook.js';
import { WebPushProvider } from './webpush.js';

export type PushProviders = Partial<Record<PushPlatform, PushProvider>>;

/** Builds the enabled providers; throws PushCredentialError (naming the key) on bad key material. */
export function buildPushProviders(push: PushProvidersConfig, env: ProviderEnv = {}, creds: PushCredentials = loadPushCredentials(push)): PushProviders {
  const out: PushProviders = {};
  if (creds.apns) {
    const a = push.apns;
    out.apns = new ApnsProvider({ ...env, endpoint: a.endpoint, topic: a.topic, credentials: creds.apns, tokenRefreshMs: a.tokenRefreshMs, timeoutMs: a.timeoutMs, ...(creds.apns.ca !== undefined ? { ca: creds.apns.ca } : {}) });
  }
  if (creds.fcm) out.fcm = new FcmProvider({ ...env, endpoint: push.fcm.endpoint, serviceAccount: creds.fcm, timeoutMs: push.fcm.timeoutMs });
  if (creds.webpush) {
    const w = push.webpush;
    out.webpush = new WebPushProvider({ ...env, vapid: creds.webpush, subject: w.subject, allowHttp: w.allowHttp, endpointHosts: w.endpointHosts, timeoutMs: w.timeoutMs });
  }
  if (creds.webhook) {
    const h = push.webhook;
    out.webhook = new WebhookProvider({ ...env, secret: creds.webhook.secret, allowedOrigins: h.allowedOrigins, allowHttp: h.allowHttp, timeoutMs: h.timeoutMs });
  }
  return out;
}

export async function closePushProviders(p: PushProviders): Promise<void> {
  await Promise.all(Object.values(p).map((x) => x.close()));
}

export { parseSubscription } from './webpush.js';
export { checkWebhookUrl } from './webhook.js';
export { tokenTag } from './payload.js';
