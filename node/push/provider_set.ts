/**
 * The provider clients this node runs, by platform, from the config's `push.*`
 * provider sections: only enabled platforms get one (a device may register only for
 * those). Credentials were checked at config load (node/config.ts); they are parsed
 * again here, never logged.
 *
 * Until the providers' own factory (node/push/providers/index.ts) lands, this builds
 * the clients that exist; the webhook client is added the same way when it does.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import type { PushProvider } from './provider.js';
import type { PushPlatform } from './types.js';
import { ApnsProvider } from './providers/apns.js';
import { FcmProvider } from './providers/fcm.js';
import { WebPushProvider } from './providers/webpush.js';
import { loadApnsCredentials, loadServiceAccount, loadVapidKeys } from './providers/credentials.js';
import type { PushLog } from './providers/common.js';

export type ProviderSet = Partial<Record<PushPlatform, PushProvider>>;

/** Whether any push provider is enabled (otherwise the node runs no push at all). */
export function pushEnabled(cfg: Config): boolean {
  const p = cfg.push;
  return p.apns.enabled || p.fcm.enabled || p.webpush.enabled || p.webhook.enabled;
}

export function createProviders(cfg: Config, log?: PushLog): ProviderSet {
  const p = cfg.push;
  const out: ProviderSet = {};
  if (p.apns.enabled) {
    out.apns = new ApnsProvider({
      endpoint: p.apns.endpoint,
      topic: p.apns.topic,
      credentials: loadApnsCredentials(p.apns),
      tokenRefreshMs: p.apns.tokenRefreshMs,
      timeoutMs: p.apns.timeoutMs,
      ca: p.apns.caFile ? readFileSync(p.apns.caFile) : undefined,
      log,
    });
  }
  if (p.fcm.enabled) out.fcm = new FcmProvider({ endpoint: p.fcm.endpoint, serviceAccount: loadServiceAccount(p.fcm), timeoutMs: p.fcm.timeoutMs, log });
  if (p.webpush.enabled) {
    out.webpush = new WebPushProvider({ vapid: loadVapidKeys(p.webpush), subject: p.webpush.subject, allowHttp: p.webpush.allowHttp, timeoutMs: p.webpush.timeoutMs, log });
  }
  return out;
}
