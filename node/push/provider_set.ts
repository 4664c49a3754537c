/**
 * The provider clients this node runs, by platform: the providers' factory
 * (node/push/providers/index.ts) over the config's `push.*` provider sections. Only
 * enabled platforms get one, and a device may register only for those.
 */
import type { Config } from '../config.js';
import { buildPushProviders, type PushProviders } from './providers/index.js';
import type { PushLog } from './providers/common.js';

export type ProviderSet = PushProviders;

/** Whether any push provider is enabled (otherwise the node runs no push at all). */
export function pushEnabled(cfg: Config): boolean {
  const p = cfg.push;
  return p.apns.enabled || p.fcm.enabled || p.webpush.enabled || p.webhook.enabled;
}

export function createProviders(cfg: Config, log?: PushLog): ProviderSet {
  return buildPushProviders(cfg.push, log ? { log } : {});
}
