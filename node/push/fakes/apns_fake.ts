/**
 * A fake APNs: an HTTP/2 + TLS server on loopback that checks what Apple checks and
 * answers as Apple does (status + `{"reason": ...}`), so the APNs client is tested
 * against the wire format:
 * - `POST /3/device/<hex token>`; apns-topic, apns-push-type (and that the payload
 *   matches it: background = content-available and no alert, with priority 5),
 *   apns-priority, apns-expiration, apns-collapse-id (≤ 64 bytes);
 * - the provider token: ES256 signature against the configured public key, `kid`,
 *   `iss` = team id, `iat` not older than an hour (403 ExpiredProviderToken) and, like
 *   Apple, a new token less than 20 min after the previous one gets 429
 *   TooManyProviderTokenUpdates;
 * - the payload: ≤ 4096 bytes (413 PayloadTooLarge), a JSON object with an `aps` dictionary.
 * Tests script answers per device token (410, 400 BadDeviceToken, 429 + Retry-After,
 * 500, 403 ExpiredProviderToken, or no answer at all), take it down, and read the records.
 */
import http2 from 'node:http2';
import { randomUUID, type KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader } from 'jose';
import { FakeProviderServer, flatHeaders, type FakeRecord } from './fake_server.js';

export interface FakeApnsOptions {
  cert: string;
  key: string;
  teamId: string;
  keyId: string;
  /** The public half of the provider's .p8 key. */
  publicKey: KeyObject;
  /** Topics this "team" may push to; empty = any. */
  topics?: string[];
  now?: () => number;
  port?: number;
}

const MAX_PAYLOAD = 4096;
const TOKEN_MAX_AGE_S = 3600;
const MIN_TOKEN_UPDATE_S = 20 * 60;

export class FakeApns extends FakeProviderServer {
  private readonly now: () => number;
  /** The last provider token seen and its iat (seconds), for the update-rate rule. */
  private lastToken: { jwt: string; iat: number } | null = null;
  /** After a scripted ExpiredProviderToken the client must re-sign at once: allow that update. */
  private allowNextUpdate = false;
  /** Distinct provider tokens accepted, in order. */
  readonly tokensSeen: string[] = [];
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  private constructor(private readonly opts: FakeApnsOptions) {
    super();
    this.now = opts.now ?? Date.now;
    const server = http2.createSecureServer({ cert: opts.cert, key: opts.key });
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    server.on('session', (s) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
    });
    // A client that vanishes mid-stream is not the fake's problem.
    server.on('sessionError', () => undefined);
    this.serve(server, 'https');
  }

  static async start(opts: FakeApnsOptions): Promise<FakeApns> {
    const f = new FakeApns(opts);
    await f.life.listen(opts.port ?? 0);
    return f;
  }

  /** Successful pushes (status 200), in arrival order. */
  get delivered(): FakeRecord[] {
    return this.records.filter((r) => r.status === 200);
  }

  /** Send GOAWAY on every open session (as APNs does before it closes a connection). */
  goawayAll(): void {
    for (const s of this.sessions) if (!s.closed) s.goaway(http2.constants.NGHTTP2_NO_ERROR);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('end', () => {
      void this.handle(headers, Buffer.concat(chunks)).then(({ status, reason, retryAfter, extra, body }) => {
        const path = String(headers[':path'] ?? '');
        this.records.push({
          at: this.now(), method: String(headers[':method']), path, headers: flatHeaders(headers as Record<string, string>),
          body, bodyBytes: chunks.reduce((n, c) => n + c.length, 0), status, reason, extra,
        });
        if (stream.destroyed || status === 0) return;
        const out: http2.OutgoingHttpHeaders = { ':status': status, 'apns-id': String(headers['apns-id'] ?? randomUUID()) };
        if (retryAfter !== undefined) out['retry-after'] = retryAfter;
        if (status === 200) {
          stream.respond(out, { endStream: true });
          return;
        }
        stream.respond({ ...out, 'content-type': 'application/json' });
        stream.end(JSON.stringify(status === 410 ? { reason, timestamp: this.now() } : { reason }));
      });
    });
  }

  private async handle(h: http2.IncomingHttpHeaders, raw: Buffer): Promise<{ status: number; reason: string; retryAfter?: string; extra: Record<string, unknown>; body: unknown }> {
    const extra: Record<string, unknown> = {};
    let body: unknown = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      /* checked below */
    }
    const fail = (status: number, reason: string, retryAfter?: string): { status: number; reason: string; retryAfter?: string; extra: Record<string, unknown>; body: unknown } => ({ status, reason, retryAfter, extra, body });
    if (h[':method'] !== 'POST') return fail(405, 'MethodNotAllowed');
    const m = /^\/3\/device\/([^/?]+)$/.exec(String(h[':path'] ?? ''));
    if (!m) return fail(404, 'BadPath');
    const token = m[1];
    extra.deviceToken = token;
    if (!/^[0-9a-fA-F]{64,200}$/.test(token)) return fail(400, 'BadDeviceToken');

    // Provider token.
    const auth = String(h.authorization ?? '');
    const am = /^bearer (.+)$/.exec(auth);
    if (!am) return fail(403, 'MissingProviderToken');
    const jwt = am[1];
    let claims: Record<string, unknown>;
    try {
      const ph = decodeProtectedHeader(jwt);
      if (ph.alg !== 'ES256' || ph.kid !== this.opts.keyId) return fail(403, 'InvalidProviderToken');
      const { payload } = await compactVerify(jwt, this.opts.publicKey, { algorithms: ['ES256'] });
      claims = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
    } catch {
      return fail(403, 'InvalidProviderToken');
    }
    extra.jwt = { kid: this.opts.keyId, ...claims };
    if (claims.iss !== this.opts.teamId || typeof claims.iat !== 'number') return fail(403, 'InvalidProviderToken');
    const nowS = Math.floor(this.now() / 1000);
    if (claims.iat > nowS + 60) return fail(403, 'InvalidProviderToken');
    if (nowS - claims.iat > TOKEN_MAX_AGE_S) return fail(403, 'ExpiredProviderToken');
    if (this.lastToken?.jwt !== jwt) {
      if (this.lastToken && claims.iat - this.lastToken.iat < MIN_TOKEN_UPDATE_S && !this.allowNextUpdate) return fail(429, 'TooManyProviderTokenUpdates');
      this.allowNextUpdate = false;
      this.lastToken = { jwt, iat: claims.iat };
      this.tokensSeen.push(jwt);
    }

    // Headers.
    const topic = h['apns-topic'];
    if (typeof topic !== 'string' || topic === '') return fail(400, 'MissingTopic');
    if (this.opts.topics?.length && !this.opts.topics.includes(topic)) return fail(400, 'TopicDisallowed');
    const type = h['apns-push-type'];
    const prio = h['apns-priority'];
    if (prio !== undefined && prio !== '5' && prio !== '10' && prio !== '1') return fail(400, 'BadPriority');
    const exp = h['apns-expiration'];
    if (exp !== undefined && !/^\d+$/.test(String(exp))) return fail(400, 'BadExpirationDate');
    const collapse = h['apns-collapse-id'];
    if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64) return fail(400, 'BadCollapseId');

    // Payload.
    if (raw.length === 0) return fail(400, 'PayloadEmpty');
    if (raw.length > MAX_PAYLOAD) return fail(413, 'PayloadTooLarge');
    const aps = body !== null && typeof body === 'object' ? (body as { aps?: unknown }).aps : undefined;
    if (aps === null || typeof aps !== 'object') return fail(400, 'BadPayload');
    const a = aps as Record<string, unknown>;
    if (type === 'background') {
      if (a['content-available'] !== 1 || 'alert' in a || 'badge' in a || 'sound' in a) return fail(400, 'InvalidPushType');
      if (prio !== '5') return fail(400, 'BadPriority');
    } else if (type === 'alert') {
      if (a.alert === undefined) return fail(400, 'InvalidPushType');
    } else return fail(400, 'InvalidPushType');

    const scripted = this.scripts.take(token);
    if (scripted) {
      if (scripted.reason === 'ExpiredProviderToken') this.allowNextUpdate = true;
      if (scripted.hang) return fail(0, 'hung (scripted)');
      return fail(scripted.status, scripted.reason ?? '', scripted.retryAfter);
    }
    return { status: 200, reason: '', extra, body };
  }
}
