// The push.* config check at start: required keys of enabled providers, key material
// parsed (and refused naming the key), bounds, and error messages that never carry a
// secret.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, defaultConfig, merge, validateConfig, type Config } from '../../config.js';
import { checkPushCredentials } from './credentials_check.js';
import { apnsTestKey, serviceAccountFixture, vapidFixture, webhookSecret } from '../fakes/keys.js';

/** What the node does at start: the schema (validateConfig), then the key material (checkPushCredentials). */
const validate = (push: unknown): Config => {
  const cfg = validateConfig(merge(defaultConfig(), { push }));
  checkPushCredentials(cfg.push);
  return cfg;
};
function refused(push: unknown, key: string, problem: RegExp, secret?: string): void {
  assert.throws(() => validate(push), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.key, key, e.message);
    assert.match(e.message, problem);
    if (secret !== undefined) assert.ok(!e.message.includes(secret), 'the message must not carry the secret');
    return true;
  });
}

describe('push provider config', () => {
  const apns = apnsTestKey();
  const apnsOk = { enabled: true, teamId: apns.teamId, keyId: apns.keyId, topic: 'com.example.chat', keyPem: apns.pem };

  it('the defaults (every provider off) validate; enabled providers with good material validate', () => {
    validate({});
    const sa = serviceAccountFixture('https://oauth2.googleapis.com/token');
    const v = vapidFixture();
    const cfg = validate({
      apns: apnsOk,
      fcm: { enabled: true, serviceAccountJson: sa.json },
      webpush: { enabled: true, vapidPublicKey: v.publicKey, vapidPrivateKey: v.privateKey, subject: 'mailto:ops@example.com' },
      webhook: { enabled: true, secret: webhookSecret(), allowedOrigins: ['https://hooks.example.com', 'http://127.0.0.1:8099'] },
    });
    assert.equal(cfg.push.apns.tokenRefreshMs, 40 * 60_000);
  });

  it('APNs: required ids, the key (inline or file, not both, EC P-256), an https endpoint, a refresh between 20 and 59 min', () => {
    refused({ apns: { ...apnsOk, teamId: '' } }, 'push.apns.teamId', /is required when push.apns.enabled is true/);
    refused({ apns: { ...apnsOk, keyPem: '' } }, 'push.apns.keyFile', /is required \(or push.apns.keyPem\)/);
    refused({ apns: { ...apnsOk, keyPem: '', keyFile: '/nonexistent/AuthKey.p8' } }, 'push.apns.keyFile', /cannot read \/nonexistent\/AuthKey.p8: ENOENT/);
    refused({ apns: { ...apnsOk, keyFile: '/x.p8' } }, 'push.apns.keyPem', /not both/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    refused({ apns: { ...apnsOk, keyPem: rsa } }, 'push.apns.keyPem', /must be an EC P-256 private key \(got rsa\)/, rsa.slice(40, 80));
    refused({ apns: { ...apnsOk, keyPem: 'garbage-key-material' } }, 'push.apns.keyPem', /is not a PEM private key/, 'garbage-key-material');
    refused({ apns: { ...apnsOk, endpoint: 'http://api.push.apple.com' } }, 'push.apns.endpoint', /must be an https URL/);
    refused({ apns: { ...apnsOk, tokenRefreshMs: 10 * 60_000 } }, 'push.apns.tokenRefreshMs', /between 1200000 and 3540000/);
    refused({ apns: { ...apnsOk, caFile: '/nonexistent/ca.pem' } }, 'push.apns.caFile', /cannot read/);
    refused({ apns: { ...apnsOk, teamid: 'x' } }, 'push.apns.teamid', /unknown key/);
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-push-cfg-'));
    const keyFile = path.join(dir, 'AuthKey.p8');
    writeFileSync(keyFile, apns.pem);
    validate({ apns: { ...apnsOk, keyPem: '', keyFile } });
  });

  it('FCM: the service account must be JSON with client_email and an RSA private_key; projectId defaults to it', () => {
    const sa = serviceAccountFixture('https://oauth2.googleapis.com/token');
    refused({ fcm: { enabled: true, serviceAccountJson: '{"private_key": "-----BEGIN' } }, 'push.fcm.serviceAccountJson', /is not JSON/, 'BEGIN');
    const noEmail = JSON.stringify({ ...JSON.parse(sa.json), client_email: undefined });
    refused({ fcm: { enabled: true, serviceAccountJson: noEmail } }, 'push.fcm.serviceAccountJson', /has no client_email/);
    refused({ fcm: { enabled: true, serviceAccountFile: '/nonexistent/sa.json' } }, 'push.fcm.serviceAccountFile', /cannot read/);
    refused({ fcm: { enabled: true, serviceAccountJson: sa.json, tokenUri: 'not a url' } }, 'push.fcm.tokenUri', /http\(s\) URL/);
  });

  it('Web Push: the VAPID pair must match, the subject be mailto: or https:', () => {
    const v = vapidFixture();
    const other = vapidFixture();
    const ok = { enabled: true, vapidPublicKey: v.publicKey, vapidPrivateKey: v.privateKey, subject: 'https://example.com/contact' };
    validate({ webpush: ok });
    refused({ webpush: { ...ok, vapidPrivateKey: other.privateKey } }, 'push.webpush.vapidPrivateKey', /does not match push.webpush.vapidPublicKey/, other.privateKey);
    refused({ webpush: { ...ok, vapidPublicKey: 'AAAA' } }, 'push.webpush.vapidPublicKey', /65 bytes/);
    refused({ webpush: { ...ok, subject: 'ops@example.com' } }, 'push.webpush.subject', /mailto: or https:/);
    refused({ webpush: { ...ok, subject: '' } }, 'push.webpush.subject', /is required/);
  });

  it('webhook: a secret of at least 32 bytes, never echoed; allowedOrigins must be bare origins', () => {
    refused({ webhook: { enabled: true, secret: 'short-secret-value' } }, 'push.webhook.secret', /at least 32 bytes/, 'short-secret-value');
    refused({ webhook: { enabled: true } }, 'push.webhook.secretFile', /is required \(or push.webhook.secret\)/);
    refused({ webhook: { enabled: true, secret: webhookSecret() } }, 'push.webhook.allowedOrigins', /is required when push.webhook.enabled/);
    refused({ webhook: { enabled: false, allowedOrigins: ['https://hooks.example.com/path'] } }, 'push.webhook.allowedOrigins[0]', /must be an origin/);
    refused({ webhook: { enabled: false, secret: 12345 } }, 'push.webhook.secret', /^push.webhook.secret: must be a string$/);
  });
});
