// node/media/blob_store.ts — the one interface every blob backend implements
// Implementations: blob_store_fs.ts (embedded), blob_store_s3.ts (real); one conformance
// suite for both: blob_store_conformance.ts; the configured one: blob_store_factory.ts;
// docs: BLOBS.md. Keys follow blob_store_keys.ts on every backend. Bad input throws the
// classes of blob_store_errors.ts (BlobKeyError, BlobArgumentError, BlobRangeError for an
// unsatisfiable range, BlobUploadNotFoundError, BlobUploadError); anything else thrown is
// an infrastructure failure. `etag` is an opaque strong HTTP entity tag with its quotes
// (ready for an ETag header). A BlobRead's body must be read to the end or destroyed.
import type { Readable } from 'node:stream';
export interface BlobInfo { size: number; etag: string; contentType: string }
export interface BlobRange { start: number; end: number } // inclusive byte offsets, like HTTP Range
export interface BlobRead extends BlobInfo { body: Readable; start: number; end: number }
export interface BlobStore {
  readonly kind: 'fs' | 's3';
  /** True when every node of a cell sees the same blobs (S3); a cluster refuses a store that is not. */
  readonly shared: boolean;
  put(key: string, body: Readable | Uint8Array, opts: { size: number; contentType: string }): Promise<BlobInfo>;
  head(key: string): Promise<BlobInfo | null>;
  get(key: string, range?: BlobRange): Promise<BlobRead | null>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }>;
  /** Resumable multi-part upload: parts are appended in order (partNo 1, 2, ...); on S3 every part but the last is >= minPartSize. */
  readonly minPartSize: number;
  beginUpload(key: string, contentType: string): Promise<string>;
  uploadPart(key: string, uploadId: string, partNo: number, body: Uint8Array): Promise<void>;
  /** Parts stored so far (for resume after a restart), in order. */
  listParts(key: string, uploadId: string): Promise<Array<{ partNo: number; size: number }>>;
  completeUpload(key: string, uploadId: string): Promise<BlobInfo>;
  abortUpload(key: string, uploadId: string): Promise<void>;
  /** Uploads begun and neither completed nor aborted (for expiry). */
  listUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }>;
  /**
   * A short-lived URL a client can GET the blob from directly, or null when the node
   * serves the bytes itself (the filesystem store: the media service signs its own URLs).
   */
  signedGetUrl(key: string, ttlMs: number, opts: { contentType: string; disposition?: string }): Promise<string | null>;
  close(): Promise<void>;
}
