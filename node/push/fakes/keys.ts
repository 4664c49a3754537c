/**
 * Fresh key material for tests against the fakes, generated per run (nothing
 * committed): an APNs .p8-style key, a Google service account, a VAPID pair, a
 * browser's Web Push subscription keys, a webhook secret. Each returns what the
 * provider config takes and what the fake needs to verify or decrypt.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';

export interface ApnsTestKey {
  /** PKCS#8 PEM, as in Apple's .p8 file (push.apns.keyPem). */
  pem: string;
  publicKey: KeyObject;
  teamId: string;
  keyId: string;
}

export function apnsTestKey(): ApnsTestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey, teamId: 'TEAM123456', keyId: 'KEY1234567' };
}

export interface ServiceAccountFixture {
  /** The JSON text of a service-account file (push.fcm.serviceAccountJson). */
  json: string;
  publicKey: KeyObject;
  clientEmail: string;
  projectId: string;
}

/** A service account whose token_uri points at `tokenUri` (the fake's). */
export function serviceAccountFixture(tokenUri: string, projectId = 'switchboard-test'): ServiceAccountFixture {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = `push@${projectId}.iam.gserviceaccount.com`;
  const json = JSON.stringify({
    type: 'service_account',
    project_id: projectId,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    client_email: clientEmail,
    token_uri: tokenUri,
  });
  return { json, publicKey, clientEmail, projectId };
}

export interface VapidFixture {
  /** base64url uncompressed point (push.webpush.vapidPublicKey). */
  publicKey: string;
  /** base64url 32-byte scalar (push.webpush.vapidPrivateKey). */
  privateKey: string;
  publicKeyObject: KeyObject;
}

export function vapidFixture(): VapidFixture {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return { publicKey: point.toString('base64url'), privateKey: jwk.d!, publicKeyObject: publicKey };
}

export interface BrowserSubscriptionKeys {
  /** The user agent's ECDH private key: only the browser (and the fake) can decrypt. */
  privateKey: KeyObject;
  /** base64url uncompressed public point (subscription keys.p256dh). */
  p256dh: string;
  /** base64url 16-byte auth secret (subscription keys.auth). */
  auth: string;
}

export function browserSubscriptionKeys(): BrowserSubscriptionKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return { privateKey, p256dh: point.toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

export function webhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A plausible APNs device token: 32 random bytes in hex. */
export function apnsDeviceToken(): string {
  return randomBytes(32).toString('hex');
}
