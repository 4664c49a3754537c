/**
 * All four fake provider servers at once, with fresh keys, and the `push` config that
 * points a node at them (every provider enabled, endpoints on loopback, the APNs CA
 * written to a file in `dir`). Used in-process by tests, and by cli.ts to run the
 * fakes as a child process for multi-process tests.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PushProvidersConfig } from '../../config.js';
import { defaultConfig } from '../../config.js';
import { FakeApns } from './apns_fake.js';
import { FakeFcm } from './fcm_fake.js';
import { FakeWebhook } from './webhook_fake.js';
import { FakeWebPush } from './webpush_fake.js';
import { apnsTestKey, serviceAccountFixture, vapidFixture, webhookSecret } from './keys.js';
import { selfSignedCert } from './tls.js';

export interface PushFakes {
  apns: FakeApns;
  fcm: FakeFcm;
  webpush: FakeWebPush;
  webhook: FakeWebhook;
  /** The `push` provider sections for a node using these fakes. */
  config: PushProvidersConfig;
  close(): Promise<void>;
}

export type FakeName = 'apns' | 'fcm' | 'webpush' | 'webhook';
export const FAKE_NAMES: readonly FakeName[] = ['apns', 'fcm', 'webpush', 'webhook'];

export interface PushFakesOptions {
  /** Where the APNs CA certificate file is written. */
  dir: string;
  /** The APNs topic (bundle id) the fake accepts and the config names. */
  topic?: string;
  now?: () => number;
}

export async function startPushFakes(o: PushFakesOptions): Promise<PushFakes> {
  const topic = o.topic ?? 'com.example.switchboard';
  const tls = selfSignedCert();
  const apnsKey = apnsTestKey();
  const sa = serviceAccountFixture('https://oauth2.googleapis.com/token');
  const vapid = vapidFixture();
  const secret = webhookSecret();
  const now = o.now ? { now: o.now } : {};
  const apns = await FakeApns.start({ cert: tls.cert, key: tls.key, teamId: apnsKey.teamId, keyId: apnsKey.keyId, publicKey: apnsKey.publicKey, topics: [topic], ...now });
  const fcm = await FakeFcm.start({ projectId: sa.projectId, clientEmail: sa.clientEmail, publicKey: sa.publicKey, ...now });
  const webpush = await FakeWebPush.start({ applicationServerKey: vapid.publicKey, ...now });
  const webhook = await FakeWebhook.start({ secret, ...now });
  const caFile = path.join(o.dir, 'apns-fake-ca.pem');
  writeFileSync(caFile, tls.cert);
  const d = defaultConfig().push;
  const config: PushProvidersConfig = {
    apns: { ...d.apns, enabled: true, endpoint: apns.url, teamId: apnsKey.teamId, keyId: apnsKey.keyId, topic, keyPem: apnsKey.pem, caFile },
    fcm: { ...d.fcm, enabled: true, endpoint: fcm.url, serviceAccountJson: sa.json, tokenUri: fcm.tokenUri },
    webpush: { ...d.webpush, enabled: true, vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey, subject: 'mailto:push-tests@example.com', allowHttp: true, endpointHosts: ['127.0.0.1'] },
    webhook: { ...d.webhook, enabled: true, secret, allowHttp: true, allowedOrigins: [new URL(webhook.url).origin] },
  };
  return {
    apns, fcm, webpush, webhook, config,
    close: async () => {
      await Promise.all([apns.close(), fcm.close(), webpush.close(), webhook.close()]);
    },
  };
}
