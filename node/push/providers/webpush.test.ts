// The Web Push client against the fake push service (which decrypts every push with
// the subscription's private key): RFC 8291's own test vector, a wake push that
// decrypts to the content-free body, RFC 8030 headers, VAPID claims and reuse on an
// injected clock, previews, error mapping, logs.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { WebPushProvider, parseSubscription } from './webpush.js';
import { encryptWebPush } from './webpush_crypto.js';
import { loadVapidKeys } from './credentials.js';
import { tokenTag } from './payload.js';
import { defaultConfig } from '../../config.js';
import { FakeWebPush } from '../fakes/webpush_fake.js';
import { decryptWebPush } from '../fakes/webpush_decrypt.js';
import { vapidFixture, type VapidFixture } from '../fakes/keys.js';
import type { PushRequest } from '../provider.js';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

// RFC 8291 Appendix A.
const RFC = {
  plaintext: 'When I grow up, I want to be a watermelon',
  asPrivate: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
  uaPrivate: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
  uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  auth: 'BTBZMqHH6r4Tts7J_aSIgg',
  salt: 'DGv6ra1nlYgDCS1FRnbzlw',
  body: 'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
};

describe('RFC 8291 Appendix A', () => {
  it('the provider\'s encrypt reproduces the RFC\'s message byte for byte, and the fake\'s decrypt reads it back', () => {
    const out = encryptWebPush({
      plaintext: Buffer.from(RFC.plaintext), uaPublic: Buffer.from(RFC.uaPublic, 'base64url'), authSecret: Buffer.from(RFC.auth, 'base64url'),
      salt: Buffer.from(RFC.salt, 'base64url'), asPrivate: Buffer.from(RFC.asPrivate, 'base64url'), padTo: RFC.plaintext.length,
    });
    assert.equal(out.toString('base64url'), RFC.body);
    const p = Buffer.from(RFC.uaPublic, 'base64url');
    const ua = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', d: RFC.uaPrivate, x: p.subarray(1, 33).toString('base64url'), y: p.subarray(33).toString('base64url') }, format: 'jwk' });
    assert.equal(decryptWebPush(Buffer.from(RFC.body, 'base64url'), ua, Buffer.from(RFC.auth, 'base64url')).plaintext.toString(), RFC.plaintext);
  });
});

describe('Web Push provider against the fake push service', () => {
  const vapid: VapidFixture = vapidFixture();
  let fake: FakeWebPush;
  let clock: number;
  const logs: string[] = [];
  const providers: WebPushProvider[] = [];

  const provider = (keys: VapidFixture = vapid, allowHttp = true, endpointHosts: string[] = ['127.0.0.1']): WebPushProvider => {
    const cfg = { ...defaultConfig().push.webpush, enabled: true, vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey, subject: 'mailto:ops@example.com', allowHttp };
    const p = new WebPushProvider({
      vapid: loadVapidKeys(cfg), subject: cfg.subject, allowHttp, endpointHosts, timeoutMs: 5000, now: () => clock,
      log: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, ...fields })),
    });
    providers.push(p);
    return p;
  };
  const request = (token: string, over: Partial<PushRequest> = {}, device: Partial<PushRequest['device']> = {}): PushRequest => ({
    device: { user: 'bob', device: 'laptop', platform: 'webpush', token, appId: '', mode: 'wake', ...device },
    conversation: 'c-42', seq: 11, collapseId: 'c-42', unread: 4, preview: null, expiresAt: clock + HOUR, ...over,
  });

  beforeEach(async () => {
    clock = T0;
    logs.length = 0;
    fake = await FakeWebPush.start({ applicationServerKey: vapid.publicKey, now: () => clock });
  });
  const done = async (): Promise<void> => {
    for (const p of providers.splice(0)) await p.close();
    await fake.close();
  };
  // Also after a failed test, so nothing is left listening and the process exits.
  afterEach(done);

  it('a wake push decrypts (with the subscription\'s private key) to the content-free body; RFC 8030 headers and VAPID claims', async () => {
    const p = provider();
    const sub = fake.subscribe();
    assert.deepEqual(await p.send(request(sub.token)), { kind: 'sent', status: 201 });
    const r = fake.delivered[0];
    assert.ok(r, JSON.stringify(fake.records.map((x) => x.reason)));
    assert.deepEqual(r.body, { v: 1, kind: 'wake', conversation: 'c-42', seq: 11, unread: 4 });
    assert.doesNotMatch(String(r.extra.plaintext), /sender|body/);
    assert.equal(r.headers.ttl, '3600');
    assert.equal(r.headers.urgency, 'normal');
    assert.equal(r.headers.topic, 'c-42');
    assert.equal(r.headers['content-encoding'], 'aes128gcm');
    assert.equal(r.extra.recordSize, 4096);
    assert.ok((r.extra.padding as number) > 0, 'padded so the length says little');
    assert.deepEqual(r.extra.vapid, { sub: 'mailto:ops@example.com', aud: new URL(fake.url).origin, exp: Math.floor(T0 / 1000) + 12 * 3600 });
    await done();
  });

  it('reuses the VAPID token per origin and re-signs after 6 h (exp 12 h ahead, under RFC 8292\'s 24 h)', async () => {
    const p = provider();
    const sub = fake.subscribe();
    for (let i = 0; i < 3; i++) await p.send(request(sub.token));
    clock += 5 * HOUR;
    await p.send(request(sub.token));
    assert.equal(p.vapidTokensSigned, 1);
    clock += 2 * HOUR;
    assert.equal((await p.send(request(sub.token))).kind, 'sent');
    assert.equal(p.vapidTokensSigned, 2);
    assert.equal(fake.delivered.length, 5);
    await done();
  });

  it('a preview decrypts to sender and body; a long body is cut to one 4096-byte record; a collapse id is squeezed into a 32-char Topic', async () => {
    const p = provider();
    const sub = fake.subscribe();
    const long = 'ü'.repeat(3000);
    assert.equal((await p.send(request(sub.token, { preview: { sender: 'alice', body: long }, collapseId: 'conversation:with:colons:and-more-than-32-chars' }, { mode: 'preview' }))).kind, 'sent');
    const r = fake.delivered[0];
    const b = r.body as { kind: string; sender: string; body: string };
    assert.equal(b.kind, 'preview');
    assert.equal(b.sender, 'alice');
    assert.match(b.body, /^ü+…$/);
    assert.ok(r.bodyBytes <= 4096);
    assert.match(r.headers.topic, /^[A-Za-z0-9_-]{32}$/);
    await done();
  });

  it('maps 410 (unsubscribed) and 404 to unregistered, 429 + Retry-After and 5xx to retry, 413 to rejected', async () => {
    const p = provider();
    const gone = fake.subscribe();
    fake.unsubscribe(gone.id);
    const out410 = await p.send(request(gone.token));
    assert.equal(out410.kind, 'unregistered');
    assert.equal(out410.status, 410);
    const unknown = JSON.parse(fake.subscribe().token) as { endpoint: string };
    unknown.endpoint = `${fake.url}/push/nosuchsubscription`;
    const out404 = await p.send(request(JSON.stringify(unknown)));
    assert.equal(out404.kind, 'unregistered');
    assert.equal(out404.status, 404);
    const cases: Array<[number, string | undefined, Record<string, unknown>]> = [
      [429, '20', { kind: 'retry', afterMs: 20_000, status: 429 }],
      [500, undefined, { kind: 'retry', afterMs: null, status: 500 }],
      [503, '3', { kind: 'retry', afterMs: 3_000, status: 503 }],
      [413, undefined, { kind: 'rejected', status: 413 }],
    ];
    for (const [status, retryAfter, want] of cases) {
      const s = fake.subscribe();
      fake.script(s.id, { status, retryAfter });
      const { reason: _r, ...rest } = (await p.send(request(s.token))) as { reason?: string };
      assert.deepEqual(rest, want, String(status));
    }
    await done();
  });

  it('a VAPID key other than the subscription\'s is refused by the push service (403) and retried, not dropped', async () => {
    const p = provider(vapidFixture());
    const out = await p.send(request(fake.subscribe().token));
    assert.equal(out.kind, 'retry');
    assert.equal(out.status, 403);
    await done();
  });

  it('down: retry with status 0; back up: sent', async () => {
    const p = provider();
    const sub = fake.subscribe();
    await fake.setDown(true);
    const out = await p.send(request(sub.token));
    assert.equal(out.kind, 'retry');
    assert.equal(out.status, 0);
    await fake.setDown(false);
    assert.equal((await p.send(request(sub.token))).kind, 'sent');
    await done();
  });

  it('a malformed subscription is unregistered unsent; an http endpoint without allowHttp is rejected unsent', async () => {
    const strict = provider(vapid, false);
    const sub = fake.subscribe();
    assert.equal((await strict.send(request(sub.token))).kind, 'rejected');
    assert.equal((await strict.send(request('{"endpoint":"https://x.example/p","keys":{"p256dh":"AAAA","auth":"AAAA"}}'))).kind, 'unregistered');
    assert.equal((await strict.send(request('not json'))).kind, 'unregistered');
    assert.throws(() => parseSubscription('{"endpoint":"ftp://x"}', true), /https/);
    assert.equal(fake.records.length, 0);
    await done();
  });

  it('a stored subscription whose host is not in endpointHosts is rejected unsent (the list changed after it was registered)', async () => {
    const listed = provider(vapid, true, ['push.example']);
    const sub = fake.subscribe();
    const out = await listed.send(request(sub.token));
    assert.equal(out.kind, 'rejected');
    assert.match(out.kind === 'rejected' ? out.reason : '', /push.webpush.endpointHosts/);
    assert.equal(fake.records.length, 0, 'nothing reached the endpoint');
    assert.equal((await provider().send(request(sub.token))).kind, 'sent', 'with the host listed it goes out');
    await done();
  });

  it('logs a token tag, never the endpoint or the subscription keys', async () => {
    const p = provider();
    const sub = fake.subscribe();
    fake.unsubscribe(sub.id);
    await p.send(request(sub.token));
    const all = logs.join('\n');
    const s = JSON.parse(sub.token) as { endpoint: string; keys: { p256dh: string; auth: string } };
    assert.ok(all.includes(tokenTag(sub.token)));
    for (const secret of [sub.id, s.keys.p256dh, s.keys.auth]) assert.ok(!all.includes(secret), secret);
    await done();
  });
});
