/**
 * The OAuth2 access token the FCM client sends as `Authorization: Bearer`: a
 * service-account JWT (RS256; iss = client_email, scope = firebase.messaging, aud =
 * token URI, iat, exp = iat + 1 h) exchanged at the token endpoint with
 * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523). The access token
 * is cached until REFRESH_MARGIN_MS before it expires, one exchange at a time.
 */
import { SignJWT } from 'jose';
import type { ServiceAccount } from './credentials.js';
import type { HttpClient } from './http_client.js';
import { retryAfterMs } from './payload.js';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google refuses assertions valid for more than an hour. */
const ASSERTION_LIFETIME_S = 3600;
/** 5 min: a token used seconds before expiry may be expired when FCM checks it; Google's own client libraries refresh this early too. */
const REFRESH_MARGIN_MS = 5 * 60_000;

/** The token endpoint refused or failed: the push is retried later. */
export class FcmTokenError extends Error {
  override name = 'FcmTokenError';
  constructor(
    message: string,
    readonly status: number,
    readonly afterMs: number | null,
  ) {
    super(message);
  }
}

export class FcmTokenSource {
  private current: { token: string; expiresAt: number } | null = null;
  private pending: Promise<string> | null = null;
  /** Exchanges done so far (tests check caching). */
  exchanges = 0;

  constructor(
    private readonly sa: ServiceAccount,
    private readonly http: HttpClient,
    private readonly now: () => number,
  ) {}

  async get(): Promise<string> {
    if (this.current && this.now() < this.current.expiresAt - REFRESH_MARGIN_MS) return this.current.token;
    this.pending ??= this.exchange().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /** FCM said 401: the next get() exchanges a new assertion. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = null;
  }

  private async exchange(): Promise<string> {
    const t = this.now();
    const iat = Math.floor(t / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(this.sa.privateKeyId ? { kid: this.sa.privateKeyId } : {}) })
      .setIssuer(this.sa.clientEmail)
      .setAudience(this.sa.tokenUri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_S)
      .sign(this.sa.key);
    const body = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString();
    this.exchanges++;
    let res;
    try {
      res = await this.http.post(this.sa.tokenUri, { 'content-type': 'application/x-www-form-urlencoded' }, body);
    } catch (e) {
      throw new FcmTokenError(`token endpoint: ${(e as Error).message}`, 0, null);
    }
    let json: { access_token?: unknown; expires_in?: unknown; error?: unknown } = {};
    try {
      json = JSON.parse(res.body.toString('utf8')) as typeof json;
    } catch {
      /* handled below */
    }
    if (res.status !== 200 || typeof json.access_token !== 'string' || typeof json.expires_in !== 'number') {
      const err = typeof json.error === 'string' ? json.error : `HTTP ${res.status}`;
      throw new FcmTokenError(`token endpoint: ${err}`, res.status, retryAfterMs(res.headers['retry-after'], this.now()));
    }
    this.current = { token: json.access_token, expiresAt: t + json.expires_in * 1000 };
    return json.access_token;
  }
}
