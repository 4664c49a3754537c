/**
 * A fake Web Push service (RFC 8030) on loopback, standing in for a browser's push
 * service and the browser itself. `subscribe()` makes a subscription as a browser
 * would (fresh P-256 key pair and auth secret, an endpoint on this server); a push to
 * that endpoint is checked like a push service checks it and then DECRYPTED with the
 * subscription's private key (webpush_decrypt.ts, independent of the provider's
 * encrypt), so tests assert on the plaintext a service worker would get.
 * Checks: Content-Encoding aes128gcm; TTL a non-negative integer; Urgency one of the
 * four values; Topic ≤ 32 URL-safe base64 characters; `Authorization: vapid t=, k=`
 * with k = the applicationServerKey the subscription was made with, an ES256 JWT
 * verified with it, aud = this origin, exp in the future and ≤ 24 h ahead, sub a
 * mailto: or https: URL (401/403 otherwise); body ≤ 4096 bytes (413). Unknown
 * endpoints get 404, unsubscribed ones 410; tests script answers per subscription.
 */
import http from 'node:http';
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import { FakeProviderServer, flatHeaders, type FakeRecord } from './fake_server.js';
import { decryptWebPush } from './webpush_decrypt.js';
import { browserSubscriptionKeys } from './keys.js';

export interface FakeWebPushOptions {
  /** The VAPID public key (base64url point) subscriptions are made with (applicationServerKey). */
  applicationServerKey: string;
  now?: () => number;
  port?: number;
}

interface Sub {
  token: string;
  privateKey: KeyObject;
  auth: Buffer;
  gone: boolean;
}

export class FakeWebPush extends FakeProviderServer {
  private readonly now: () => number;
  private readonly subs = new Map<string, Sub>();

  private constructor(private readonly opts: FakeWebPushOptions) {
    super();
    this.now = opts.now ?? Date.now;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        void this.handle(req, raw).then((a) => {
          this.records.push({
            at: this.now(), method: req.method ?? '', path: req.url ?? '', headers: flatHeaders(req.headers), body: a.body, bodyBytes: raw.length,
            status: a.status, reason: a.reason, extra: a.extra,
          });
          const h: Record<string, string> = {};
          if (a.retryAfter !== undefined) h['retry-after'] = a.retryAfter;
          if (a.status === 201) h.location = `${this.url}/message/${randomBytes(8).toString('hex')}`;
          res.writeHead(a.status, h);
          res.end(a.status === 201 ? '' : a.reason);
        });
      });
    });
    this.serve(server, 'http');
  }

  static async start(opts: FakeWebPushOptions): Promise<FakeWebPush> {
    const f = new FakeWebPush(opts);
    await f.life.listen(opts.port ?? 0);
    return f;
  }

  /** A new subscription, as PushSubscription.toJSON() gives it: the text to register as the device token. */
  subscribe(): { id: string; token: string } {
    const k = browserSubscriptionKeys();
    const id = randomBytes(12).toString('base64url');
    const token = JSON.stringify({ endpoint: `${this.url}/push/${id}`, expirationTime: null, keys: { p256dh: k.p256dh, auth: k.auth } });
    this.subs.set(id, { token, privateKey: k.privateKey, auth: Buffer.from(k.auth, 'base64url'), gone: false });
    return { id, token };
  }

  /** The subscription JSON (device token) of a subscription id. */
  tokenOf(id: string): string {
    return this.subs.get(id)?.token ?? '';
  }

  /** The user revoked permission: pushes to it now get 410 Gone. */
  unsubscribe(id: string): void {
    const s = this.subs.get(id);
    if (s) s.gone = true;
  }

  /** Accepted pushes (201), with body = the decrypted JSON. */
  get delivered(): FakeRecord[] {
    return this.records.filter((r) => r.status === 201);
  }

  private async handle(req: http.IncomingMessage, raw: Buffer): Promise<{ status: number; reason: string; retryAfter?: string; body: unknown; extra: Record<string, unknown> }> {
    const extra: Record<string, unknown> = {};
    const fail = (status: number, reason: string, retryAfter?: string): { status: number; reason: string; retryAfter?: string; body: unknown; extra: Record<string, unknown> } => ({ status, reason, retryAfter, body: null, extra });
    if (req.method !== 'POST') return fail(405, 'POST only');
    const m = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    const sub = m ? this.subs.get(m[1]) : undefined;
    if (!m || !sub) return fail(404, 'no such subscription');
    extra.subscription = m[1];
    if (sub.gone) return fail(410, 'subscription expired or unsubscribed');
    const h = req.headers;
    if (!/^\d+$/.test(String(h.ttl ?? ''))) return fail(400, 'TTL header required (non-negative integer)');
    if (h.urgency !== undefined && !['very-low', 'low', 'normal', 'high'].includes(String(h.urgency))) return fail(400, 'bad Urgency');
    if (h.topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(String(h.topic))) return fail(400, 'Topic must be at most 32 URL-safe base64 characters');
    if (h['content-encoding'] !== 'aes128gcm') return fail(415, 'Content-Encoding must be aes128gcm');
    // VAPID.
    const vm = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(String(h.authorization ?? ''));
    if (!vm) return fail(401, 'Authorization: vapid t=..., k=... required');
    if (vm[2] !== this.opts.applicationServerKey) return fail(403, 'k does not match the subscription\'s applicationServerKey');
    let claims: Record<string, unknown>;
    try {
      const { payload } = await compactVerify(vm[1], p256FromPoint(vm[2]), { algorithms: ['ES256'] });
      claims = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
    } catch {
      return fail(403, 'VAPID JWT signature does not verify');
    }
    extra.vapid = claims;
    const nowS = Math.floor(this.now() / 1000);
    if (claims.aud !== new URL(this.url).origin) return fail(403, 'VAPID aud must be the endpoint origin');
    if (typeof claims.exp !== 'number' || claims.exp <= nowS || claims.exp > nowS + 24 * 3600) return fail(403, 'VAPID exp must be within 24 h');
    if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) return fail(403, 'VAPID sub must be mailto: or https:');
    if (raw.length > 4096) return fail(413, 'payload too large');
    let plain;
    try {
      plain = decryptWebPush(raw, sub.privateKey, sub.auth);
    } catch (e) {
      return fail(400, `cannot decrypt: ${(e as Error).message}`);
    }
    extra.plaintext = plain.plaintext.toString('utf8');
    extra.padding = plain.padding;
    extra.recordSize = plain.recordSize;
    const scripted = this.scripts.take(m[1]);
    if (scripted) return fail(scripted.status, scripted.reason ?? 'scripted', scripted.retryAfter);
    let body: unknown = null;
    try {
      body = JSON.parse(plain.plaintext.toString('utf8'));
    } catch {
      /* a non-JSON payload is the app's business; recorded as text in extra */
    }
    return { status: 201, reason: '', body, extra };
  }
}

function p256FromPoint(b64: string): KeyObject {
  const p = Buffer.from(b64, 'base64url');
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: p.subarray(1, 33).toString('base64url'), y: p.subarray(33).toString('base64url') }, format: 'jwk' });
}
