/** The pure media rules: slot validation, quota, what a finished upload may be; sniffing; URL signatures. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { judgeUpload, msUntilNextDay, quotaRefusal, utcDay, validateSlot, MediaError } from './media_rules.js';
import { canonicalMime, dispositionFor, imageSize, sniff } from './sniff.js';
import { UrlSigner } from './url_signer.js';
import { jpegBytes, pngBytes } from './media_test_kit.js';

const limits = { maxBytes: 1000, quotaBytesPerDay: 5000, slotTtlMs: 60_000 };

describe('media rules', () => {
  it('validates slot requests and names the field', () => {
    assert.deepEqual(validateSlot({ size: 10, mime: 'Image/JPG', conversation: 'c' }, limits), { mime: 'image/jpeg', sha256: '' });
    const bad = (req: Parameters<typeof validateSlot>[0]): string => {
      try {
        validateSlot(req, limits);
      } catch (e) {
        return `${(e as MediaError).code}: ${(e as Error).message}`;
      }
      return 'ok';
    };
    assert.match(bad({ size: 0, mime: 'image/png', conversation: 'c' }), /^invalid_argument: size/);
    assert.match(bad({ size: 1001, mime: 'image/png', conversation: 'c' }), /^limit_exceeded: size/);
    assert.match(bad({ size: 1, mime: 'png', conversation: 'c' }), /^invalid_argument: mime/);
    assert.match(bad({ size: 1, mime: 'image/png', sha256: 'abc', conversation: 'c' }), /^invalid_argument: sha256/);
    assert.match(bad({ size: 1, mime: 'image/png', conversation: '' }), /^invalid_argument: conversation/);
  });

  it('quota: fits, refused until the next UTC day, or bigger than a whole day', () => {
    const now = Date.UTC(2026, 0, 1, 23, 0, 0);
    assert.equal(utcDay(now), '2026-01-01');
    assert.equal(msUntilNextDay(now), 3_600_000);
    assert.equal(quotaRefusal(4000, 1000, limits, now), null);
    const r = quotaRefusal(4001, 1000, limits, now)!;
    assert.equal(r.code, 'quota_exceeded');
    assert.equal(r.retryAfterMs, 3_600_000);
    assert.equal(quotaRefusal(0, 6000, limits, now)?.code, 'limit_exceeded');
    assert.equal(quotaRefusal(1e12, 1, { ...limits, quotaBytesPerDay: 0 }, now), null, '0 = no quota');
  });

  it('judges a finished upload: size, hash, type; opaque bytes are never sniffed', () => {
    const slot = { size: 10, declaredMime: 'image/png', declaredSha256: 'ab'.repeat(32) };
    assert.equal(judgeUpload(slot, { size: 11, sha256: 'ab'.repeat(32), sniffed: 'image/png' }).ok, false);
    assert.deepEqual(judgeUpload(slot, { size: 10, sha256: 'cd'.repeat(32), sniffed: 'image/png' }), {
      ok: false,
      code: 'media_hash_mismatch',
      message: `sha256 mismatch: declared ${'ab'.repeat(32)}, the bytes hash to ${'cd'.repeat(32)}`,
    });
    assert.deepEqual(judgeUpload(slot, { size: 10, sha256: 'ab'.repeat(32), sniffed: 'image/png' }), { ok: true, mime: 'image/png' });
    const v = judgeUpload({ ...slot, declaredSha256: '' }, { size: 10, sha256: 'x', sniffed: 'text/html' });
    assert.equal(v.ok ? 'ok' : v.code, 'media_type_mismatch');
    const missing = judgeUpload({ ...slot, declaredSha256: '' }, { size: 10, sha256: 'x', sniffed: null });
    assert.equal(missing.ok ? 'ok' : missing.code, 'media_type_mismatch', 'a declared PNG must look like one');
    assert.deepEqual(judgeUpload({ size: 10, declaredMime: 'text/plain', declaredSha256: '' }, { size: 10, sha256: 'x', sniffed: null }), { ok: true, mime: 'text/plain' });
    assert.deepEqual(judgeUpload({ size: 10, declaredMime: 'application/octet-stream', declaredSha256: '' }, { size: 10, sha256: 'x', sniffed: 'text/html' }), {
      ok: true,
      mime: 'application/octet-stream',
    });
    assert.deepEqual(judgeUpload({ size: 10, declaredMime: 'video/quicktime', declaredSha256: '' }, { size: 10, sha256: 'x', sniffed: 'video/mp4' }), { ok: true, mime: 'video/mp4' }, 'ISO media family');
  });
});

describe('sniffing', () => {
  it('knows the common magic numbers and active text formats', () => {
    const cases: Array<[Uint8Array, string | null]> = [
      [pngBytes(100), 'image/png'],
      [jpegBytes(100), 'image/jpeg'],
      [Buffer.from('GIF89a\x10\x00\x20\x00'), 'image/gif'],
      [Buffer.from('RIFF\x00\x00\x00\x00WEBPVP8 '), 'image/webp'],
      [Buffer.from('\x00\x00\x00\x20ftypisom'), 'video/mp4'],
      [Buffer.from('\x00\x00\x00\x20ftypqt  '), 'video/quicktime'],
      [Buffer.from('%PDF-1.7\n'), 'application/pdf'],
      [Buffer.from('OggS\x00'), 'audio/ogg'],
      [Buffer.from('  <!DOCTYPE html><p>'), 'text/html'],
      [Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'), 'image/svg+xml'],
      [Buffer.from('<?xml version="1.0"?><note/>'), 'application/xml'],
      [Buffer.from('just some text'), null],
    ];
    for (const [b, want] of cases) assert.equal(sniff(b), want, Buffer.from(b).toString('latin1').slice(0, 20));
  });

  it('reads image dimensions from headers', () => {
    assert.deepEqual(imageSize('image/png', pngBytes(100, 1920, 1080)), { width: 1920, height: 1080 });
    assert.deepEqual(imageSize('image/jpeg', jpegBytes(100, 333, 222)), { width: 333, height: 222 });
    assert.deepEqual(imageSize('image/gif', Buffer.from('GIF89a\x10\x00\x20\x00', 'latin1')), { width: 16, height: 32 });
    assert.deepEqual(imageSize('image/jpeg', Buffer.from([0xff, 0xd8, 0x00])), { width: 0, height: 0 });
  });

  it('serves active types as attachments, passive media inline', () => {
    for (const m of ['text/html', 'image/svg+xml', 'application/xml', 'text/javascript', 'application/pdf', 'application/octet-stream', 'text/html; charset=utf-8']) {
      assert.equal(dispositionFor(m), 'attachment', m);
    }
    for (const m of ['image/png', 'video/mp4', 'audio/ogg', 'text/plain']) assert.equal(dispositionFor(m), 'inline', m);
    assert.equal(canonicalMime('IMAGE/JPG; q=1'), 'image/jpeg');
  });
});

describe('URL signer', () => {
  it('accepts its own signature until expiry; refuses a tampered one and another purpose', () => {
    const s = new UrlSigner(Buffer.alloc(32, 1));
    const sig = s.sign('get', 'm1', 1000);
    assert.equal(s.verify('get', 'm1', '1000', sig, 999), 'ok');
    assert.equal(s.verify('get', 'm1', '1000', sig, 1001), 'expired');
    assert.equal(s.verify('get', 'm1', '2000', sig, 999), 'bad_signature');
    assert.equal(s.verify('get', 'm2', '1000', sig, 999), 'bad_signature');
    assert.equal(s.verify('upload', 'm1', '1000', sig, 999), 'bad_signature');
    assert.equal(s.verify('get', 'm1', null, sig, 999), 'bad_signature');
    assert.equal(new UrlSigner(Buffer.alloc(32, 2)).verify('get', 'm1', '1000', sig, 999), 'bad_signature');
  });
});
