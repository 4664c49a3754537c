// The APNs client against the fake APNs (HTTP/2 + TLS on loopback): request format,
// provider-token reuse and refresh on an injected clock, error mapping, payload limit,
// session reuse and reconnects, and logs that never hold a device token.
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApnsProvider, APNS_MAX_PAYLOAD_BYTES } from './apns.js';
import { ApnsTokenSource } from './apns_token.js';
import { loadApnsCredentials } from './credentials.js';
import { defaultConfig } from '../../config.js';
import { FakeApns } from '../fakes/apns_fake.js';
import { selfSignedCert, type TestCert } from '../fakes/tls.js';
import { TcpProxy } from '../fakes/tcp_proxy.js';
import { apnsDeviceToken, apnsTestKey, type ApnsTestKey } from '../fakes/keys.js';
import { tokenTag } from './payload.js';
import type { PushRequest } from '../provider.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('APNs provider against the fake APNs', () => {
  let tls: TestCert;
  let key: ApnsTestKey;
  let fake: FakeApns;
  let clock: number;
  const logs: string[] = [];
  const providers: ApnsProvider[] = [];

  const provider = (over: { tokenRefreshMs?: number; timeoutMs?: number; endpoint?: string } = {}): ApnsProvider => {
    const cfg = { ...defaultConfig().push.apns, enabled: true, teamId: key.teamId, keyId: key.keyId, topic: 'com.example.chat', keyPem: key.pem };
    const p = new ApnsProvider({
      endpoint: over.endpoint ?? fake.url, topic: cfg.topic, credentials: loadApnsCredentials(cfg), tokenRefreshMs: over.tokenRefreshMs ?? cfg.tokenRefreshMs,
      timeoutMs: over.timeoutMs ?? 5000, ca: tls.cert, now: () => clock, log: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, ...fields })),
    });
    providers.push(p);
    return p;
  };

  const request = (over: Partial<PushRequest> = {}, device: Partial<PushRequest['device']> = {}): PushRequest => ({
    device: { user: 'bob', device: 'phone', platform: 'apns', token: apnsDeviceToken(), appId: '', mode: 'wake', ...device },
    conversation: 'c-42', seq: 7, collapseId: 'c-42', unread: 3, preview: null, expiresAt: clock + 3600_000, ...over,
  });

  before(async () => {
    tls = selfSignedCert();
    key = apnsTestKey();
  });
  beforeEach(async () => {
    clock = T0;
    logs.length = 0;
    fake = await FakeApns.start({ cert: tls.cert, key: tls.key, teamId: key.teamId, keyId: key.keyId, publicKey: key.publicKey, now: () => clock });
  });
  const proxies: TcpProxy[] = [];
  const done = async (): Promise<void> => {
    for (const p of providers.splice(0)) await p.close();
    for (const x of proxies.splice(0)) await x.close();
    await fake.close();
  };
  // Also after a failed test, so nothing is left listening and the process exits.
  afterEach(done);

  it('sends a content-free background push the fake accepts: path, headers, provider token, payload', async () => {
    const p = provider();
    const req = request();
    assert.deepEqual(await p.send(req), { kind: 'sent', status: 200 });
    assert.equal(fake.records.length, 1);
    const r = fake.records[0];
    assert.equal(r.status, 200, r.reason);
    assert.equal(r.path, `/3/device/${req.device.token}`);
    assert.equal(r.headers['apns-push-type'], 'background');
    assert.equal(r.headers['apns-priority'], '5');
    assert.equal(r.headers['apns-topic'], 'com.example.chat');
    assert.equal(r.headers['apns-collapse-id'], 'c-42');
    assert.equal(r.headers['apns-expiration'], String(Math.floor(req.expiresAt / 1000)));
    assert.deepEqual(r.extra.jwt, { kid: key.keyId, iss: key.teamId, iat: Math.floor(T0 / 1000) });
    assert.deepEqual(r.body, { aps: { 'content-available': 1 }, v: 1, conversation: 'c-42', seq: 7, unread: 3 });
    await done();
  });

  it('sends a preview as an alert with priority 10 and the device\'s own app id as topic', async () => {
    const p = provider();
    const req = request({ preview: { sender: 'alice', body: 'lunch?' } }, { mode: 'preview', appId: 'com.example.other' });
    assert.equal((await p.send(req)).kind, 'sent');
    const r = fake.delivered[0];
    assert.equal(r.headers['apns-push-type'], 'alert');
    assert.equal(r.headers['apns-priority'], '10');
    assert.equal(r.headers['apns-topic'], 'com.example.other');
    assert.deepEqual((r.body as { aps: unknown }).aps, { alert: { title: 'alice', body: 'lunch?' }, badge: 3, sound: 'default', 'thread-id': 'c-42' });
    await done();
  });

  it('reuses one provider token and one HTTP/2 session, and re-signs only after tokenRefreshMs (40 min)', async () => {
    const p = provider();
    await p.send(request());
    clock += 19 * MIN;
    await p.send(request());
    clock += 20 * MIN; // 39 min old: still reused
    await p.send(request());
    assert.equal(fake.tokensSeen.length, 1);
    assert.equal(p.tokensSigned, 1);
    clock += 2 * MIN; // 41 min: refreshed
    assert.equal((await p.send(request())).kind, 'sent');
    assert.equal(fake.tokensSeen.length, 2);
    assert.equal((fake.delivered.at(-1)!.extra.jwt as { iat: number }).iat, Math.floor((T0 + 41 * MIN) / 1000));
    assert.equal(fake.delivered.length, 4, 'the fake accepted the refreshed token (not a 429 TooManyProviderTokenUpdates)');
    assert.equal(p.connects, 1, 'one session for every push');
    await done();
  });

  it('the fake enforces Apple\'s rules: a token re-signed within 20 min gets 429 TooManyProviderTokenUpdates, one over 60 min old 403 ExpiredProviderToken', async () => {
    const creds = loadApnsCredentials({ ...defaultConfig().push.apns, teamId: key.teamId, keyId: key.keyId, keyPem: key.pem });
    const eager = new ApnsTokenSource(creds, 5 * MIN, () => clock);
    // Drive the fake with tokens from a source that refreshes every 5 minutes.
    const sendWith = async (jwt: string): Promise<number> => {
      const http2 = await import('node:http2');
      const s = http2.connect(fake.url, { ca: tls.cert });
      try {
        return await new Promise<number>((resolve, reject) => {
          const st = s.request({ ':method': 'POST', ':path': `/3/device/${apnsDeviceToken()}`, authorization: `bearer ${jwt}`, 'apns-topic': 't', 'apns-push-type': 'background', 'apns-priority': '5' });
          st.on('response', (h) => resolve(Number(h[':status'])));
          st.on('error', reject);
          st.end(JSON.stringify({ aps: { 'content-available': 1 } }));
        });
      } finally {
        s.close();
      }
    };
    assert.equal(await sendWith(await eager.get()), 200);
    clock += 6 * MIN;
    assert.equal(await sendWith(await eager.get()), 429);
    assert.equal(fake.records.at(-1)!.reason, 'TooManyProviderTokenUpdates');
    const old = await new ApnsTokenSource(creds, 59 * MIN, () => clock - 61 * MIN).get();
    assert.equal(await sendWith(old), 403);
    assert.equal(fake.records.at(-1)!.reason, 'ExpiredProviderToken');
    await done();
  });

  it('100 pushes at once share one provider token and one session', async () => {
    const p = provider();
    const outs = await Promise.all(Array.from({ length: 100 }, () => p.send(request())));
    assert.ok(outs.every((o) => o.kind === 'sent'));
    assert.equal(p.tokensSigned, 1);
    assert.equal(fake.tokensSeen.length, 1);
    assert.equal(p.connects, 1);
    await done();
  });

  it('403 ExpiredProviderToken: re-signs and retries within the same send', async () => {
    const p = provider();
    await p.send(request());
    clock += 5 * MIN;
    const req = request();
    fake.script(req.device.token, { status: 403, reason: 'ExpiredProviderToken', times: 1 });
    assert.deepEqual(await p.send(req), { kind: 'sent', status: 200 });
    assert.equal(p.tokensSigned, 2);
    assert.deepEqual(fake.records.map((r) => r.status), [200, 403, 200]);
    await done();
  });

  it('maps 410 and 400 BadDeviceToken to unregistered, 429 + Retry-After and 5xx to retry, other 4xx to rejected', async () => {
    const p = provider();
    const cases: Array<[number, string, string | undefined, unknown]> = [
      [410, 'Unregistered', undefined, { kind: 'unregistered', reason: 'Unregistered', status: 410 }],
      [400, 'BadDeviceToken', undefined, { kind: 'unregistered', reason: 'BadDeviceToken', status: 400 }],
      [429, 'TooManyRequests', '30', { kind: 'retry', reason: 'TooManyRequests', afterMs: 30_000, status: 429 }],
      [500, 'InternalServerError', undefined, { kind: 'retry', reason: 'InternalServerError', afterMs: null, status: 500 }],
      [503, 'ServiceUnavailable', '5', { kind: 'retry', reason: 'ServiceUnavailable', afterMs: 5_000, status: 503 }],
      [400, 'DeviceTokenNotForTopic', undefined, { kind: 'rejected', reason: 'DeviceTokenNotForTopic', status: 400 }],
    ];
    for (const [status, reason, retryAfter, want] of cases) {
      const req = request();
      fake.script(req.device.token, { status, reason, retryAfter });
      assert.deepEqual(await p.send(req), want, `${status} ${reason}`);
    }
    await done();
  });

  it('provider down: retry with status 0; back up: the next push reconnects and is sent', async () => {
    const p = provider();
    await p.send(request());
    await fake.setDown(true);
    const out = await p.send(request());
    assert.equal(out.kind, 'retry');
    assert.equal(out.status, 0);
    await fake.setDown(false);
    assert.deepEqual(await p.send(request()), { kind: 'sent', status: 200 });
    assert.ok(p.connects >= 2, 'a new session after the fake came back');
    await done();
  });

  it('an APNs that never answers: retry with status 0 after timeoutMs; the session serves the next push', async () => {
    const p = provider({ timeoutMs: 300 });
    const req = request();
    fake.script(req.device.token, { status: 0, hang: true });
    const out = await p.send(req);
    assert.equal(out.kind, 'retry');
    assert.equal(out.status, 0);
    assert.match((out as { reason: string }).reason, /no answer within 300 ms/);
    assert.deepEqual(await p.send(request()), { kind: 'sent', status: 200 });
    assert.equal(p.connects, 1);
    await done();
  });

  it('a connection that went silent (no answer, not even to PING) is dropped; the next push dials a new session', async () => {
    // A relay that can swallow every byte stands in for a half-open connection.
    const proxy = await TcpProxy.start(Number(new URL(fake.url).port));
    proxies.push(proxy);
    const p = provider({ timeoutMs: 300, endpoint: `https://127.0.0.1:${proxy.port}` });
    assert.equal((await p.send(request())).kind, 'sent');
    proxy.freeze(true);
    const out = await p.send(request());
    assert.deepEqual([out.kind, out.status], ['retry', 0]);
    await new Promise((r) => setTimeout(r, 500)); // the PING's own deadline (timeoutMs)
    assert.equal(proxy.connections, 0, 'the provider closed the dead connection');
    proxy.freeze(false);
    assert.deepEqual(await p.send(request()), { kind: 'sent', status: 200 });
    assert.equal(p.connects, 2);
    assert.ok(logs.some((l) => l.includes('unresponsive to PING')));
    await done();
  });

  it('after a GOAWAY the next push dials a new session', async () => {
    const p = provider();
    await p.send(request());
    fake.goawayAll();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await p.send(request()), { kind: 'sent', status: 200 });
    assert.equal(p.connects, 2);
    await done();
  });

  it('4 KB limit: a long preview is cut to fit and sent; a payload that cannot fit is rejected before sending', async () => {
    const p = provider();
    const long = request({ preview: { sender: 'alice', body: 'é'.repeat(5000) } }, { mode: 'preview' });
    assert.equal((await p.send(long)).kind, 'sent');
    const r = fake.delivered[0];
    assert.ok(r.bodyBytes <= APNS_MAX_PAYLOAD_BYTES && r.bodyBytes > 3900, `${r.bodyBytes} bytes`);
    assert.match((r.body as { aps: { alert: { body: string } } }).aps.alert.body, /^é+…$/);
    const huge = request({ conversation: 'x'.repeat(APNS_MAX_PAYLOAD_BYTES) });
    const out = await p.send(huge);
    assert.equal(out.kind, 'rejected');
    assert.match((out as { reason: string }).reason, /PayloadTooLarge/);
    assert.equal(fake.records.length, 1, 'nothing sent for the oversized push');
    await done();
  });

  it('a collapse id over 64 bytes is hashed to fit; an expired push is dropped unsent; a non-hex token is unregistered', async () => {
    const p = provider();
    assert.equal((await p.send(request({ collapseId: 'conv-'.repeat(30) }))).kind, 'sent');
    assert.ok(Buffer.byteLength(fake.delivered[0].headers['apns-collapse-id']) <= 64);
    assert.equal((await p.send(request({ expiresAt: clock - 1 }))).kind, 'rejected');
    assert.equal((await p.send(request({}, { token: '../../admin' }))).kind, 'unregistered');
    assert.equal(fake.records.length, 1);
    await done();
  });

  it('logs a token tag, never the device token', async () => {
    const p = provider();
    const req = request();
    fake.script(req.device.token, { status: 410, reason: 'Unregistered' });
    await p.send(req);
    const all = logs.join('\n');
    assert.ok(all.includes(tokenTag(req.device.token)), all);
    assert.ok(!all.includes(req.device.token));
    assert.ok(!all.includes(req.device.token.slice(0, 16)));
    await done();
  });
});
