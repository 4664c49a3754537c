/**
 * Web Push message encryption, RFC 8291 over the aes128gcm content coding (RFC 8188),
 * with node:crypto only:
 *
 *   ecdh_secret = ECDH(as_private, ua_public)                      (P-256, fresh key per message)
 *   IKM   = HKDF(salt = auth_secret, ikm = ecdh_secret,
 *                info = "WebPush: info" 0x00 ua_public as_public, 32)
 *   CEK   = HKDF(salt, IKM, "Content-Encoding: aes128gcm" 0x00, 16)
 *   NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" 0x00, 12)
 *   body  = salt(16) | rs(uint32) | idlen(1)=65 | as_public(65) | AES-128-GCM(plaintext | 0x02 | 0x00*pad) | tag(16)
 *
 * One record (the last, delimiter 0x02), as RFC 8291 requires. Checked against the
 * RFC's Appendix A vector in webpush.test.ts; the fake push service decrypts with its
 * own code (node/push/fakes/webpush_decrypt.ts).
 */
import { createCipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';

/** The record size: push services must accept 4096-byte bodies (RFC 8291 §4), so one record fills at most that. */
export const WEBPUSH_RECORD_SIZE = 4096;
/** 86 header bytes + 16 tag + 1 delimiter leave 3993 bytes of plaintext in a 4096-byte body. */
export const WEBPUSH_MAX_PLAINTEXT = WEBPUSH_RECORD_SIZE - 86 - 16 - 1;
/**
 * Plaintext is padded to a multiple of this, so the ciphertext length tells the push
 * service little about the content (a wake body and a short preview look alike).
 */
export const WEBPUSH_PAD_BLOCK = 256;

export interface EncryptInput {
  plaintext: Buffer;
  /** Subscription keys.p256dh: uncompressed P-256 point, 65 bytes. */
  uaPublic: Buffer;
  /** Subscription keys.auth: 16 bytes. */
  authSecret: Buffer;
  /** Tests only (the RFC vector): fixed salt and application-server key. */
  salt?: Buffer;
  asPrivate?: Buffer;
  /** Pad the plaintext to this length (default: next multiple of WEBPUSH_PAD_BLOCK, capped at the maximum). */
  padTo?: number;
}

function hkdf(salt: Buffer, ikm: Buffer, info: Buffer, len: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, len));
}

export function encryptWebPush(i: EncryptInput): Buffer {
  if (i.uaPublic.length !== 65 || i.uaPublic[0] !== 4) throw new Error('p256dh must be an uncompressed P-256 point');
  if (i.authSecret.length !== 16) throw new Error('auth must be 16 bytes');
  if (i.plaintext.length > WEBPUSH_MAX_PLAINTEXT) throw new Error(`plaintext over ${WEBPUSH_MAX_PLAINTEXT} bytes`);
  const ecdh = createECDH('prime256v1');
  if (i.asPrivate) ecdh.setPrivateKey(i.asPrivate);
  else ecdh.generateKeys();
  const asPublic = ecdh.getPublicKey();
  const secret = ecdh.computeSecret(i.uaPublic);
  const salt = i.salt ?? randomBytes(16);
  const ikm = hkdf(i.authSecret, secret, Buffer.concat([Buffer.from('WebPush: info\0'), i.uaPublic, asPublic]), 32);
  const cek = hkdf(salt, ikm, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
  const nonce = hkdf(salt, ikm, Buffer.from('Content-Encoding: nonce\0'), 12);
  const padTo = i.padTo ?? Math.min(WEBPUSH_MAX_PLAINTEXT, Math.ceil(Math.max(1, i.plaintext.length) / WEBPUSH_PAD_BLOCK) * WEBPUSH_PAD_BLOCK);
  const padding = Buffer.alloc(Math.max(0, padTo - i.plaintext.length));
  const cipher = createCipheriv('aes-128-gcm', cek, nonce);
  const ct = Buffer.concat([cipher.update(Buffer.concat([i.plaintext, Buffer.from([2]), padding])), cipher.final(), cipher.getAuthTag()]);
  const header = Buffer.alloc(21);
  salt.copy(header, 0);
  header.writeUInt32BE(WEBPUSH_RECORD_SIZE, 16);
  header[20] = asPublic.length;
  return Buffer.concat([header, asPublic, ct]);
}
