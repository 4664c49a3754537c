/**
 * Validating a config: every key against the schema (unknown keys refused), the
 * cross-key rules, auth keys and push credentials; merging a file over the defaults.
 */
import { validateAuthConfig } from '../auth/config.js';
import { AuthConfigError } from '../auth/errors.js';
import { ConfigError, isPlainObject, validateAgainst } from './checks.js';
import { schema } from './schema.js';
import type { Config } from './types.js';
/** The fields of an object-valued key, for the reference: each with its default (or required). */




/** Deep-merge `over` onto `base` (objects merge, everything else replaces). */
export function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v) : v;
  return out;
}

/** Validate a full (defaults already merged) config object. */
export function validateConfig(raw: unknown): Config {
  const cfg = validateAgainst(raw, schema, '', {}) as unknown as Config;
  if (cfg.limits.defaultSyncPage > cfg.limits.maxSyncPage) {
    throw new ConfigError('limits.defaultSyncPage', 'must not exceed limits.maxSyncPage');
  }
  if (cfg.limits.heartbeatMs >= cfg.limits.idleTimeoutMs) {
    throw new ConfigError('limits.heartbeatMs', 'must be smaller than limits.idleTimeoutMs');
  }
  if (cfg.auth.keys.length > 0) {
    // Parses and checks the keys themselves (PEMs, secret lengths, key pairs).
    try {
      validateAuthConfig({ clockToleranceSec: cfg.auth.clockToleranceSec, ticketTtlMs: cfg.auth.ticketTtlMs, keys: cfg.auth.keys }, 'auth');
    } catch (e) {
      if (e instanceof AuthConfigError) throw new ConfigError(e.path, e.problem);
      throw e;
    }
  }
  if (cfg.cluster.enabled && cfg.store.kind !== 'cassandra') {
    throw new ConfigError('cluster.enabled', 'a cluster needs a shared store: set store.kind to cassandra');
  }
  if (cfg.media.store === 's3' && (cfg.media.s3.accessKeyId === '') !== (cfg.media.s3.secretAccessKey === '')) {
    throw new ConfigError(cfg.media.s3.accessKeyId === '' ? 'media.s3.accessKeyId' : 'media.s3.secretAccessKey', 'set both media.s3.accessKeyId and media.s3.secretAccessKey, or neither (the AWS SDK\'s default credential chain)');
  }
  if (cfg.cluster.enabled && cfg.cluster.links.heartbeatMs >= cfg.cluster.links.deadAfterMs) {
    throw new ConfigError('cluster.links.heartbeatMs', 'must be smaller than cluster.links.deadAfterMs');
  }
  if (cfg.cluster.enabled && cfg.media.enabled && cfg.media.store !== 's3') {
    throw new ConfigError('media.store', 'a cluster needs a shared blob store, every node seeing the same blobs: set media.store to s3 (and media.s3), or media.enabled to false');
  }
  // A per-sender bucket larger than the whole conversation's never binds: a typo, not a choice.
  if (cfg.limits.conversationSenderRatePerSec > cfg.limits.conversationSendRatePerSec) {
    throw new ConfigError('limits.conversationSenderRatePerSec', 'must not exceed limits.conversationSendRatePerSec');
  }
  if (cfg.limits.conversationSenderBurst > cfg.limits.conversationSendBurst) {
    throw new ConfigError('limits.conversationSenderBurst', 'must not exceed limits.conversationSendBurst');
  }
  if (cfg.limits.maxMessageBytes > cfg.limits.maxFrameBytes) {
    throw new ConfigError('limits.maxMessageBytes', 'must not exceed limits.maxFrameBytes');
  }
  if (cfg.push.retryBaseMs > cfg.push.retryMaxMs) throw new ConfigError('push.retryBaseMs', 'must not exceed push.retryMaxMs');
  if (cfg.push.endpointConcurrency > cfg.push.providerConcurrency) throw new ConfigError('push.endpointConcurrency', 'must not exceed push.providerConcurrency');
  return cfg;
}

