/** Registration checks: each platform's token shape, enabled platforms, modes, mutes, the per-user cap. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogError } from '../../protocol/errors.js';
import { checkDeviceCap, checkMute, checkRegistration, type RegistrationPolicy } from './registration.js';
import { DEFAULT_WEBPUSH_HOSTS, hostAllowed, isHostPattern } from './endpoint_hosts.js';

const all: RegistrationPolicy = { enabled: new Set(['apns', 'fcm', 'webpush', 'webhook']), allowHttp: { webpush: false, webhook: false }, webhookOrigins: [], webpushHosts: [] };
const p256dh = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url');
const auth = Buffer.alloc(16, 1).toString('base64url');
const refused = (fn: () => unknown, code: string, field: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof CatalogError && e.code === code && field.test(e.message));

describe('push registration checks', () => {
  it('accepts each platform in its provider\'s shape; wake is the default mode', () => {
    const apns = checkRegistration('bob', 'phone', { platform: 'apns', token: 'ab'.repeat(32), appId: 'com.example.chat' }, all, 5);
    assert.deepEqual(apns, { user: 'bob', device: 'phone', platform: 'apns', token: 'ab'.repeat(32), appId: 'com.example.chat', mode: 'wake', updatedAt: 5 });
    assert.equal(checkRegistration('bob', 'p', { platform: 'fcm', token: 'dGVzdA:APA91b' + 'x'.repeat(140), mode: 'preview' }, all, 0).mode, 'preview');
    const wp = checkRegistration('bob', 'b', { platform: 'webpush', subscription: { endpoint: 'https://push.example.net/s/1', keys: { p256dh, auth } } }, all, 0);
    assert.deepEqual(JSON.parse(wp.token), { endpoint: 'https://push.example.net/s/1', keys: { p256dh, auth } });
    assert.equal(checkRegistration('bob', 'w', { platform: 'webhook', token: 'https://app.example/push' }, all, 0).token, 'https://app.example/push');
  });

  it('refuses what a provider would refuse, naming the field and never quoting the token', () => {
    refused(() => checkRegistration('b', 'd', { platform: 'gcm', token: 'x' }, all, 0), 'invalid_argument', /^platform/);
    refused(() => checkRegistration('b', 'd', { platform: 'apns', token: 'not-hex-secret-token' }, all, 0), 'invalid_argument', /^token: an APNs device token/);
    assert.throws(() => checkRegistration('b', 'd', { platform: 'apns', token: 'not-hex-secret-token' }, all, 0), (e: Error) => !e.message.includes('secret'));
    refused(() => checkRegistration('b', 'd', { platform: 'fcm', token: 'short' }, all, 0), 'invalid_argument', /^token/);
    refused(() => checkRegistration('b', 'd', { platform: 'apns', token: 'ab'.repeat(32), mode: 'loud' }, all, 0), 'invalid_argument', /^mode/);
    refused(() => checkRegistration('b', 'd', { platform: 'apns', token: 'ab'.repeat(32), appId: 'has space' }, all, 0), 'invalid_argument', /^app_id/);
    refused(() => checkRegistration('b', 'd', { platform: 'webpush' }, all, 0), 'invalid_argument', /^subscription/);
    refused(() => checkRegistration('b', 'd', { platform: 'webpush', subscription: { endpoint: 'http://push.example/x', keys: { p256dh, auth } } }, all, 0), 'invalid_argument', /^subscription.endpoint: must be https/);
    refused(() => checkRegistration('b', 'd', { platform: 'webpush', subscription: { endpoint: 'https://push.example/x', keys: { p256dh: auth, auth } } }, all, 0), 'invalid_argument', /p256dh/);
    refused(() => checkRegistration('b', 'd', { platform: 'webpush', subscription: { endpoint: 'https://push.example/x', keys: { p256dh, auth: p256dh } } }, all, 0), 'invalid_argument', /keys.auth/);
    refused(() => checkRegistration('b', 'd', { platform: 'webhook', token: 'https://user:pw@app.example/x' }, all, 0), 'invalid_argument', /credentials/);
  });

  it('only platforms enabled on the node; webhook origins when listed; http only where allowed', () => {
    const apnsOnly: RegistrationPolicy = { ...all, enabled: new Set(['apns']) };
    refused(() => checkRegistration('b', 'd', { platform: 'fcm', token: 'x'.repeat(30) }, apnsOnly, 0), 'invalid_argument', /fcm push is not enabled/);
    const listed: RegistrationPolicy = { ...all, webhookOrigins: ['https://app.example'], allowHttp: { webpush: true, webhook: false } };
    refused(() => checkRegistration('b', 'd', { platform: 'webhook', token: 'https://evil.example/x' }, listed, 0), 'invalid_argument', /not allowed/);
    assert.ok(checkRegistration('b', 'd', { platform: 'webhook', token: 'https://app.example/x' }, listed, 0));
    assert.ok(checkRegistration('b', 'd', { platform: 'webpush', subscription: { endpoint: 'http://127.0.0.1:9/x', keys: { p256dh, auth } } }, listed, 0));
  });

  it('mutes: a duration from now, forever, or 0 to unmute', () => {
    assert.equal(checkMute('c', { durationSec: 0, forever: false }, 100), 0);
    assert.equal(checkMute('c', { durationSec: 0, forever: true }, 100), Number.MAX_SAFE_INTEGER);
    assert.equal(checkMute('c', { durationSec: 60, forever: false }, 100), 60_100);
    refused(() => checkMute('c', { durationSec: -5, forever: false }, 100), 'invalid_argument', /^duration_sec/);
    refused(() => checkMute('', { durationSec: 5, forever: false }, 100), 'invalid_argument', /^conversation/);
  });

  it('a user may hold maxDevicesPerUser registrations; a known device may always re-register', () => {
    const regs = ['a', 'b'].map((device) => ({ user: 'u', device, platform: 'apns' as const, token: 't', appId: '', mode: 'wake' as const, updatedAt: 0 }));
    checkDeviceCap(regs, 'a', 2);
    refused(() => checkDeviceCap(regs, 'c', 2), 'limit_exceeded', /at most 2/);
  });
});

describe('Web Push endpoint hosts (SSRF guard)', () => {
  const keys = { p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url'), auth: Buffer.alloc(16, 1).toString('base64url') };
  const browsers: RegistrationPolicy = { ...all, webpushHosts: DEFAULT_WEBPUSH_HOSTS };
  const register = (endpoint: string): unknown => checkRegistration('bob', 'b', { platform: 'webpush', subscription: { endpoint, keys } }, browsers, 0);

  it('accepts the browsers\' push services by default, Edge\'s regional WNS hosts included', () => {
    for (const e of ['https://fcm.googleapis.com/fcm/send/abc:def', 'https://updates.push.services.mozilla.com/wpush/v2/gAAA', 'https://web.push.apple.com/QGuQ', 'https://wns2-by3p.notify.windows.com/w/?token=BQYAAA']) {
      assert.doesNotThrow(() => register(e), e);
    }
  });

  it('refuses any other host, naming it: internal addresses, look-alike names, the bare wildcard domain', () => {
    for (const [e, host] of [
      ['https://10.0.0.5/admin', '10.0.0.5'],
      ['https://169.254.169.254/latest/meta-data/', '169.254.169.254'],
      ['https://[::1]:8443/x', '[::1]'],
      ['https://fcm.googleapis.com.evil.example/x', 'fcm.googleapis.com.evil.example'],
      ['https://notify.windows.com/w/', 'notify.windows.com'],
      ['https://evilnotify.windows.com/w/', 'evilnotify.windows.com'],
    ]) {
      assert.throws(() => register(e), (err: Error) => err.message === `subscription.endpoint: host ${host} is not a push service this server sends to`, e);
    }
  });

  it('matches hosts case-blind and without a trailing dot; an empty list allows any host', () => {
    assert.equal(hostAllowed('FCM.googleapis.com', DEFAULT_WEBPUSH_HOSTS), true);
    assert.equal(hostAllowed('fcm.googleapis.com.', DEFAULT_WEBPUSH_HOSTS), true);
    assert.equal(hostAllowed('a.b.notify.windows.com', DEFAULT_WEBPUSH_HOSTS), true);
    assert.equal(hostAllowed('10.0.0.5', []), true);
    assert.equal(hostAllowed('10.0.0.5', ['10.0.0.6']), false);
  });

  it('list entries are host names, IP addresses or *.domain, nothing else', () => {
    for (const ok of ['push.example', '*.push.example', '127.0.0.1', '[::1]']) assert.equal(isHostPattern(ok), true, ok);
    for (const bad of ['https://push.example', 'push.example/x', '*', '*.', 'Push.Example', 'a..b', '']) assert.equal(isHostPattern(bad), false, bad);
  });
});
