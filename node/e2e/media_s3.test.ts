/**
 * Media end to end on the S3 blob store: the node configured with media.store `s3`
 * against a real SeaweedFS on loopback (ops/seaweedfs, SigV4 checked), the same suite
 * as the filesystem store (node/e2e/media_suite.ts). Downloads are S3 presigned GETs:
 * a tampered one is refused by SeaweedFS itself.
 */
import { after, before } from 'node:test';
import { startSeaweed, type SeaweedHandle } from '../../ops/seaweedfs/seaweedfs.js';
import { S3BlobStore } from '../media/blob_store_s3.js';
import { runMediaE2e } from './media_suite.js';

let sw: SeaweedHandle;
let blobs: S3BlobStore;
before(async () => {
  sw = await startSeaweed();
  blobs = new S3BlobStore(s3());
});
after(async () => {
  await blobs?.close();
  await sw?.kill();
});

const s3 = () => ({ endpoint: sw.endpoint, region: sw.region, bucket: sw.bucket, accessKeyId: sw.accessKeyId, secretAccessKey: sw.secretAccessKey, forcePathStyle: true });

runMediaE2e({
  name: 'S3 on SeaweedFS',
  s3: true,
  config: () => ({ media: { store: 's3', s3: s3() } }),
  blobs: () => blobs,
});
