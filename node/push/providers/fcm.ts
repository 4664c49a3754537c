/**
 * FCM HTTP v1 client: `POST <endpoint>/v1/projects/<id>/messages:send` with a bearer
 * access token from fcm_token.ts. A wake push is a data-only message (the app's
 * FirebaseMessagingService runs and syncs; nothing is shown by FCM); a preview adds a
 * notification whose android tag is the collapse id, so one conversation shows one
 * notification. Wire format and error mapping: node/push/PROVIDERS.md.
 */
import type { PushOutcome, PushProvider, PushRequest } from '../provider.js';
import type { ServiceAccount } from './credentials.js';
import { expiredOutcome, logOutcome, noLog, type ProviderEnv, type PushLog } from './common.js';
import { FcmTokenError, FcmTokenSource } from './fcm_token.js';
import { HttpClient, type HttpResponse } from './http_client.js';
import { retryAfterMs, truncateUtf8, ttlSeconds, wakeFields } from './payload.js';

/** FCM refuses messages whose data + notification (keys and values) exceed 4096 bytes. */
export const FCM_MAX_PAYLOAD_BYTES = 4096;
/** FCM's longest TTL: 4 weeks. */
const FCM_MAX_TTL_S = 28 * 24 * 3600;
/** FCM asks senders to wait at least a minute after a 429 (QUOTA_EXCEEDED). */
export const FCM_MIN_429_BACKOFF_MS = 60_000;

export interface FcmOptions extends ProviderEnv {
  endpoint: string;
  serviceAccount: ServiceAccount;
  timeoutMs: number;
}

/** The bytes FCM counts against its limit: every key and value of data and notification. */
function countedBytes(m: { data: Record<string, string>; notification?: Record<string, string> }): number {
  let n = 0;
  for (const o of [m.data, m.notification ?? {}]) for (const [k, v] of Object.entries(o)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** The messages:send body, or null when it cannot fit FCM's limit even with the preview cut. */
export function fcmMessage(req: PushRequest, now: number): { message: Record<string, unknown> } | null {
  const data = { ...wakeFields(req), kind: 'wake' };
  const android: Record<string, unknown> = {
    collapse_key: req.collapseId,
    ttl: `${Math.min(FCM_MAX_TTL_S, ttlSeconds(req.expiresAt, now))}s`,
    // high: a data message at normal priority waits for the device's maintenance window (Doze), minutes to hours.
    priority: 'high',
  };
  if (req.device.mode === 'preview' && req.preview) {
    const p = req.preview;
    const pdata = { ...data, kind: 'preview' };
    // FCM counts raw key and value bytes (no JSON escaping), so the body's budget is exact.
    const fixed = countedBytes({ data: pdata, notification: { title: p.sender, body: '' } });
    if (fixed > FCM_MAX_PAYLOAD_BYTES) return null;
    const room = FCM_MAX_PAYLOAD_BYTES - fixed;
    const body = Buffer.byteLength(p.body) <= room ? p.body : truncateUtf8(p.body, room - Buffer.byteLength('…')) + '…';
    return {
      message: {
        token: req.device.token,
        data: pdata,
        notification: { title: p.sender, body },
        android: { ...android, notification: { tag: req.collapseId } },
      },
    };
  }
  if (countedBytes({ data }) > FCM_MAX_PAYLOAD_BYTES) return null;
  return { message: { token: req.device.token, data, android } };
}

interface FcmErrorBody {
  error?: { code?: number; message?: string; status?: string; details?: Array<{ '@type'?: string; errorCode?: string; fieldViolations?: Array<{ field?: string }> }> };
}

export class FcmProvider implements PushProvider {
  readonly platform = 'fcm' as const;
  private readonly http: HttpClient;
  private readonly tokens: FcmTokenSource;
  private readonly now: () => number;
  private readonly log: PushLog;
  private readonly url: string;
  private closed = false;

  constructor(opts: FcmOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? noLog;
    this.http = new HttpClient({ timeoutMs: opts.timeoutMs });
    this.tokens = new FcmTokenSource(opts.serviceAccount, this.http, this.now);
    this.url = `${opts.endpoint.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(opts.serviceAccount.projectId)}/messages:send`;
  }

  get tokenExchanges(): number {
    return this.tokens.exchanges;
  }

  async send(req: PushRequest): Promise<PushOutcome> {
    return logOutcome(this.log, 'fcm', req, await this.attempt(req));
  }

  private async attempt(req: PushRequest): Promise<PushOutcome> {
    if (this.closed) return { kind: 'retry', reason: 'provider closed', afterMs: null, status: 0 };
    const expired = expiredOutcome(req, this.now());
    if (expired) return expired;
    if (req.device.token === '') return { kind: 'unregistered', reason: 'empty registration token', status: 0 };
    const msg = fcmMessage(req, this.now());
    if (msg === null) return { kind: 'rejected', reason: `message too big (over ${FCM_MAX_PAYLOAD_BYTES} bytes before sending)`, status: 0 };
    const body = JSON.stringify(msg);
    // A 401 means the cached access token went bad: exchange a new one and try once more.
    for (let attempt = 0; ; attempt++) {
      let access: string;
      try {
        access = await this.tokens.get();
      } catch (e) {
        if (e instanceof FcmTokenError) return { kind: 'retry', reason: e.message, afterMs: e.afterMs, status: e.status };
        throw e;
      }
      let res: HttpResponse;
      try {
        res = await this.http.post(this.url, { authorization: `Bearer ${access}`, 'content-type': 'application/json; charset=utf-8' }, body);
      } catch (e) {
        return { kind: 'retry', reason: `transport: ${(e as Error).message}`, afterMs: null, status: 0 };
      }
      if (res.status === 401 && attempt === 0) {
        this.tokens.invalidate(access);
        continue;
      }
      return mapFcm(res, this.now());
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.http.close();
  }
}

/** FCM status + error body → outcome (table in node/push/PROVIDERS.md). */
export function mapFcm(res: HttpResponse, now: number): PushOutcome {
  const { status } = res;
  if (status === 200) return { kind: 'sent', status };
  let e: FcmErrorBody['error'] = {};
  try {
    e = (JSON.parse(res.body.toString('utf8')) as FcmErrorBody).error ?? {};
  } catch {
    /* not JSON: status alone decides */
  }
  const details = e.details ?? [];
  const code = details.find((d) => d.errorCode)?.errorCode ?? e.status ?? '';
  const reason = [code, e.message].filter(Boolean).join(': ') || `HTTP ${status}`;
  const after = retryAfterMs(res.headers['retry-after'], now);
  if (code === 'UNREGISTERED' || (status === 404 && code === 'NOT_FOUND')) return { kind: 'unregistered', reason, status };
  if (status === 400) {
    // INVALID_ARGUMENT is also a bad TTL or data key; only a bad token kills the registration.
    const onToken =
      details.some((d) => d.fieldViolations?.some((v) => v.field === 'message.token')) || /registration token/i.test(e.message ?? '');
    return onToken ? { kind: 'unregistered', reason, status } : { kind: 'rejected', reason, status };
  }
  if (code === 'SENDER_ID_MISMATCH') return { kind: 'unregistered', reason, status };
  if (status === 429) return { kind: 'retry', reason, afterMs: Math.max(FCM_MIN_429_BACKOFF_MS, after ?? 0), status };
  // 5xx, and 401/403 (our credentials, not this push): keep it until fixed or expired.
  if (status >= 500 || status === 401 || status === 403) return { kind: 'retry', reason, afterMs: after, status };
  return { kind: 'rejected', reason, status };
}
