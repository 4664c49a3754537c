/**
 * A fake FCM: one HTTP server on loopback with Google's two endpoints.
 * - `POST /token` (the OAuth2 token endpoint): form body with
 *   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256 assertion
 *   verified against the service account's public key (iss = client_email, scope
 *   includes firebase.messaging, aud = this token URI, iat not in the future, exp after
 *   now and at most 1 h after iat); answers an access token with `expires_in`.
 * - `POST /v1/projects/<id>/messages:send`: a bearer access token it issued and that
 *   has not expired (else 401 UNAUTHENTICATED), then the message: a token, string data
 *   values, no reserved data keys, android.ttl as "<seconds>s", data + notification
 *   at most 4096 bytes (else 400 INVALID_ARGUMENT), like FCM.
 * Errors use FCM's body shape ({error: {code, message, status, details: [FcmError]}}).
 * Tests script answers per registration token (404 UNREGISTERED, 400 invalid token,
 * 429 + Retry-After, 500/503), take it down, and read the records.
 */
import http from 'node:http';
import { randomBytes, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import { FakeProviderServer, flatHeaders, type FakeRecord } from './fake_server.js';

export interface FakeFcmOptions {
  projectId: string;
  clientEmail: string;
  /** Public half of the service account's key. */
  publicKey: KeyObject;
  /** Lifetime of issued access tokens, seconds (Google: 3600). */
  tokenLifetimeS?: number;
  now?: () => number;
  port?: number;
}

const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const RESERVED_DATA_KEY = /^(from|gcm|google\..*|message_type|collapse_key)$/;

interface Answer {
  status: number;
  json: unknown;
  retryAfter?: string;
  reason: string;
}

export class FakeFcm extends FakeProviderServer {
  private readonly now: () => number;
  private readonly issued = new Map<string, number>();
  /** Access tokens issued, in order. */
  readonly accessTokens: string[] = [];

  private constructor(private readonly opts: FakeFcmOptions) {
    super();
    this.now = opts.now ?? Date.now;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        void this.handle(req, raw).then((a) => {
          let body: unknown = null;
          try {
            body = req.url === '/token' ? Object.fromEntries(new URLSearchParams(raw.toString('utf8'))) : JSON.parse(raw.toString('utf8'));
          } catch {
            /* recorded as null */
          }
          this.records.push({
            at: this.now(), method: req.method ?? '', path: req.url ?? '', headers: flatHeaders(req.headers), body, bodyBytes: raw.length,
            status: a.status, reason: a.reason, extra: {},
          });
          if (a.status === 0) return; // scripted hang: hold the request until the client gives up
          res.writeHead(a.status, { 'content-type': 'application/json', ...(a.retryAfter !== undefined ? { 'retry-after': a.retryAfter } : {}) });
          res.end(JSON.stringify(a.json));
        });
      });
    });
    this.serve(server, 'http');
  }

  static async start(opts: FakeFcmOptions): Promise<FakeFcm> {
    const f = new FakeFcm(opts);
    await f.life.listen(opts.port ?? 0);
    return f;
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }

  /** Accepted sends (status 200), in arrival order. */
  get delivered(): FakeRecord[] {
    return this.records.filter((r) => r.status === 200 && r.path !== '/token');
  }

  get tokenExchanges(): FakeRecord[] {
    return this.records.filter((r) => r.path === '/token');
  }

  /** Forget every access token issued (as if they were revoked): the next send gets 401. */
  revokeAll(): void {
    this.issued.clear();
  }

  private async handle(req: http.IncomingMessage, raw: Buffer): Promise<Answer> {
    if (req.method !== 'POST') return fcmError(405, 'METHOD_NOT_ALLOWED', 'POST only');
    if (req.url === '/token') return this.token(req, raw);
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url ?? '');
    if (!m) return fcmError(404, 'NOT_FOUND', 'no such method');
    if (decodeURIComponent(m[1]) !== this.opts.projectId) return fcmError(403, 'PERMISSION_DENIED', 'wrong project');
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const exp = auth ? this.issued.get(auth[1]) : undefined;
    if (exp === undefined || exp <= this.now()) return fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    let body: { message?: Record<string, unknown> };
    try {
      body = JSON.parse(raw.toString('utf8')) as typeof body;
    } catch {
      return fcmError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    const msg = body.message;
    if (!msg || typeof msg !== 'object') return fcmError(400, 'INVALID_ARGUMENT', 'message is required');
    const token = msg.token;
    if (typeof token !== 'string' || token === '') return fcmError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT');
    const data = (msg.data ?? {}) as Record<string, unknown>;
    let size = 0;
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string') return fcmError(400, 'INVALID_ARGUMENT', `Invalid value at 'message.data[${k}].value' (TYPE_STRING)`);
      if (RESERVED_DATA_KEY.test(k)) return fcmError(400, 'INVALID_ARGUMENT', `Invalid data key: ${k}`);
      size += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    const n = (msg.notification ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(n)) size += Buffer.byteLength(k) + Buffer.byteLength(String(v));
    if (size > 4096) return fcmError(400, 'INVALID_ARGUMENT', 'Message is too big');
    const android = (msg.android ?? {}) as Record<string, unknown>;
    if (android.ttl !== undefined && !/^\d+(\.\d{1,9})?s$/.test(String(android.ttl))) return fcmError(400, 'INVALID_ARGUMENT', "Invalid value at 'message.android.ttl'");
    if (android.priority !== undefined && android.priority !== 'high' && android.priority !== 'normal') return fcmError(400, 'INVALID_ARGUMENT', 'Invalid android.priority');
    const scripted = this.scripts.take(token);
    if (scripted?.hang) return { status: 0, json: null, reason: 'hung (scripted)' };
    if (scripted) {
      const code = scripted.reason ?? '';
      const status = { 404: 'NOT_FOUND', 400: 'INVALID_ARGUMENT', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 403: 'PERMISSION_DENIED' }[scripted.status] ?? 'UNKNOWN';
      const message = code === 'INVALID_ARGUMENT' ? 'The registration token is not a valid FCM registration token' : `scripted ${code}`;
      return { ...fcmError(scripted.status, status, message, code || undefined), retryAfter: scripted.retryAfter };
    }
    return { status: 200, json: { name: `projects/${this.opts.projectId}/messages/${randomBytes(8).toString('hex')}` }, reason: '' };
  }

  private async token(req: http.IncomingMessage, raw: Buffer): Promise<Answer> {
    const bad = (desc: string): Answer => ({ status: 400, json: { error: 'invalid_grant', error_description: desc }, reason: desc });
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return bad('form body expected');
    const form = new URLSearchParams(raw.toString('utf8'));
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return { ...bad('unsupported grant_type'), json: { error: 'unsupported_grant_type' } };
    let claims: Record<string, unknown>;
    try {
      const { payload, protectedHeader } = await compactVerify(form.get('assertion') ?? '', this.opts.publicKey, { algorithms: ['RS256'] });
      if (protectedHeader.alg !== 'RS256') return bad('alg');
      claims = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
    } catch {
      return bad('Invalid JWT Signature.');
    }
    const nowS = Math.floor(this.now() / 1000);
    if (claims.iss !== this.opts.clientEmail) return bad('Invalid issuer');
    if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes(FCM_SCOPE)) return bad('Invalid scope');
    if (claims.aud !== `${this.url}/token`) return bad('Invalid audience');
    if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number') return bad('iat and exp required');
    if (claims.iat > nowS + 60 || claims.exp <= nowS || claims.exp - claims.iat > 3600) return bad('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    const token = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    const life = this.opts.tokenLifetimeS ?? 3600;
    this.issued.set(token, this.now() + life * 1000);
    this.accessTokens.push(token);
    return { status: 200, json: { access_token: token, expires_in: life, token_type: 'Bearer' }, reason: '' };
  }
}

function fcmError(status: number, grpcStatus: string, message: string, errorCode?: string): Answer {
  const details = errorCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] : [];
  return { status, json: { error: { code: status, message, status: grpcStatus, details } }, reason: errorCode ?? grpcStatus };
}
