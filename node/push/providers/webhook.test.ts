// The webhook client against the fake app backend (HMAC and replay window checked on
// loopback): body, signature, the window on an injected clock, URL policy, error
// mapping, logs.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebhookProvider } from './webhook.js';
import { loadWebhookSecret } from './credentials.js';
import { tokenTag } from './payload.js';
import { defaultConfig } from '../../config.js';
import { FakeWebhook } from '../fakes/webhook_fake.js';
import { webhookSecret } from '../fakes/keys.js';
import type { PushRequest } from '../provider.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('webhook provider against the fake app backend', () => {
  const secret = webhookSecret();
  let fake: FakeWebhook;
  let clock: number;
  let fakeClock: number;
  const logs: string[] = [];
  const providers: WebhookProvider[] = [];

  const provider = (over: { secret?: string; allowedOrigins?: string[]; allowHttp?: boolean } = {}): WebhookProvider => {
    const cfg = { ...defaultConfig().push.webhook, enabled: true, secret: over.secret ?? secret };
    const p = new WebhookProvider({
      secret: loadWebhookSecret(cfg).secret, allowedOrigins: over.allowedOrigins ?? [], allowHttp: over.allowHttp ?? true, timeoutMs: 5000,
      now: () => clock, log: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, ...fields })),
    });
    providers.push(p);
    return p;
  };
  let n = 0;
  const request = (over: Partial<PushRequest> = {}, device: Partial<PushRequest['device']> = {}): PushRequest => ({
    device: { user: 'bob', device: 'tv', platform: 'webhook', token: `${fake.url}/hooks/${++n}`, appId: 'com.example.tv', mode: 'wake', ...device },
    conversation: 'c-42', seq: 5, collapseId: 'c-42', unread: 1, preview: null, expiresAt: clock + 3600_000, ...over,
  });

  beforeEach(async () => {
    clock = T0;
    fakeClock = T0;
    logs.length = 0;
    fake = await FakeWebhook.start({ secret, now: () => fakeClock });
  });
  const done = async (): Promise<void> => {
    for (const p of providers.splice(0)) await p.close();
    await fake.close();
  };
  // Also after a failed test, so nothing is left listening and the process exits.
  afterEach(done);

  it('posts a signed JSON body the backend verifies (HMAC over timestamp.body)', async () => {
    const p = provider();
    const req = request();
    assert.deepEqual(await p.send(req), { kind: 'sent', status: 200 });
    const r = fake.delivered[0];
    assert.equal(r.headers['switchboard-timestamp'], String(T0 / 1000));
    assert.match(r.headers['switchboard-signature'], /^v1=[0-9a-f]{64}$/);
    assert.deepEqual(r.body, { v: 1, kind: 'wake', conversation: 'c-42', seq: 5, unread: 1, user: 'bob', device: 'tv', appId: 'com.example.tv', collapseId: 'c-42', expiresAt: req.expiresAt });
    await done();
  });

  it('the backend refuses a wrong secret and a timestamp outside its 5-minute window (retried, not dropped); inside it is fine', async () => {
    const wrong = provider({ secret: webhookSecret() });
    const bad = await wrong.send(request());
    assert.deepEqual({ kind: bad.kind, status: bad.status }, { kind: 'retry', status: 401 });
    assert.equal(fake.records.at(-1)!.reason, 'bad signature');
    const p = provider();
    fakeClock = T0 + 301_000;
    assert.equal((await p.send(request())).status, 401);
    assert.equal(fake.records.at(-1)!.reason, 'timestamp outside the replay window');
    fakeClock = T0 + 299_000;
    assert.equal((await p.send(request())).kind, 'sent');
    await done();
  });

  it('preview mode carries sender and body (cut to 2 KB)', async () => {
    const p = provider();
    assert.equal((await p.send(request({ preview: { sender: 'alice', body: 'x'.repeat(5000) } }, { mode: 'preview' }))).kind, 'sent');
    const b = fake.delivered[0].body as { kind: string; preview: { sender: string; body: string } };
    assert.equal(b.kind, 'preview');
    assert.equal(b.preview.sender, 'alice');
    assert.ok(Buffer.byteLength(b.preview.body) <= 2048 && b.preview.body.endsWith('…'));
    await done();
  });

  it('maps 410 to unregistered, 429 + Retry-After and 5xx to retry, other 4xx to rejected; down to retry', async () => {
    const p = provider();
    const cases: Array<[number, string | undefined, Record<string, unknown>]> = [
      [410, undefined, { kind: 'unregistered', reason: 'HTTP 410', status: 410 }],
      [429, '15', { kind: 'retry', reason: 'HTTP 429', afterMs: 15_000, status: 429 }],
      [502, undefined, { kind: 'retry', reason: 'HTTP 502', afterMs: null, status: 502 }],
      [400, undefined, { kind: 'rejected', reason: 'HTTP 400', status: 400 }],
    ];
    for (const [status, retryAfter, want] of cases) {
      const req = request();
      fake.script(new URL(req.device.token).pathname, { status, retryAfter });
      assert.deepEqual(await p.send(req), want, String(status));
    }
    await fake.setDown(true);
    const out = await p.send(request());
    assert.equal(out.kind, 'retry');
    assert.equal(out.status, 0);
    await fake.setDown(false);
    assert.equal((await p.send(request())).kind, 'sent');
    await done();
  });

  it('URL policy: an origin outside allowedOrigins or plain http without allowHttp is rejected unsent; a non-URL is unregistered', async () => {
    assert.equal((await provider({ allowedOrigins: ['https://hooks.example.com'] }).send(request())).kind, 'rejected');
    assert.equal((await provider({ allowHttp: false }).send(request())).kind, 'rejected');
    assert.equal((await provider().send(request({}, { token: 'not a url' }))).kind, 'unregistered');
    assert.equal(fake.records.length, 0);
    assert.equal((await provider({ allowedOrigins: [fake.url] }).send(request())).kind, 'sent');
    await done();
  });

  it('logs a token tag, never the webhook URL', async () => {
    const p = provider();
    const req = request();
    fake.script(new URL(req.device.token).pathname, { status: 410 });
    await p.send(req);
    const all = logs.join('\n');
    assert.ok(all.includes(tokenTag(req.device.token)));
    assert.ok(!all.includes(req.device.token));
    assert.ok(!all.includes(secret));
    await done();
  });
});
