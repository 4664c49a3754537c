/**
 * Web Push client: one POST per push to the subscription's own endpoint (RFC 8030) with
 * TTL, Urgency and Topic (the collapse id), the body encrypted for the subscription
 * (RFC 8291, webpush_crypto.ts) and VAPID authorization (RFC 8292, vapid.ts). Wire
 * format and error mapping: node/push/PROVIDERS.md.
 */
import type { PushOutcome, PushProvider, PushRequest } from '../provider.js';
import type { VapidKeys } from './credentials.js';
import { expiredOutcome, logOutcome, noLog, type ProviderEnv, type PushLog } from './common.js';
import { HttpClient, type HttpResponse } from './http_client.js';
import { fitBody, retryAfterMs, ttlSeconds, wakeBody, webPushTopic } from './payload.js';
import { VapidSigner } from './vapid.js';
import { encryptWebPush, WEBPUSH_MAX_PLAINTEXT } from './webpush_crypto.js';
import { hostAllowed } from '../endpoint_hosts.js';

export interface WebPushOptions extends ProviderEnv {
  vapid: VapidKeys;
  subject: string;
  allowHttp: boolean;
  /** Hosts an endpoint may point at (push.webpush.endpointHosts, ../endpoint_hosts.ts); empty = any. */
  endpointHosts: readonly string[];
  timeoutMs: number;
}

export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** This node's policy refuses the endpoint (plain http, a host not listed): the subscription may be fine elsewhere. */
export class EndpointPolicyError extends Error {}

/**
 * Parses PushDevice.token for webpush (the browser's PushSubscription JSON); throws with
 * what is wrong (an EndpointPolicyError when only this node's policy refuses it).
 */
export function parseSubscription(token: string, allowHttp: boolean, endpointHosts: readonly string[] = []): WebPushSubscription {
  let o: { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
  try {
    o = JSON.parse(token) as typeof o;
  } catch {
    throw new Error('subscription is not JSON');
  }
  if (typeof o?.endpoint !== 'string') throw new Error('subscription has no endpoint');
  let u: URL;
  try {
    u = new URL(o.endpoint);
  } catch {
    throw new Error('subscription endpoint is not a URL');
  }
  if (u.protocol !== 'https:' && !(allowHttp && u.protocol === 'http:')) throw new EndpointPolicyError('subscription endpoint must be https (push.webpush.allowHttp)');
  const p256dh = typeof o.keys?.p256dh === 'string' ? Buffer.from(o.keys.p256dh, 'base64url') : Buffer.alloc(0);
  const auth = typeof o.keys?.auth === 'string' ? Buffer.from(o.keys.auth, 'base64url') : Buffer.alloc(0);
  if (p256dh.length !== 65 || p256dh[0] !== 4) throw new Error('subscription keys.p256dh must be a 65-byte P-256 point');
  if (auth.length !== 16) throw new Error('subscription keys.auth must be 16 bytes');
  // After the shape checks: a malformed subscription is dead anywhere, a host off the list only here.
  if (!hostAllowed(u.hostname, endpointHosts)) throw new EndpointPolicyError('subscription endpoint host is not in push.webpush.endpointHosts');
  return { endpoint: o.endpoint, keys: { p256dh: o.keys!.p256dh as string, auth: o.keys!.auth as string } };
}

/** The JSON the service worker receives, or null when it cannot fit one record even with the preview cut. */
export function webPushPlaintext(req: PushRequest): string | null {
  const base = wakeBody(req);
  if (req.device.mode === 'preview' && req.preview) {
    const p = req.preview;
    return fitBody(p.body, WEBPUSH_MAX_PLAINTEXT, (body) => JSON.stringify({ ...base, kind: 'preview', sender: p.sender, body }));
  }
  const s = JSON.stringify(base);
  return Buffer.byteLength(s) <= WEBPUSH_MAX_PLAINTEXT ? s : null;
}

export class WebPushProvider implements PushProvider {
  readonly platform = 'webpush' as const;
  private readonly http: HttpClient;
  private readonly vapid: VapidSigner;
  private readonly now: () => number;
  private readonly log: PushLog;
  private closed = false;

  constructor(private readonly opts: WebPushOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? noLog;
    this.http = new HttpClient({ timeoutMs: opts.timeoutMs });
    this.vapid = new VapidSigner(opts.vapid, opts.subject, this.now);
  }

  get vapidTokensSigned(): number {
    return this.vapid.signed;
  }

  async send(req: PushRequest): Promise<PushOutcome> {
    return logOutcome(this.log, 'webpush', req, await this.attempt(req));
  }

  private async attempt(req: PushRequest): Promise<PushOutcome> {
    if (this.closed) return { kind: 'retry', reason: 'provider closed', afterMs: null, status: 0 };
    const now = this.now();
    const expired = expiredOutcome(req, now);
    if (expired) return expired;
    let sub: WebPushSubscription;
    try {
      sub = parseSubscription(req.device.token, this.opts.allowHttp, this.opts.endpointHosts);
    } catch (e) {
      // An endpoint this node's policy refuses is not a dead subscription; anything else can never work.
      const msg = (e as Error).message;
      return e instanceof EndpointPolicyError ? { kind: 'rejected', reason: msg, status: 0 } : { kind: 'unregistered', reason: msg, status: 0 };
    }
    const text = webPushPlaintext(req);
    if (text === null) return { kind: 'rejected', reason: `payload over ${WEBPUSH_MAX_PLAINTEXT} bytes before sending`, status: 0 };
    const body = encryptWebPush({ plaintext: Buffer.from(text, 'utf8'), uaPublic: Buffer.from(sub.keys.p256dh, 'base64url'), authSecret: Buffer.from(sub.keys.auth, 'base64url') });
    const headers: Record<string, string> = {
      ttl: String(ttlSeconds(req.expiresAt, now)),
      // RFC 8030 §5.3 lists "incoming chat message" under normal; high is for calls and alarms.
      urgency: 'normal',
      topic: webPushTopic(req.collapseId),
      'content-encoding': 'aes128gcm',
      'content-type': 'application/octet-stream',
      authorization: await this.vapid.authorization(sub.endpoint),
    };
    let res: HttpResponse;
    try {
      res = await this.http.post(sub.endpoint, headers, body);
    } catch (e) {
      return { kind: 'retry', reason: `transport: ${(e as Error).message}`, afterMs: null, status: 0 };
    }
    return mapWebPush(res, this.now());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.http.close();
  }
}

/** Push service status → outcome (table in node/push/PROVIDERS.md). */
export function mapWebPush(res: HttpResponse, now: number): PushOutcome {
  const { status } = res;
  const text = res.body.toString('utf8').slice(0, 200).trim();
  const reason = text ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
  if (status >= 200 && status < 300) return { kind: 'sent', status };
  if (status === 404 || status === 410) return { kind: 'unregistered', reason, status };
  const after = retryAfterMs(res.headers['retry-after'], now);
  // 401/403: our VAPID key or JWT is refused, a node problem rather than this push's.
  if (status === 429 || status >= 500 || status === 401 || status === 403) return { kind: 'retry', reason, afterMs: after, status };
  return { kind: 'rejected', reason, status };
}
