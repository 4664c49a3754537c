/**
 * Builds the blob store the configuration names (media.store): the filesystem store
 * under `<node.dataDir>/blobs`, or the S3 store on media.s3. The one place product code
 * chooses a backend; everything else sees a BlobStore.
 */
import path from 'node:path';
import type { Config } from '../config.js';
import type { BlobStore } from './blob_store.js';
import { FsBlobStore } from './blob_store_fs.js';
import { S3BlobStore } from './blob_store_s3.js';

export type BlobStoreSettings = { node: Pick<Config['node'], 'dataDir'>; media: Pick<Config['media'], 'store' | 's3'> };

/** The filesystem store's directory for a node. */
export function fsBlobDir(cfg: BlobStoreSettings): string {
  return path.join(path.resolve(cfg.node.dataDir), 'blobs');
}

export function createBlobStore(cfg: BlobStoreSettings): BlobStore {
  return cfg.media.store === 's3' ? new S3BlobStore(cfg.media.s3) : new FsBlobStore({ dir: fsBlobDir(cfg) });
}

/** For the ready line and logs: where the blobs are, never a credential. */
export function describeBlobStore(cfg: BlobStoreSettings): string {
  if (cfg.media.store === 'fs') return `fs ${fsBlobDir(cfg)}`;
  const s3 = cfg.media.s3;
  return `s3 ${s3.endpoint || `aws ${s3.region}`}/${s3.bucket}`;
}
