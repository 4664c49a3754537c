/**
 * The start-up check of the push section that needs more than the schema: the keys a
 * provider requires when enabled, and its key material read and parsed (files exist,
 * PEM/JSON well formed, key pairs match). Run by node/main.ts right after the config
 * loads and by `switchboardctl config check`; a problem stops the node with a
 * ConfigError naming the key (never the secret). Kept out of node/config/ so the
 * config does not depend on the push providers.
 */
import { ConfigError, type PushConfig } from '../../config.js';
import { loadPushCredentials, PushCredentialError } from './credentials.js';

export function checkPushCredentials(p: PushConfig): void {
  const need = (section: string, keys: Record<string, string>): void => {
    for (const [k, v] of Object.entries(keys)) if (v === '') throw new ConfigError(`push.${section}.${k}`, `is required when push.${section}.enabled is true`);
  };
  if (p.apns.enabled) need('apns', { teamId: p.apns.teamId, keyId: p.apns.keyId, topic: p.apns.topic });
  if (p.webpush.enabled) need('webpush', { vapidPublicKey: p.webpush.vapidPublicKey, subject: p.webpush.subject });
  try {
    loadPushCredentials(p);
  } catch (e) {
    if (e instanceof PushCredentialError) throw new ConfigError(e.path, e.problem);
    throw e;
  }
}
