/**
 * Webhook client, for apps with their own push pipeline: one JSON POST per push to the
 * URL the device registered (its app backend), signed with HMAC-SHA256 over
 * "<timestamp>.<body>" in `Switchboard-Signature: v1=<hex>` with the timestamp (unix
 * seconds) in `Switchboard-Timestamp`. Receivers verify the signature in constant time
 * and refuse timestamps more than 5 minutes from their clock (the replay window);
 * node/push/PROVIDERS.md has the recipe. 2xx = sent, 410 = unregistered, 429/5xx =
 * retry (Retry-After honoured).
 */
import { createHmac } from 'node:crypto';
import type { PushOutcome, PushProvider, PushRequest } from '../provider.js';
import { expiredOutcome, logOutcome, noLog, type ProviderEnv, type PushLog } from './common.js';
import { HttpClient, type HttpResponse } from './http_client.js';
import { retryAfterMs, truncateUtf8, wakeBody } from './payload.js';

export const WEBHOOK_TIMESTAMP_HEADER = 'switchboard-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'switchboard-signature';
/** What receivers should accept: a timestamp at most this far from their clock, either way. */
export const WEBHOOK_REPLAY_WINDOW_S = 300;
/** A preview body is cut to this: the backend forwards it to a push service with a 4 KB limit anyway. */
export const WEBHOOK_MAX_PREVIEW_BYTES = 2048;

export interface WebhookOptions extends ProviderEnv {
  secret: Buffer;
  /** Origins a webhook URL may point at; empty = any. */
  allowedOrigins: string[];
  allowHttp: boolean;
  timeoutMs: number;
}

/** `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export function webhookSignature(secret: Buffer, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The JSON body posted for a push. */
export function webhookBody(req: PushRequest): Record<string, unknown> {
  const d = req.device;
  const base = { ...wakeBody(req), user: d.user, device: d.device, appId: d.appId, collapseId: req.collapseId, expiresAt: req.expiresAt };
  if (d.mode === 'preview' && req.preview) {
    const b = req.preview.body;
    const body = Buffer.byteLength(b) <= WEBHOOK_MAX_PREVIEW_BYTES ? b : truncateUtf8(b, WEBHOOK_MAX_PREVIEW_BYTES - 3) + '…';
    return { ...base, kind: 'preview', preview: { sender: req.preview.sender, body } };
  }
  return base;
}

/** Checks a webhook URL against the policy; throws with what is wrong. */
export function checkWebhookUrl(token: string, o: { allowedOrigins: string[]; allowHttp: boolean }): URL {
  let u: URL;
  try {
    u = new URL(token);
  } catch {
    throw new Error('webhook URL is not a URL');
  }
  if (u.protocol !== 'https:' && !(o.allowHttp && u.protocol === 'http:')) throw new Error('webhook URL must be https (push.webhook.allowHttp)');
  if (o.allowedOrigins.length > 0 && !o.allowedOrigins.includes(u.origin)) throw new Error('webhook URL origin not in push.webhook.allowedOrigins');
  return u;
}

export class WebhookProvider implements PushProvider {
  readonly platform = 'webhook' as const;
  private readonly http: HttpClient;
  private readonly now: () => number;
  private readonly log: PushLog;
  private closed = false;

  constructor(private readonly opts: WebhookOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? noLog;
    this.http = new HttpClient({ timeoutMs: opts.timeoutMs });
  }

  async send(req: PushRequest): Promise<PushOutcome> {
    return logOutcome(this.log, 'webhook', req, await this.attempt(req));
  }

  private async attempt(req: PushRequest): Promise<PushOutcome> {
    if (this.closed) return { kind: 'retry', reason: 'provider closed', afterMs: null, status: 0 };
    const now = this.now();
    const expired = expiredOutcome(req, now);
    if (expired) return expired;
    let url: URL;
    try {
      url = checkWebhookUrl(req.device.token, this.opts);
    } catch (e) {
      const msg = (e as Error).message;
      return /not a URL/.test(msg) ? { kind: 'unregistered', reason: msg, status: 0 } : { kind: 'rejected', reason: msg, status: 0 };
    }
    const body = JSON.stringify(webhookBody(req));
    const ts = Math.floor(now / 1000);
    let res: HttpResponse;
    try {
      res = await this.http.post(url.href, {
        'content-type': 'application/json',
        [WEBHOOK_TIMESTAMP_HEADER]: String(ts),
        [WEBHOOK_SIGNATURE_HEADER]: webhookSignature(this.opts.secret, ts, body),
      }, body);
    } catch (e) {
      return { kind: 'retry', reason: `transport: ${(e as Error).message}`, afterMs: null, status: 0 };
    }
    return mapWebhook(res, this.now());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.http.close();
  }
}

export function mapWebhook(res: HttpResponse, now: number): PushOutcome {
  const { status } = res;
  const reason = `HTTP ${status}`;
  if (status >= 200 && status < 300) return { kind: 'sent', status };
  if (status === 410) return { kind: 'unregistered', reason, status };
  // 401/403: the backend refuses our signature (secrets out of step), a node problem, not this push's.
  if (status === 429 || status >= 500 || status === 401 || status === 403) return { kind: 'retry', reason, afterMs: retryAfterMs(res.headers['retry-after'], now), status };
  return { kind: 'rejected', reason, status };
}
