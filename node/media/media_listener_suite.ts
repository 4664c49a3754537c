/**
 * The media listener and service together, over real HTTP on loopback, with the
 * real SQLite metadata store and hash pool, on a given blob store (the filesystem
 * one in media_listener_fs.test.ts, S3 on SeaweedFS in media_listener_s3.test.ts):
 * tus upload and resume, dedup, every refusal leaving nothing behind, signed GETs
 * (node-served or S3-presigned: Range, ETag, headers, 403s), GC. The node-level
 * end-to-end tests are node/e2e/media*.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BlobStore } from './blob_store.js';
import { HashPool } from './hash_pool.js';
import { MediaMetrics } from './media_metrics.js';
import { MediaServer } from './media_server.js';
import { MediaService } from './media_service.js';
import { SqliteMediaStore } from './media_store_sqlite.js';
import { MediaError } from './media_rules.js';
import { gcPass } from './media_gc.js';
import { UrlSigner } from './url_signer.js';
import { jpegBytes, listKeys, pngBytes, sha256hex, tusHead, tusPatch, tusPatchCut, tusUpload } from './media_test_kit.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `openBlobs` is called once, before the suite; `closeBlobs` after it. */
export function runMediaListenerSuite(name: string, openBlobs: (dir: string) => Promise<BlobStore>, closeBlobs: () => Promise<void> = async () => undefined): void {
const dir = mkdtempSync(path.join(tmpdir(), 'sb-media-srv-'));
const staging = path.join(dir, 'staging');
mkdirSync(staging);
const store = new SqliteMediaStore(path.join(dir, 'media.sqlite'));
let blobs: BlobStore;
const pool = new HashPool(1);
const metrics = new MediaMetrics();
const signer = new UrlSigner(Buffer.alloc(32, 7));
let clock = Date.now();
const now = (): number => clock;
const members = new Map<string, Set<string>>([
  ['c1', new Set(['alice', 'bob'])],
  ['c2', new Set(['alice', 'carol'])],
]);
const quiet = (): void => undefined;
let server: MediaServer;
let svc: MediaService;
let port = 0;
const s3 = (): boolean => blobs.kind === 's3';

before(async () => {
  blobs = await openBlobs(dir);
  server = new MediaServer(
    { host: '127.0.0.1', port: 0 },
    { store, blobs, signer, metrics, now, log: quiet, stagingDir: staging, maxBytes: 20 << 20, hash: (f, o) => pool.hash(f, o), metricsText: () => metrics.registry.metrics() },
  );
  port = await server.listen();
  svc = new MediaService(
    { maxBytes: 20 << 20, quotaBytesPerDay: 40 << 20, slotTtlMs: 60_000, urlTtlMs: 30_000, publicUrl: `http://127.0.0.1:${port}`, nodeId: 'n1' },
    { store, blobs, signer, metrics, now, isMember: async (u, c) => members.get(c)?.has(u) ?? false },
  );
});
after(async () => {
  await server.close();
  await pool.close();
  await store.close();
  await closeBlobs();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<MediaError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MediaError) return e;
    throw e;
  }
  assert.fail('expected a MediaError');
}

async function uploaded(user: string, conv: string, bytes: Buffer, mime: string): Promise<string> {
  const slot = await svc.createSlot(user, { size: bytes.length, mime, sha256: sha256hex(bytes), conversation: conv });
  const r = await tusUpload(slot.uploadUrl, bytes, 256 << 10);
  assert.equal(r.status, 204, r.body);
  return slot.mediaId;
}

describe(`media listener on ${name}`, () => {
  it('upload, attach, reference, member download: identical bytes, headers, Range, ETag', async () => {
    const bytes = pngBytes(700_000, 800, 600);
    const id = await uploaded('alice', 'c1', bytes, 'image/png');
    const ref = await svc.checkAttach('alice', id, 'c1');
    assert.deepEqual(ref, { mediaId: id, mime: 'image/png', size: bytes.length, sha256: sha256hex(bytes), width: 800, height: 600, blurhash: '' }, 'random bytes after a PNG header: no blurhash');
    await svc.markReferenced(id, 'c1', 5);
    const { url } = await svc.downloadUrl('bob', id, 'c1');
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), bytes);
    assert.equal(r.headers.get('content-type'), 'image/png');
    const etag = r.headers.get('etag') ?? '';
    // S3 serves its own ETag (the MD5) and cannot add nosniff to a presigned GET (MEDIA.md).
    if (!s3()) assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    if (!s3()) assert.equal(etag, `"${sha256hex(bytes)}"`);
    assert.ok(etag.length > 2, 'an ETag');
    assert.match(r.headers.get('content-disposition') ?? '', /^inline/);
    const part = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(1000, 2000));
    const tail = await fetch(url, { headers: { Range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
    assert.equal((await fetch(url, { headers: { Range: `bytes=${bytes.length}-` } })).status, 416);
    assert.equal((await fetch(url, { headers: { 'If-None-Match': etag } })).status, 304);
  });

  it('members only: a non-member, or a member of a conversation that does not carry it, is forbidden', async () => {
    const id = await uploaded('alice', 'c1', jpegBytes(5000), 'image/jpeg');
    await svc.markReferenced(id, 'c1', 6);
    assert.equal((await refusal(svc.downloadUrl('carol', id, 'c1'))).code, 'forbidden');
    assert.equal((await refusal(svc.downloadUrl('carol', id, 'c2'))).code, 'forbidden', 'c2 never carried it');
    assert.equal((await refusal(svc.checkAttach('bob', id, 'c1'))).code, 'forbidden', 'only the uploader attaches');
    assert.equal((await refusal(svc.createSlot('carol', { size: 10, mime: 'image/png', conversation: 'c1' }))).code, 'not_member');
  });

  it('tampered and expired URLs get 403', async () => {
    const id = await uploaded('alice', 'c1', pngBytes(3000), 'image/png');
    await svc.markReferenced(id, 'c1', 7);
    const { url } = await svc.downloadUrl('bob', id, 'c1');
    assert.equal((await fetch(url)).status, 200);
    // Node URLs: exp + sig; S3: X-Amz-Expires + X-Amz-Signature (SigV4 presigned).
    const [sigParam, expParam] = s3() ? ['X-Amz-Signature', 'X-Amz-Expires'] : ['sig', 'exp'];
    const u = new URL(url);
    const sig = u.searchParams.get(sigParam)!;
    assert.ok(sig, `${sigParam} in ${url}`);
    u.searchParams.set(sigParam, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    assert.equal((await fetch(u)).status, 403, 'tampered signature');
    const longer = new URL(url);
    // S3: seconds, at most 7 days (more is a 400, not a signature check); node: ms since epoch.
    longer.searchParams.set(expParam, String(Number(longer.searchParams.get(expParam)) + (s3() ? 100 : 1_000_000)));
    assert.equal((await fetch(longer)).status, 403, 'extended expiry');
    const other = new URL(url);
    other.searchParams.set('response-content-type', 'text/html');
    if (s3()) assert.equal((await fetch(other)).status, 403, 'a changed response type');
    if (s3()) {
      // S3 checks expiry against the real clock: a URL that lives 1 s, fetched after 2.
      const short = new MediaService(
        { maxBytes: 20 << 20, quotaBytesPerDay: 0, slotTtlMs: 60_000, urlTtlMs: 1_000, publicUrl: `http://127.0.0.1:${port}`, nodeId: 'n1' },
        { store, blobs, signer, now: Date.now, isMember: async () => true },
      );
      const { url: brief } = await short.downloadUrl('bob', id, 'c1');
      await sleep(2_100);
      assert.equal((await fetch(brief)).status, 403, 'expired');
      return;
    }
    clock += 31_000;
    try {
      const r = await fetch(url);
      assert.equal(r.status, 403, 'expired');
      assert.equal(((await r.json()) as { code: string }).code, 'forbidden');
    } finally {
      clock -= 31_000;
    }
  });

  it('an upload cut in the middle resumes from the server offset and completes', async () => {
    const bytes = jpegBytes(3_000_000);
    const slot = await svc.createSlot('alice', { size: bytes.length, mime: 'image/jpeg', conversation: 'c1' });
    await tusPatchCut(slot.uploadUrl, 0, bytes.subarray(0, 1_200_000));
    const head = await tusHead(slot.uploadUrl);
    assert.equal(head.status, 200);
    assert.ok(head.offset > 0 && head.offset <= 1_200_000, `offset ${head.offset}`);
    const wrong = await tusPatch(slot.uploadUrl, 0, bytes.subarray(0, 10));
    assert.equal(wrong.status, 409, 'offset mismatch');
    const r = await tusUpload(slot.uploadUrl, bytes);
    assert.equal(r.status, 204, r.body);
    const ref = await svc.checkAttach('alice', slot.mediaId, 'c1');
    assert.equal(ref.sha256, sha256hex(bytes));
  });

  it('the same bytes uploaded twice (even at once) are stored once', async () => {
    const bytes = pngBytes(400_000);
    const before = await listKeys(blobs);
    const [a, b, c] = await Promise.all([uploaded('alice', 'c1', bytes, 'image/png'), uploaded('alice', 'c1', bytes, 'image/png'), uploaded('bob', 'c1', bytes, 'image/png')]);
    const added = (await listKeys(blobs)).filter((k) => !before.includes(k));
    assert.equal(added.length, 1, `one blob for three uploads: ${added.join(', ')}`);
    assert.ok(added[0].includes(sha256hex(bytes)));
    for (const id of [a, b, c]) assert.equal((await store.getMedia(id))?.sha256, sha256hex(bytes));
  });

  it('hash, type and size mismatches are refused with their codes and leave nothing behind', async () => {
    const before = await listKeys(blobs);
    const usage0 = await store.getUsage('alice', new Date(clock).toISOString().slice(0, 10));
    const cases: Array<{ bytes: Buffer; mime: string; sha?: string; extra?: number; status: number; code: string }> = [
      { bytes: pngBytes(5000), mime: 'image/png', sha: 'a'.repeat(64), status: 422, code: 'media_hash_mismatch' },
      { bytes: Buffer.from('<!DOCTYPE html><script>alert(1)</script>'), mime: 'image/png', status: 422, code: 'media_type_mismatch' },
      { bytes: jpegBytes(5000), mime: 'image/png', status: 422, code: 'media_type_mismatch' },
      { bytes: pngBytes(5000), mime: 'image/png', extra: 100, status: 413, code: 'media_size_mismatch' },
    ];
    for (const c of cases) {
      const slot = await svc.createSlot('alice', { size: c.bytes.length, mime: c.mime, sha256: c.sha, conversation: 'c1' });
      const body = c.extra ? Buffer.concat([c.bytes, Buffer.alloc(c.extra)]) : c.bytes;
      const r = await tusPatch(slot.uploadUrl, 0, body);
      assert.equal(r.status, c.status, r.body);
      assert.equal((JSON.parse(r.body) as { code: string }).code, c.code);
      assert.equal(await store.getMedia(slot.mediaId), null, 'slot gone');
      assert.equal((await tusHead(slot.uploadUrl)).status, 404);
    }
    assert.deepEqual(await listKeys(blobs), before, 'nothing stored');
    assert.deepEqual(readdirSync(staging), [], 'nothing staged');
    assert.equal(await store.getUsage('alice', new Date(clock).toISOString().slice(0, 10)), usage0, 'quota given back');
  });

  it('size and quota are checked at slot creation; quota refusals say when to retry', async () => {
    assert.equal((await refusal(svc.createSlot('alice', { size: (20 << 20) + 1, mime: 'image/png', conversation: 'c1' }))).code, 'limit_exceeded');
    const q = new MediaService(
      { maxBytes: 20 << 20, quotaBytesPerDay: 10_000, slotTtlMs: 60_000, urlTtlMs: 30_000, publicUrl: 'http://x', nodeId: 'n1' },
      { store, blobs, signer, now, isMember: async () => true },
    );
    await q.createSlot('dave', { size: 8000, mime: 'image/png', conversation: 'c9' });
    const e = await refusal(q.createSlot('dave', { size: 3000, mime: 'image/png', conversation: 'c9' }));
    assert.equal(e.code, 'quota_exceeded');
    assert.ok(e.retryAfterMs > 0 && e.retryAfterMs <= 86_400_000);
  });

  it('client-encrypted (application/octet-stream) bytes are not sniffed and are served as attachments', async () => {
    const bytes = Buffer.from('<!DOCTYPE html> this is ciphertext that happens to look like html');
    const id = await uploaded('alice', 'c1', bytes, 'application/octet-stream');
    await svc.markReferenced(id, 'c1', 9);
    const ref = await svc.checkAttach('alice', id, 'c1');
    assert.equal(ref.mime, 'application/octet-stream');
    const r = await fetch((await svc.downloadUrl('bob', id, 'c1')).url);
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    assert.match(r.headers.get('content-disposition') ?? '', /^attachment/);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), bytes);
  });

  it('GC: expired slots and unreferenced blobs go after the grace; referenced ones never', async () => {
    const gc = (graceMs: number) => gcPass({ store, blobs, metrics, nodeId: 'n1', stagingDir: staging, graceMs, now, log: quiet });
    const kept = pngBytes(9000);
    const keptId = await uploaded('alice', 'c1', kept, 'image/png');
    await svc.markReferenced(keptId, 'c1', 11);
    const lone = pngBytes(9001);
    const loneId = await uploaded('alice', 'c1', lone, 'image/png');
    const open = await svc.createSlot('alice', { size: 100, mime: 'image/png', conversation: 'c1' });
    await tusPatch(open.uploadUrl, 0, pngBytes(50));
    await gc(3_600_000);
    assert.ok((await store.getMedia(loneId)) !== null, 'within the grace: kept');
    assert.ok((await listKeys(blobs)).some((k) => k.includes(sha256hex(lone))));
    clock += 3_600_001 + 60_000;
    try {
      const counts = await gc(3_600_000);
      assert.ok(counts.blobs >= 1 && counts.expiredSlots >= 1, JSON.stringify(counts));
      assert.equal(await store.getMedia(loneId), null);
      assert.ok(!(await listKeys(blobs)).some((k) => k.includes(sha256hex(lone))), 'unreferenced blob removed');
      assert.equal(await store.getMedia(open.mediaId), null, 'expired slot removed');
      assert.ok(!readdirSync(staging).includes(open.mediaId), 'its bytes removed');
      assert.ok((await listKeys(blobs)).some((k) => k.includes(sha256hex(kept))), 'referenced blob kept');
      const { url } = await svc.downloadUrl('bob', keptId, 'c1');
      assert.deepEqual(Buffer.from(await (await fetch(url)).arrayBuffer()), kept);
    } finally {
      clock -= 3_600_001 + 60_000;
    }
  });

  it('speaks tus: OPTIONS, 412 without Tus-Resumable, 415 on a wrong Content-Type', async () => {
    const slot = await svc.createSlot('alice', { size: 10, mime: 'image/png', conversation: 'c1' });
    const o = await fetch(slot.uploadUrl, { method: 'OPTIONS' });
    assert.equal(o.status, 204);
    assert.equal(o.headers.get('tus-version'), '1.0.0');
    assert.equal((await fetch(slot.uploadUrl, { method: 'HEAD' })).status, 412);
    const bad = await fetch(slot.uploadUrl, { method: 'PATCH', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'image/png' }, body: 'x' });
    assert.equal(bad.status, 415);
    const forged = new URL(slot.uploadUrl);
    forged.searchParams.set('sig', 'x');
    assert.equal((await tusHead(forged.toString())).status, 403);
  });
});
}
