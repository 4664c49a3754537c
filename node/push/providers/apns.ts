/**
 * APNs client: one HTTP/2 session per endpoint (node:http2), reused across pushes and
 * re-dialled after a GOAWAY, an error or a close. One push = one stream,
 * `POST /3/device/<token>` with the apns-* headers and a bearer provider token
 * (apns_token.ts). Wire format and error mapping: node/push/PROVIDERS.md.
 */
import http2 from 'node:http2';
import type { PushOutcome, PushProvider, PushRequest } from '../provider.js';
import type { ApnsCredentials } from './credentials.js';
import { ApnsTokenSource } from './apns_token.js';
import { expiredOutcome, logOutcome, noLog, type ProviderEnv, type PushLog } from './common.js';
import { apnsCollapseId, fitBody, retryAfterMs, wakeFields } from './payload.js';

/** APNs refuses payloads over 4 KB (5 KB is for VoIP pushes only). */
export const APNS_MAX_PAYLOAD_BYTES = 4096;

export interface ApnsOptions extends ProviderEnv {
  endpoint: string;
  /** Default apns-topic (bundle id); PushDevice.appId overrides it. */
  topic: string;
  credentials: ApnsCredentials;
  tokenRefreshMs: number;
  timeoutMs: number;
  /** CA certificates to trust instead of the system roots (a test server's self-signed CA). */
  ca?: string | Buffer;
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** The JSON payload for a push, or null when it cannot fit in 4 KB even with the preview body cut. */
export function apnsPayload(req: PushRequest): string | null {
  const f = wakeFields(req);
  const ids = { v: Number(f.v), conversation: req.conversation, seq: req.seq, unread: req.unread };
  if (req.device.mode === 'preview' && req.preview) {
    const p = req.preview;
    return fitBody(p.body, APNS_MAX_PAYLOAD_BYTES, (body) =>
      JSON.stringify({ aps: { alert: { title: p.sender, body }, badge: req.unread, sound: 'default', 'thread-id': req.conversation }, ...ids }),
    );
  }
  const s = JSON.stringify({ aps: { 'content-available': 1 }, ...ids });
  return Buffer.byteLength(s) <= APNS_MAX_PAYLOAD_BYTES ? s : null;
}

export class ApnsProvider implements PushProvider {
  readonly platform = 'apns' as const;
  private session: http2.ClientHttp2Session | null = null;
  private closed = false;
  private readonly tokens: ApnsTokenSource;
  private readonly now: () => number;
  private readonly log: PushLog;
  /** Sessions dialled so far (tests check reuse and reconnects). */
  connects = 0;

  constructor(private readonly opts: ApnsOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? noLog;
    this.tokens = new ApnsTokenSource(opts.credentials, opts.tokenRefreshMs, this.now);
  }

  get tokensSigned(): number {
    return this.tokens.signed;
  }

  async send(req: PushRequest): Promise<PushOutcome> {
    return logOutcome(this.log, 'apns', req, await this.attempt(req));
  }

  private async attempt(req: PushRequest): Promise<PushOutcome> {
    if (this.closed) return { kind: 'retry', reason: 'provider closed', afterMs: null, status: 0 };
    const now = this.now();
    const expired = expiredOutcome(req, now);
    if (expired) return expired;
    // Hex only: anything else is not a device token, and must not reach the :path.
    if (!/^[0-9a-fA-F]{8,200}$/.test(req.device.token)) return { kind: 'unregistered', reason: 'BadDeviceToken (not a hex device token)', status: 0 };
    const payload = apnsPayload(req);
    if (payload === null) return { kind: 'rejected', reason: `PayloadTooLarge (over ${APNS_MAX_PAYLOAD_BYTES} bytes before sending)`, status: 0 };
    const alert = req.device.mode === 'preview' && req.preview !== null;
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/3/device/${req.device.token}`,
      'apns-push-type': alert ? 'alert' : 'background',
      // Apple requires 5 for background pushes; 10 delivers an alert at once.
      'apns-priority': alert ? '10' : '5',
      'apns-expiration': String(Math.floor(req.expiresAt / 1000)),
      'apns-collapse-id': apnsCollapseId(req.collapseId),
      'apns-topic': req.device.appId !== '' ? req.device.appId : this.opts.topic,
      'content-type': 'application/json',
    };
    // ExpiredProviderToken: re-sign and try once more within this send.
    for (let attempt = 0; ; attempt++) {
      const jwt = await this.tokens.get();
      let ans: Answer;
      try {
        ans = await this.request({ ...headers, authorization: `bearer ${jwt}` }, payload);
      } catch (e) {
        return { kind: 'retry', reason: `transport: ${(e as Error).message}`, afterMs: null, status: 0 };
      }
      const reason = parseReason(ans.body);
      if (ans.status === 403 && reason === 'ExpiredProviderToken') {
        this.tokens.invalidate(jwt);
        if (attempt === 0) continue;
        return { kind: 'retry', reason, afterMs: 0, status: 403 };
      }
      return mapApns(ans, reason, this.now());
    }
  }

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(this.opts.endpoint, this.opts.ca !== undefined ? { ca: this.opts.ca } : {});
    this.connects++;
    const drop = (): void => {
      if (this.session === s) this.session = null;
    };
    // After a GOAWAY no new streams may start on this session: the next push dials again.
    s.on('goaway', drop);
    s.on('close', drop);
    s.on('error', drop);
    this.session = s;
    return s;
  }

  /**
   * A stream went unanswered: is the connection itself dead (a half-open TCP connection
   * after a NAT or network change answers nothing)? An HTTP/2 PING must come back
   * within timeoutMs, else the session is destroyed and the next push dials afresh.
   */
  private probe(session: http2.ClientHttp2Session): void {
    if (session.destroyed || session.closed) return;
    const timer = setTimeout(() => {
      this.log('info', 'apns session unresponsive to PING: reconnecting', { endpoint: this.opts.endpoint });
      session.destroy();
    }, this.opts.timeoutMs);
    timer.unref();
    const sent = session.ping((err) => {
      clearTimeout(timer);
      if (err) session.destroy();
    });
    if (!sent) clearTimeout(timer);
  }

  private request(headers: http2.OutgoingHttpHeaders, payload: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      let session: http2.ClientHttp2Session;
      try {
        session = this.connect();
      } catch (e) {
        reject(e as Error);
        return;
      }
      // A session error (refused, reset, GOAWAY) destroys its streams: 'close' below reports it.
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers);
      } catch (e) {
        reject(e as Error);
        return;
      }
      let resHeaders: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.setTimeout(this.opts.timeoutMs, () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        this.probe(session);
      });
      stream.on('response', (h) => {
        resHeaders = h;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (e) => reject(e));
      stream.on('close', () => {
        const status = Number(resHeaders[':status'] ?? 0);
        if (status === 0) reject(new Error(stream.rstCode === http2.constants.NGHTTP2_CANCEL ? `no answer within ${this.opts.timeoutMs} ms` : `stream closed (code ${stream.rstCode})`));
        else resolve({ status, headers: resHeaders, body: Buffer.concat(chunks).toString('utf8') });
      });
      stream.end(payload);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = null;
    if (s && !s.closed) await new Promise<void>((r) => s.close(() => r()));
  }
}

function parseReason(body: string): string {
  try {
    const r = (JSON.parse(body) as { reason?: unknown }).reason;
    return typeof r === 'string' ? r : '';
  } catch {
    return '';
  }
}

/** APNs status + reason → outcome (table in node/push/PROVIDERS.md). */
export function mapApns(ans: { status: number; headers: http2.IncomingHttpHeaders }, reason: string, now: number): PushOutcome {
  const { status } = ans;
  const why = reason || `HTTP ${status}`;
  if (status === 200) return { kind: 'sent', status };
  if (status === 410) return { kind: 'unregistered', reason: why, status };
  if (status === 400 && reason === 'BadDeviceToken') return { kind: 'unregistered', reason, status };
  const after = retryAfterMs(ans.headers['retry-after'], now);
  if (status === 429 || status >= 500) return { kind: 'retry', reason: why, afterMs: after, status };
  // 403 other than ExpiredProviderToken (InvalidProviderToken, bad key or team): the
  // node's credentials are wrong, not the push; keep it until the operator fixes them.
  if (status === 403) return { kind: 'retry', reason: why, afterMs: after, status };
  return { kind: 'rejected', reason: why, status };
}
