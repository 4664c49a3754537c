/**
 * The S3 blob store against a real S3-compatible server: SeaweedFS started on loopback
 * by ops/seaweedfs (the binary from `npm run deps:seaweedfs`), with an identities file,
 * so every request's SigV4 signature is checked. The shared conformance suite runs on
 * one bucket; then what only this store promises: a request signed with a wrong secret
 * is refused, the secret never shows in what the store prints, and signed URLs carry the
 * requested lifetime.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { startSeaweed, type SeaweedHandle } from '../../ops/seaweedfs/seaweedfs.js';
import { S3BlobStore, latestParts, type S3BlobStoreConfig } from './blob_store_s3.js';
import { BlobUploadError } from './blob_store_errors.js';
import { runBlobStoreConformance } from './blob_store_conformance.js';

let sw: SeaweedHandle;
const config = (): S3BlobStoreConfig => ({
  endpoint: sw.endpoint,
  region: sw.region,
  bucket: sw.bucket,
  accessKeyId: sw.accessKeyId,
  secretAccessKey: sw.secretAccessKey,
  forcePathStyle: true,
});

before(async () => {
  sw = await startSeaweed();
  console.log(`seaweedfs ready in ${sw.startMs} ms at ${sw.endpoint}`);
});
after(() => sw?.kill());

runBlobStoreConformance('s3 (SeaweedFS)', async () => new S3BlobStore(config()));

describe('S3BlobStore, S3 only', () => {
  it('a store with a wrong secret is refused by the server (signatures are verified)', async () => {
    const good = new S3BlobStore(config());
    await good.put('s3only/signed', Buffer.from('x'), { size: 1, contentType: 'text/plain' });
    const bad = new S3BlobStore({ ...config(), secretAccessKey: `${sw.secretAccessKey}-wrong` });
    type S3Err = Error & { $metadata?: { httpStatusCode?: number } };
    await assert.rejects(bad.put('s3only/forged', Buffer.from('y'), { size: 1, contentType: 'text/plain' }), (e: S3Err) => e.name === 'SignatureDoesNotMatch' && e.$metadata?.httpStatusCode === 403);
    await assert.rejects(bad.get('s3only/signed'), (e: S3Err) => e.name === 'SignatureDoesNotMatch' && e.$metadata?.httpStatusCode === 403);
    // A HEAD answer has no body to name the error: the status says it.
    await assert.rejects(bad.head('s3only/signed'), (e: S3Err) => e.$metadata?.httpStatusCode === 403);
    assert.equal(await good.head('s3only/forged'), null, 'the forged put stored nothing');
    // A URL presigned with the wrong secret is refused too.
    const forgedUrl = await bad.signedGetUrl('s3only/signed', 60_000, { contentType: 'text/plain' });
    assert.equal((await fetch(forgedUrl!)).status, 403);
    await good.delete('s3only/signed');
    await Promise.all([good.close(), bad.close()]);
  });

  it('the secret never shows in what the store prints', async () => {
    const s = new S3BlobStore(config());
    for (const text of [inspect(s, { depth: 10, showHidden: true }), JSON.stringify(s), String(s), s.describe()]) {
      assert.ok(!text.includes(sw.secretAccessKey), `secret in: ${text.slice(0, 80)}`);
    }
    const url = await s.signedGetUrl('s3only/x', 60_000, { contentType: 'text/plain' });
    assert.ok(!url!.includes(sw.secretAccessKey));
    await s.close();
  });

  it('a signed URL lives ttlMs rounded up to whole seconds, at most 7 days', async () => {
    const s = new S3BlobStore(config());
    const expires = async (ttlMs: number): Promise<string | null> => new URL((await s.signedGetUrl('s3only/x', ttlMs, { contentType: 'text/plain' }))!).searchParams.get('X-Amz-Expires');
    assert.equal(await expires(300_000), '300');
    assert.equal(await expires(1_500), '2');
    assert.equal(await expires(30 * 24 * 3_600_000), String(7 * 24 * 3600));
    await assert.rejects(s.signedGetUrl('s3only/x', 0, { contentType: 'text/plain' }), /ttlMs must be positive/);
    await s.close();
  });
});

describe('latestParts (SeaweedFS lists every copy of a re-uploaded part)', () => {
  const p = (partNo: number, etag: string, at: number, size = 5): { partNo: number; size: number; etag: string; at: number } => ({ partNo, size, etag, at });
  it('one copy per number: the one this handle stored last, else the newest, same-ETag copies are one', () => {
    assert.deepEqual(latestParts([p(2, '"b"', 1000), p(1, '"a1"', 1000, 3), p(1, '"a2"', 1000, 6)], new Map([[1, '"a2"']])), [
      { partNo: 1, size: 6, etag: '"a2"' },
      { partNo: 2, size: 5, etag: '"b"' },
    ]);
    assert.deepEqual(latestParts([p(1, '"old"', 1000, 3), p(1, '"new"', 2000, 6)], undefined), [{ partNo: 1, size: 6, etag: '"new"' }]);
    assert.deepEqual(latestParts([p(1, '"same"', 1000), p(1, '"same"', 1000)], undefined), [{ partNo: 1, size: 5, etag: '"same"' }]);
  });
  it('two different copies from the same second, unknown to this handle (after a restart), are an error, not a guess', () => {
    assert.throws(() => latestParts([p(1, '"x"', 1000), p(1, '"y"', 1000)], undefined), (e: unknown) => e instanceof BlobUploadError && /part 1 was stored more than once/.test((e as Error).message));
  });
});
