/**
 * The media listener suite (media_listener_suite.ts) on the S3 blob store against a
 * real SeaweedFS on loopback (ops/seaweedfs, SigV4 checked): downloads are S3
 * presigned GETs, and a tampered one is refused by the server.
 */
import { startSeaweed, type SeaweedHandle } from '../../ops/seaweedfs/seaweedfs.js';
import { S3BlobStore } from './blob_store_s3.js';
import { runMediaListenerSuite } from './media_listener_suite.js';

let sw: SeaweedHandle | null = null;
let store: S3BlobStore | null = null;
runMediaListenerSuite(
  'S3 (SeaweedFS)',
  async () => {
    sw = await startSeaweed();
    store = new S3BlobStore({ endpoint: sw.endpoint, region: sw.region, bucket: sw.bucket, accessKeyId: sw.accessKeyId, secretAccessKey: sw.secretAccessKey, forcePathStyle: true });
    return store;
  },
  async () => {
    await store?.close();
    await sw?.kill();
  },
);
