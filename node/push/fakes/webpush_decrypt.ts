/**
 * The user agent's side of RFC 8291: decrypts an aes128gcm Web Push body with the
 * subscription's private key and auth secret, as a browser does. Written apart from
 * the provider's encrypt (node/push/providers/webpush_crypto.ts) so the two check
 * each other instead of sharing a mistake; it also checks the RFC 8188 framing
 * (record size, key id length, the last-record delimiter, zero padding) and throws
 * on anything a browser would refuse.
 */
import { createDecipheriv, createECDH, createHmac, type KeyObject } from 'node:crypto';

/** HKDF-SHA-256 extract-then-expand for at most one block (all RFC 8291 outputs are ≤ 32 bytes). */
function hkdf(salt: Buffer, ikm: Buffer, info: Buffer, len: number): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  return createHmac('sha256', prk).update(Buffer.concat([info, Buffer.from([1])])).digest().subarray(0, len);
}

export interface DecryptedPush {
  plaintext: Buffer;
  recordSize: number;
  /** Padding bytes after the delimiter. */
  padding: number;
}

export function decryptWebPush(body: Buffer, uaPrivate: KeyObject, authSecret: Buffer): DecryptedPush {
  if (body.length < 21 + 65 + 17) throw new Error('body shorter than a header and one record');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  if (idlen !== 65) throw new Error(`keyid must be a 65-byte P-256 point (idlen ${idlen})`);
  if (rs < 18) throw new Error(`record size ${rs} too small`);
  const asPublic = body.subarray(21, 86);
  const record = body.subarray(86);
  if (record.length > rs) throw new Error(`more than one record (${record.length} > rs ${rs}); RFC 8291 allows one`);
  const jwk = uaPrivate.export({ format: 'jwk' });
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(jwk.d!, 'base64url'));
  const uaPublic = ecdh.getPublicKey();
  const secret = ecdh.computeSecret(asPublic);
  const ikm = hkdf(authSecret, secret, Buffer.concat([Buffer.from('WebPush: info', 'ascii'), Buffer.from([0]), uaPublic, asPublic]), 32);
  const cek = hkdf(salt, ikm, Buffer.concat([Buffer.from('Content-Encoding: aes128gcm', 'ascii'), Buffer.from([0])]), 16);
  const nonce = hkdf(salt, ikm, Buffer.concat([Buffer.from('Content-Encoding: nonce', 'ascii'), Buffer.from([0])]), 12);
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([d.update(record.subarray(0, record.length - 16)), d.final()]);
  // Strip zero padding from the end; the byte before it is the delimiter, 2 for the last record.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 2) throw new Error('missing the last-record delimiter 0x02');
  return { plaintext: padded.subarray(0, end), recordSize: rs, padding: padded.length - end - 1 };
}
