/**
 * HMAC-signed node URLs: the upload URL of a slot (a capability for its owner, valid
 * until the slot expires) and the short-lived download URL the filesystem store's
 * media listener serves. The signature covers the purpose, the media id and the
 * expiry; verification is constant-time. The secret comes from `media.urlSecret` or
 * is generated once into the data dir (0600) and is never logged.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type Purpose = 'upload' | 'get';

export class UrlSigner {
  constructor(private readonly secret: Buffer) {
    if (secret.length < 32) throw new Error('media URL secret: must be at least 32 bytes');
  }

  sign(purpose: Purpose, mediaId: string, expiresAt: number): string {
    return createHmac('sha256', this.secret).update(`${purpose}\n${mediaId}\n${expiresAt}`).digest('base64url');
  }

  /** The query string (`exp=..&sig=..`) for a URL of this purpose. */
  query(purpose: Purpose, mediaId: string, expiresAt: number): string {
    return `exp=${expiresAt}&sig=${this.sign(purpose, mediaId, expiresAt)}`;
  }

  /** 'ok', or why not: a bad signature and an expired one are both 403 to the client. */
  verify(purpose: Purpose, mediaId: string, exp: string | null, sig: string | null, now: number): 'ok' | 'expired' | 'bad_signature' {
    if (!exp || !sig || !/^\d{1,16}$/.test(exp)) return 'bad_signature';
    const want = Buffer.from(this.sign(purpose, mediaId, Number(exp)));
    const given = Buffer.from(sig);
    if (want.length !== given.length || !timingSafeEqual(want, given)) return 'bad_signature';
    if (Number(exp) < now) return 'expired';
    return 'ok';
  }
}

/** The configured secret, or the one in `<dataDir>/media-url-secret` (created on first use). */
export function loadUrlSecret(configured: string, dataDir: string): Buffer {
  if (configured !== '') return Buffer.from(configured);
  const file = path.join(dataDir, 'media-url-secret');
  if (!existsSync(file)) {
    // wx: two threads starting at once cannot both write; the loser reads the winner's.
    try {
      writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return Buffer.from(readFileSync(file, 'utf8').trim());
}
