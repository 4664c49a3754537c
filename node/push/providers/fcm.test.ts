// The FCM HTTP v1 client against the fake FCM (token endpoint + send endpoint on
// loopback): the service-account token exchange and its caching on an injected clock,
// the data-only wake message, previews, error mapping, size limit, logs.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FcmProvider, FCM_MAX_PAYLOAD_BYTES, mapFcm } from './fcm.js';
import { loadServiceAccount } from './credentials.js';
import { tokenTag } from './payload.js';
import { defaultConfig } from '../../config.js';
import { FakeFcm } from '../fakes/fcm_fake.js';
import { serviceAccountFixture, type ServiceAccountFixture } from '../fakes/keys.js';
import type { PushRequest } from '../provider.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('FCM provider against the fake FCM', () => {
  const sa: ServiceAccountFixture = serviceAccountFixture('https://oauth2.googleapis.com/token');
  let fake: FakeFcm;
  let clock: number;
  const logs: string[] = [];
  const providers: FcmProvider[] = [];

  const provider = (timeoutMs = 5000): FcmProvider => {
    // The fixture's token_uri is Google's; push.fcm.tokenUri points the exchange at the fake.
    const cfg = { ...defaultConfig().push.fcm, enabled: true, serviceAccountJson: sa.json, tokenUri: fake.tokenUri };
    const p = new FcmProvider({
      endpoint: fake.url, serviceAccount: loadServiceAccount(cfg), timeoutMs, now: () => clock,
      log: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, ...fields })),
    });
    providers.push(p);
    return p;
  };
  let n = 0;
  const request = (over: Partial<PushRequest> = {}, device: Partial<PushRequest['device']> = {}): PushRequest => ({
    device: { user: 'bob', device: 'pixel', platform: 'fcm', token: `fcm-token-${++n}-${'x'.repeat(140)}`, appId: '', mode: 'wake', ...device },
    conversation: 'c-42', seq: 9, collapseId: 'c-42', unread: 2, preview: null, expiresAt: clock + 3600_000, ...over,
  });

  beforeEach(async () => {
    clock = T0;
    logs.length = 0;
    fake = await FakeFcm.start({ projectId: sa.projectId, clientEmail: sa.clientEmail, publicKey: sa.publicKey, now: () => clock });
  });
  const done = async (): Promise<void> => {
    for (const p of providers.splice(0)) await p.close();
    await fake.close();
  };
  // Also after a failed test, so nothing is left listening and the process exits.
  afterEach(done);

  it('exchanges a signed service-account JWT for an access token, then sends a data-only wake message', async () => {
    const p = provider();
    const req = request();
    assert.deepEqual(await p.send(req), { kind: 'sent', status: 200 });
    assert.equal(fake.tokenExchanges.length, 1);
    const ex = fake.tokenExchanges[0];
    assert.equal(ex.status, 200, ex.reason);
    assert.equal((ex.body as Record<string, string>).grant_type, 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    const send = fake.delivered[0];
    assert.equal(send.path, `/v1/projects/${sa.projectId}/messages:send`);
    assert.equal(send.headers.authorization, `Bearer ${fake.accessTokens[0]}`);
    assert.deepEqual(send.body, {
      message: {
        token: req.device.token,
        data: { v: '1', kind: 'wake', conversation: 'c-42', seq: '9', unread: '2' },
        android: { collapse_key: 'c-42', ttl: '3600s', priority: 'high' },
      },
    });
    await done();
  });

  it('caches the access token until 5 min before it expires', async () => {
    const p = provider();
    for (let i = 0; i < 3; i++) await p.send(request());
    clock += 54 * MIN;
    await p.send(request());
    assert.equal(fake.tokenExchanges.length, 1);
    clock += 2 * MIN; // 56 min: within the 5-minute margin of the 60-minute token
    assert.equal((await p.send(request())).kind, 'sent');
    assert.equal(fake.tokenExchanges.length, 2);
    assert.equal(p.tokenExchanges, 2);
    assert.equal(fake.delivered.length, 5);
    await done();
  });

  it('50 pushes at once wait for one token exchange', async () => {
    const p = provider();
    const outs = await Promise.all(Array.from({ length: 50 }, () => p.send(request())));
    assert.ok(outs.every((o) => o.kind === 'sent'));
    assert.equal(fake.tokenExchanges.length, 1);
    await done();
  });

  it('a 401 (token revoked) re-exchanges once and sends', async () => {
    const p = provider();
    await p.send(request());
    fake.revokeAll();
    assert.deepEqual(await p.send(request()), { kind: 'sent', status: 200 });
    assert.equal(fake.tokenExchanges.length, 2);
    await done();
  });

  it('maps UNREGISTERED / invalid token / SENDER_ID_MISMATCH to unregistered, 429 to at least 60 s, 5xx to Retry-After', async () => {
    const p = provider();
    const cases: Array<[number, string, string | undefined, Record<string, unknown>]> = [
      [404, 'UNREGISTERED', undefined, { kind: 'unregistered', status: 404 }],
      [400, 'INVALID_ARGUMENT', undefined, { kind: 'unregistered', status: 400 }],
      [403, 'SENDER_ID_MISMATCH', undefined, { kind: 'unregistered', status: 403 }],
      [429, 'QUOTA_EXCEEDED', '10', { kind: 'retry', afterMs: 60_000, status: 429 }],
      [429, 'QUOTA_EXCEEDED', '120', { kind: 'retry', afterMs: 120_000, status: 429 }],
      [429, 'QUOTA_EXCEEDED', undefined, { kind: 'retry', afterMs: 60_000, status: 429 }],
      [500, 'INTERNAL', undefined, { kind: 'retry', afterMs: null, status: 500 }],
      [503, 'UNAVAILABLE', '7', { kind: 'retry', afterMs: 7_000, status: 503 }],
    ];
    for (const [status, code, retryAfter, want] of cases) {
      const req = request();
      fake.script(req.device.token, { status, reason: code, retryAfter });
      const out = await p.send(req);
      const { reason, ...rest } = out as PushOutcomeWithReason;
      assert.deepEqual(rest, want, `${status} ${code}`);
      assert.match(reason, new RegExp(code));
    }
    await done();
  });

  it('an INVALID_ARGUMENT about another field (a bad TTL) is rejected, not unregistered', async () => {
    // The client never builds such a message, so this checks the mapping on FCM's documented body.
    const body = Buffer.from(JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: "Invalid value at 'message.android.ttl'", details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'message.android.ttl' }] }] } }));
    assert.equal(mapFcm({ status: 400, headers: {}, body }, clock).kind, 'rejected');
    const onToken = Buffer.from(JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: 'bad', details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'message.token' }] }] } }));
    assert.equal(mapFcm({ status: 400, headers: {}, body: onToken }, clock).kind, 'unregistered');
    await done();
  });

  it('down (send or token endpoint): retry with status 0; back up: sent', async () => {
    const p = provider();
    await fake.setDown(true);
    const first = await p.send(request());
    assert.equal(first.kind, 'retry');
    assert.equal(first.status, 0);
    assert.match((first as PushOutcomeWithReason).reason, /token endpoint/);
    await fake.setDown(false);
    assert.equal((await p.send(request())).kind, 'sent');
    await fake.setDown(true);
    const second = await p.send(request());
    assert.equal(second.kind, 'retry');
    assert.match((second as PushOutcomeWithReason).reason, /transport/);
    await fake.setDown(false);
    assert.equal((await p.send(request())).kind, 'sent');
    await done();
  });

  it('an FCM that never answers: retry with status 0 after timeoutMs', async () => {
    const p = provider(300);
    const req = request();
    fake.script(req.device.token, { status: 0, hang: true });
    const out = await p.send(req);
    assert.deepEqual([out.kind, out.status], ['retry', 0]);
    assert.match((out as PushOutcomeWithReason).reason, /no answer within 300 ms/);
    assert.equal((await p.send(request())).kind, 'sent');
    await done();
  });

  it('preview: a notification tagged with the collapse id; a long body is cut to FCM\'s 4096 bytes; an unfittable message is rejected unsent', async () => {
    const p = provider();
    const req = request({ preview: { sender: 'alice', body: '😀'.repeat(2000) } }, { mode: 'preview' });
    assert.equal((await p.send(req)).kind, 'sent');
    const m = (fake.delivered[0].body as { message: { notification: { title: string; body: string }; android: { notification: { tag: string } }; data: Record<string, string> } }).message;
    assert.equal(m.notification.title, 'alice');
    assert.match(m.notification.body, /^(😀)+…$/u);
    assert.equal(m.android.notification.tag, 'c-42');
    assert.equal(m.data.kind, 'preview');
    const huge = request({ conversation: 'x'.repeat(FCM_MAX_PAYLOAD_BYTES) });
    assert.equal((await p.send(huge)).kind, 'rejected');
    assert.equal(fake.records.filter((r) => r.path !== '/token').length, 1);
    await done();
  });

  it('logs a token tag, never the registration token or the access token', async () => {
    const p = provider();
    const req = request();
    fake.script(req.device.token, { status: 404, reason: 'UNREGISTERED' });
    await p.send(req);
    const all = logs.join('\n');
    assert.ok(all.includes(tokenTag(req.device.token)));
    assert.ok(!all.includes(req.device.token));
    for (const t of fake.accessTokens) assert.ok(!all.includes(t));
    await done();
  });
});

type PushOutcomeWithReason = { kind: string; reason: string; status: number };
