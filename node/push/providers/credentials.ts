/**
 * Push provider credentials: reads and parses the key material the `push.*` config
 * names (APNs .p8 key, FCM service-account JSON, VAPID key pair, webhook secret),
 * either inline or from a file. node/config.ts calls loadPushCredentials at start for
 * every enabled provider, so a missing file, a key that is not a key or a pair that
 * does not match stops the node with an error naming the key; the provider factory
 * (index.ts) then uses the same parsed objects.
 *
 * A PushCredentialError never carries key material: messages name the key and the
 * problem, never the value.
 */
import { createECDH, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PushProvidersConfig } from '../../config/types.js';

export class PushCredentialError extends Error {
  override name = 'PushCredentialError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

export interface ApnsCredentials {
  /** The ES256 (P-256) private key from the .p8 file Apple issues. */
  key: KeyObject;
  teamId: string;
  keyId: string;
  /** PEM CA certificates from push.apns.caFile (tests: the fake's self-signed certificate); undefined = system roots. */
  ca?: string;
}

/** The fields of a Google service-account JSON file the FCM client uses. */
export interface ServiceAccount {
  clientEmail: string;
  privateKeyId: string;
  /** RS256 signing key. */
  key: KeyObject;
  projectId: string;
  tokenUri: string;
}

export interface VapidKeys {
  /** P-256 private key. */
  key: KeyObject;
  /** Uncompressed public point (65 bytes), base64url: the `k=` of the Authorization header. */
  publicKey: string;
}

export interface PushCredentials {
  apns: ApnsCredentials | null;
  fcm: ServiceAccount | null;
  webpush: VapidKeys | null;
  webhook: { secret: Buffer } | null;
}

/** Google's token endpoint, used when neither the config nor the service account names one. */
export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

/** Inline value or file contents; exactly one of the two keys must be set. */
function inlineOrFile(inline: string, file: string, inlineKey: string, fileKey: string): string {
  if (inline !== '' && file !== '') throw new PushCredentialError(inlineKey, `set either ${inlineKey} or ${fileKey}, not both`);
  if (inline !== '') return inline;
  if (file === '') throw new PushCredentialError(fileKey, `is required (or ${inlineKey})`);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new PushCredentialError(fileKey, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function privateKey(pem: string, path: string, want: 'ec' | 'rsa'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new PushCredentialError(path, 'is not a PEM private key');
  }
  if (key.asymmetricKeyType !== want) throw new PushCredentialError(path, `must be an ${want === 'ec' ? 'EC P-256' : 'RSA'} private key (got ${key.asymmetricKeyType})`);
  if (want === 'ec' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new PushCredentialError(path, 'must be on curve P-256');
  return key;
}

export function loadApnsCredentials(c: PushProvidersConfig['apns']): ApnsCredentials {
  const pem = inlineOrFile(c.keyPem, c.keyFile, 'push.apns.keyPem', 'push.apns.keyFile');
  const key = privateKey(pem, c.keyPem !== '' ? 'push.apns.keyPem' : 'push.apns.keyFile', 'ec');
  let ca: string | undefined;
  if (c.caFile !== '') {
    try {
      ca = readFileSync(c.caFile, 'utf8');
    } catch (e) {
      throw new PushCredentialError('push.apns.caFile', `cannot read ${c.caFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new PushCredentialError('push.apns.caFile', 'holds no PEM certificate');
  }
  return { key, teamId: c.teamId, keyId: c.keyId, ...(ca !== undefined ? { ca } : {}) };
}

export function loadServiceAccount(c: PushProvidersConfig['fcm']): ServiceAccount {
  const where = c.serviceAccountJson !== '' ? 'push.fcm.serviceAccountJson' : 'push.fcm.serviceAccountFile';
  const text = inlineOrFile(c.serviceAccountJson, c.serviceAccountFile, 'push.fcm.serviceAccountJson', 'push.fcm.serviceAccountFile');
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new PushCredentialError(where, 'is not JSON');
  }
  if (o === null || typeof o !== 'object') throw new PushCredentialError(where, 'must be a JSON object');
  const field = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string' || v === '') throw new PushCredentialError(where, `has no ${k}`);
    return v;
  };
  const projectId = c.projectId !== '' ? c.projectId : field('project_id');
  const tokenUri = c.tokenUri !== '' ? c.tokenUri : typeof o.token_uri === 'string' && o.token_uri !== '' ? o.token_uri : GOOGLE_TOKEN_URI;
  return {
    clientEmail: field('client_email'),
    privateKeyId: typeof o.private_key_id === 'string' ? o.private_key_id : '',
    key: privateKey(field('private_key'), `${where} (private_key)`, 'rsa'),
    projectId,
    tokenUri,
  };
}

export function loadVapidKeys(c: PushProvidersConfig['webpush']): VapidKeys {
  const d = inlineOrFile(c.vapidPrivateKey, c.vapidPrivateKeyFile, 'push.webpush.vapidPrivateKey', 'push.webpush.vapidPrivateKeyFile').trim();
  const dPath = c.vapidPrivateKey !== '' ? 'push.webpush.vapidPrivateKey' : 'push.webpush.vapidPrivateKeyFile';
  const pub = Buffer.from(c.vapidPublicKey, 'base64url');
  if (pub.length !== 65 || pub[0] !== 0x04) throw new PushCredentialError('push.webpush.vapidPublicKey', 'must be the base64url of an uncompressed P-256 point (65 bytes)');
  if (Buffer.from(d, 'base64url').length !== 32) throw new PushCredentialError(dPath, 'must be the base64url of a 32-byte P-256 private scalar');
  let key: KeyObject;
  try {
    key = createPrivateKey({
      key: { kty: 'EC', crv: 'P-256', d, x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') },
      format: 'jwk',
    });
    // The private scalar must produce the configured public point (a JWK import does not check it).
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(d, 'base64url'));
    if (!ecdh.getPublicKey().equals(pub)) throw new Error('mismatch');
  } catch {
    throw new PushCredentialError(dPath, 'does not match push.webpush.vapidPublicKey');
  }
  return { key, publicKey: c.vapidPublicKey };
}

export function loadWebhookSecret(c: PushProvidersConfig['webhook']): { secret: Buffer } {
  const where = c.secret !== '' ? 'push.webhook.secret' : 'push.webhook.secretFile';
  const s = inlineOrFile(c.secret, c.secretFile, 'push.webhook.secret', 'push.webhook.secretFile').trim();
  // 32 bytes: HMAC-SHA256's own key size; shorter secrets weaken the signature.
  if (Buffer.byteLength(s) < 32) throw new PushCredentialError(where, 'must be at least 32 bytes');
  return { secret: Buffer.from(s, 'utf8') };
}

/** Parses the credentials of every enabled provider; throws PushCredentialError naming the key. */
export function loadPushCredentials(p: PushProvidersConfig): PushCredentials {
  return {
    apns: p.apns.enabled ? loadApnsCredentials(p.apns) : null,
    fcm: p.fcm.enabled ? loadServiceAccount(p.fcm) : null,
    webpush: p.webpush.enabled ? loadVapidKeys(p.webpush) : null,
    webhook: p.webhook.enabled ? loadWebhook(p.webhook) : null,
  };
}

/** The secret, and an origin list: webhook URLs come from clients (SSRF without one). */
function loadWebhook(c: PushProvidersConfig['webhook']): { secret: Buffer } {
  const out = loadWebhookSecret(c);
  if (c.allowedOrigins.length === 0) {
    throw new PushCredentialError('push.webhook.allowedOrigins', 'is required when push.webhook.enabled: webhook URLs come from clients, and with no list the node would POST wherever one says');
  }
  return out;
}
