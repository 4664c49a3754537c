/**
 * The push provider conformance suite: what every PushProvider must do, whatever the
 * wire, run against each provider and its fake server (conformance.test.ts). A harness
 * gives the suite a provider, devices the fake knows, ways to make the fake refuse a
 * device (dead, throttled, failing) or go down, and what the fake delivered, read back
 * the way the app would see it (decrypted for Web Push).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PushDevice, PushPlatform, PushProvider, PushRequest } from '../provider.js';

/** What the app sees of one accepted push. */
export interface Delivered {
  token: string;
  conversation: string;
  seq: number;
  unread: number;
  /** Present only for previews. */
  sender?: string;
  body?: string;
}

export interface ProviderHarness {
  platform: PushPlatform;
  provider: PushProvider;
  /** A device whose token the fake accepts. */
  device(mode?: PushDevice['mode']): PushDevice;
  /** The fake answers this device as unregistered from now on. */
  kill(d: PushDevice): void;
  /** The fake answers this device 429 with Retry-After: seconds. */
  throttle(d: PushDevice, seconds: number): void;
  /** The fake answers this device 500 once. */
  fail(d: PushDevice): void;
  setDown(down: boolean): Promise<void>;
  delivered(): Delivered[];
  close(): Promise<void>;
}

export function providerConformance(name: string, make: () => Promise<ProviderHarness>): void {
  describe(`PushProvider conformance: ${name}`, () => {
    let h: ProviderHarness;
    before(async () => {
      h = await make();
    });
    after(async () => {
      await h.close();
    });
    const req = (device: PushDevice, over: Partial<PushRequest> = {}): PushRequest => ({
      device, conversation: `conv-${device.device}`, seq: 1, collapseId: `conv-${device.device}`, unread: 2,
      preview: device.mode === 'preview' ? { sender: 'alice', body: 'see you at 8' } : null, expiresAt: Date.now() + 3600_000, ...over,
    });
    const mine = (d: PushDevice): Delivered[] => h.delivered().filter((x) => x.token === d.token);

    it('a wake push is sent and arrives once, without sender or text', async () => {
      const d = h.device('wake');
      assert.equal(h.provider.platform, h.platform);
      assert.equal((await h.provider.send(req(d, { seq: 7 }))).kind, 'sent');
      const got = mine(d);
      assert.equal(got.length, 1);
      assert.deepEqual(got[0], { token: d.token, conversation: `conv-${d.device}`, seq: 7, unread: 2 });
    });

    it('a preview push carries sender and body', async () => {
      const d = h.device('preview');
      assert.equal((await h.provider.send(req(d))).kind, 'sent');
      const got = mine(d);
      assert.equal(got.length, 1);
      assert.equal(got[0].sender, 'alice');
      assert.equal(got[0].body, 'see you at 8');
    });

    it('an expired push is rejected and never sent', async () => {
      const d = h.device();
      const out = await h.provider.send(req(d, { expiresAt: Date.now() - 1 }));
      assert.equal(out.kind, 'rejected');
      assert.equal(mine(d).length, 0);
    });

    it('a dead token is unregistered', async () => {
      const d = h.device();
      h.kill(d);
      assert.equal((await h.provider.send(req(d))).kind, 'unregistered');
    });

    it('429 with Retry-After is a retry that waits at least that long', async () => {
      const d = h.device();
      h.throttle(d, 30);
      const out = await h.provider.send(req(d));
      assert.equal(out.kind, 'retry');
      assert.ok(out.kind === 'retry' && out.afterMs !== null && out.afterMs >= 30_000, JSON.stringify(out));
    });

    it('a 5xx is a retry; the next attempt is sent', async () => {
      const d = h.device();
      h.fail(d);
      assert.equal((await h.provider.send(req(d))).kind, 'retry');
      assert.equal((await h.provider.send(req(d))).kind, 'sent');
    });

    it('provider down: retry with status 0, never a drop; back up: sent', async () => {
      const d = h.device();
      await h.setDown(true);
      const out = await h.provider.send(req(d));
      assert.deepEqual([out.kind, out.status], ['retry', 0]);
      await h.setDown(false);
      assert.equal((await h.provider.send(req(d))).kind, 'sent');
      assert.equal(mine(d).length, 1);
    });

    it('after close(), send answers retry (the outbox keeps the push)', async () => {
      await h.provider.close();
      assert.equal((await h.provider.send(req(h.device()))).kind, 'retry');
    });
  });
}
