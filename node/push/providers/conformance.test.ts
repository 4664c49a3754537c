// The provider conformance suite run against all four providers, each built by the
// factory (index.ts) from the `push` config that points at the fake servers
// (fake_set.ts) and talking to them over loopback sockets.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildPushProviders } from './index.js';
import { providerConformance, type Delivered, type ProviderHarness } from './conformance.js';
import { startPushFakes, type PushFakes } from '../fakes/fake_set.js';
import { apnsDeviceToken } from '../fakes/keys.js';
import type { PushDevice, PushPlatform } from '../provider.js';

let n = 0;
async function harness(platform: PushPlatform): Promise<ProviderHarness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-push-conf-'));
  const fakes: PushFakes = await startPushFakes({ dir });
  const provider = buildPushProviders(fakes.config)[platform]!;
  const subs = new Map<string, string>();
  const dev = (token: string, mode: PushDevice['mode']): PushDevice => ({ user: 'bob', device: `d${++n}`, platform, token, appId: '', mode });
  const key = (d: PushDevice): string => (platform === 'webpush' ? subs.get(d.token)! : platform === 'webhook' ? new URL(d.token).pathname : d.token);
  const fake = fakes[platform];
  const script = (d: PushDevice, status: number, reason: string, retryAfter?: string, times?: number): void =>
    fake.script(key(d), { status, reason, ...(retryAfter !== undefined ? { retryAfter } : {}), ...(times !== undefined ? { times } : {}) });
  return {
    platform,
    provider,
    device: (mode = 'wake') => {
      if (platform === 'apns') return dev(apnsDeviceToken(), mode);
      if (platform === 'fcm') return dev(`fcm-${n}-${apnsDeviceToken()}`, mode);
      if (platform === 'webhook') return dev(`${fakes.webhook.url}/hooks/${n + 1}`, mode);
      const s = fakes.webpush.subscribe();
      subs.set(s.token, s.id);
      return dev(s.token, mode);
    },
    kill: (d) => {
      if (platform === 'webpush') fakes.webpush.unsubscribe(subs.get(d.token)!);
      else script(d, platform === 'fcm' ? 404 : 410, platform === 'fcm' ? 'UNREGISTERED' : 'Unregistered');
    },
    throttle: (d, s) => script(d, 429, platform === 'fcm' ? 'QUOTA_EXCEEDED' : 'TooManyRequests', String(s)),
    fail: (d) => script(d, 500, platform === 'fcm' ? 'INTERNAL' : 'InternalServerError', undefined, 1),
    setDown: (down) => fake.setDown(down),
    delivered: () => delivered(platform, fakes),
    close: async () => {
      await provider.close();
      await fakes.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What each fake accepted, read as the app would. */
function delivered(platform: PushPlatform, f: PushFakes): Delivered[] {
  const pick = (token: string, o: { conversation: unknown; seq: unknown; unread: unknown }, sender?: unknown, body?: unknown): Delivered => ({
    token, conversation: String(o.conversation), seq: Number(o.seq), unread: Number(o.unread),
    ...(sender !== undefined ? { sender: String(sender) } : {}), ...(body !== undefined ? { body: String(body) } : {}),
  });
  switch (platform) {
    case 'apns':
      return f.apns.delivered.map((r) => {
        const b = r.body as { conversation: string; seq: number; unread: number; aps: { alert?: { title: string; body: string } } };
        return pick(String(r.extra.deviceToken), b, b.aps.alert?.title, b.aps.alert?.body);
      });
    case 'fcm':
      return f.fcm.delivered.map((r) => {
        const m = (r.body as { message: { token: string; data: { conversation: string; seq: string; unread: string }; notification?: { title: string; body: string } } }).message;
        return pick(m.token, m.data, m.notification?.title, m.notification?.body);
      });
    case 'webpush':
      return f.webpush.delivered.map((r) => {
        const b = r.body as { conversation: string; seq: number; unread: number; sender?: string; body?: string };
        // The token is the subscription JSON; map the endpoint path back to it.
        return pick(f.webpush.tokenOf(String(r.extra.subscription)), b, b.sender, b.body);
      });
    case 'webhook':
      return f.webhook.delivered.map((r) => {
        const b = r.body as { conversation: string; seq: number; unread: number; preview?: { sender: string; body: string } };
        return pick(`${f.webhook.url}${r.path}`, b, b.preview?.sender, b.preview?.body);
      });
  }
}

for (const p of ['apns', 'fcm', 'webpush', 'webhook'] as const) providerConformance(p, () => harness(p));
