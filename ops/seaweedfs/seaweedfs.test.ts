/**
 * The dev SeaweedFS launcher: it starts a real `weed server` on loopback whose S3
 * gateway verifies signatures (right keys work, a wrong secret and no signature are
 * refused), and kill() ends the process and removes the temp dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startSeaweed } from './seaweedfs.js';

const client = (endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client =>
  new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

test('weed server with an identities file: signed requests work, wrong or missing signatures get 403; kill cleans up', async () => {
  const sw = await startSeaweed({ buckets: ['sb-launcher-a', 'sb-launcher-b'] });
  console.log(`seaweedfs started in ${sw.startMs} ms`);
  try {
    const good = client(sw.endpoint, sw.accessKeyId, sw.secretAccessKey);
    await good.send(new PutObjectCommand({ Bucket: 'sb-launcher-b', Key: 'k', Body: 'bytes' }));
    const got = await good.send(new GetObjectCommand({ Bucket: 'sb-launcher-b', Key: 'k' }));
    assert.equal(await got.Body!.transformToString(), 'bytes');
    good.destroy();

    const bad = client(sw.endpoint, sw.accessKeyId, `${sw.secretAccessKey}x`);
    await assert.rejects(bad.send(new GetObjectCommand({ Bucket: 'sb-launcher-b', Key: 'k' })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.$metadata?.httpStatusCode, 403);
      assert.equal(e.name, 'SignatureDoesNotMatch');
      return true;
    });
    bad.destroy();

    const anon = await fetch(`${sw.endpoint}/sb-launcher-b/k`);
    assert.equal(anon.status, 403, 'an unsigned GET is refused');
    await anon.arrayBuffer();
  } finally {
    await sw.kill();
  }
  assert.equal(existsSync(sw.dataDir), false, 'temp data dir removed');
  assert.throws(() => process.kill(sw.pid!, 0), /ESRCH/, 'weed process gone');
});
