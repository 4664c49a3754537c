/**
 * VAPID (RFC 8292): the `Authorization: vapid t=<JWT>, k=<public key>` header that
 * identifies this server to a push service. The JWT is ES256 with aud = the origin of
 * the subscription's endpoint, exp ≤ 24 h ahead (12 h here) and sub = the operator
 * contact. One token per origin is reused until half its life is gone.
 */
import { SignJWT } from 'jose';
import type { VapidKeys } from './credentials.js';

/** 12 h: RFC 8292 caps exp at 24 h from the request; half of that leaves room for clock skew at the push service. */
const VAPID_LIFETIME_S = 12 * 3600;
/** Origins with a cached token; push services are a handful (FCM, Mozilla, Apple, Microsoft), this only bounds a hostile list. */
const MAX_CACHED_ORIGINS = 256;

export class VapidSigner {
  private readonly cache = new Map<string, { header: string; exp: number }>();
  /** Tokens signed so far (tests check reuse). */
  signed = 0;

  constructor(
    private readonly keys: VapidKeys,
    private readonly subject: string,
    private readonly now: () => number,
  ) {}

  async authorization(endpoint: string): Promise<string> {
    const aud = new URL(endpoint).origin;
    const nowS = Math.floor(this.now() / 1000);
    const hit = this.cache.get(aud);
    if (hit && nowS < hit.exp - VAPID_LIFETIME_S / 2) return hit.header;
    const exp = nowS + VAPID_LIFETIME_S;
    const t = await new SignJWT({ sub: this.subject })
      .setProtectedHeader({ typ: 'JWT', alg: 'ES256' })
      .setAudience(aud)
      .setExpirationTime(exp)
      .sign(this.keys.key);
    this.signed++;
    const header = `vapid t=${t}, k=${this.keys.publicKey}`;
    this.cache.delete(aud);
    if (this.cache.size >= MAX_CACHED_ORIGINS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(aud, { header, exp });
    return header;
  }
}
