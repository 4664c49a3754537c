/**
 * The APNs provider authentication token: an ES256 JWT (`kid` = key id, `iss` = team
 * id, `iat`) signed with the .p8 key, reused for every request until it is
 * `refreshMs` old. Apple refuses tokens older than an hour (403 ExpiredProviderToken)
 * and throttles tokens re-signed more often than every 20 minutes (429
 * TooManyProviderTokenUpdates), so refreshMs is bounded to [20, 59] minutes by the
 * config. The clock is a parameter so the policy is tested without waiting.
 */
import { SignJWT } from 'jose';
import type { ApnsCredentials } from './credentials.js';

export class ApnsTokenSource {
  private current: { jwt: string; issuedAt: number } | null = null;
  private pending: Promise<string> | null = null;
  /** Tokens signed so far (observability and tests). */
  signed = 0;

  constructor(
    private readonly creds: ApnsCredentials,
    private readonly refreshMs: number,
    private readonly now: () => number,
  ) {}

  /** The token to use now: the cached one while younger than refreshMs, else a fresh one. */
  async get(): Promise<string> {
    const t = this.now();
    if (this.current && t - this.current.issuedAt < this.refreshMs) return this.current.jwt;
    // One signature for all concurrent callers.
    this.pending ??= this.sign(t).finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /** Drop the cached token (APNs said ExpiredProviderToken): the next get() signs a new one. */
  invalidate(jwt: string): void {
    if (this.current?.jwt === jwt) this.current = null;
  }

  private async sign(t: number): Promise<string> {
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.creds.keyId })
      .setIssuer(this.creds.teamId)
      .setIssuedAt(Math.floor(t / 1000))
      .sign(this.creds.key);
    this.current = { jwt, issuedAt: t };
    this.signed++;
    return jwt;
  }
}
