/** The push outbox's config keys (node/config/): bounds and cross-key rules, each refusal naming its key. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, defaultConfig, validateConfig } from '../config.js';

function refused(push: Record<string, unknown>, key: string, why: RegExp): void {
  assert.throws(
    () => validateConfig({ ...defaultConfig(), push: { ...defaultConfig().push, ...push } }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${key}:`) && why.test(e.message),
  );
}

describe('push outbox config keys', () => {
  it('the defaults validate', () => {
    const cfg = validateConfig(defaultConfig());
    assert.equal(cfg.push.ackWaitMs, 5_000);
    assert.equal(cfg.push.collapseWindowMs, 10_000);
  });

  it('refuses out-of-range values naming the key', () => {
    refused({ ackWaitMs: -1 }, 'push.ackWaitMs', /integer/);
    refused({ maxAttempts: 0 }, 'push.maxAttempts', /integer/);
    refused({ ttlMs: 5 }, 'push.ttlMs', /integer/);
    refused({ maxDevicesPerUser: 'many' }, 'push.maxDevicesPerUser', /integer/);
  });

  it('retryBaseMs may not exceed retryMaxMs; endpointConcurrency may not exceed providerConcurrency', () => {
    refused({ retryBaseMs: 10_000, retryMaxMs: 1_000 }, 'push.retryBaseMs', /retryMaxMs/);
    refused({ endpointConcurrency: 50, providerConcurrency: 10 }, 'push.endpointConcurrency', /providerConcurrency/);
  });
});
