/**
 * The real BlobStore: an S3 bucket (AWS S3 or any S3-compatible server: SeaweedFS,
 * MinIO, Ceph RGW) through @aws-sdk/client-s3. `shared` is true: every node of a cell
 * sees the same bucket, so the blob store a cell needs.
 *
 * - Path-style addressing (`<endpoint>/<bucket>/<key>`) by default: S3-compatible servers
 *   on an IP or a single host name have no per-bucket DNS.
 * - Checksums "when required" both ways: since 3.729 the SDK otherwise adds CRC32
 *   checksums to every upload and bakes an empty-body checksum into presigned requests,
 *   which S3-compatible servers refuse or mis-verify.
 * - Multi-part uploads are S3's own (CreateMultipartUpload / UploadPart / ListParts /
 *   Complete / Abort), so an upload resumes from the bucket after a node restart.
 * - signedGetUrl is a SigV4 presigned GET with response-content-type and
 *   response-content-disposition overrides (signed, so a client cannot change them).
 *
 * The secret is held by the SDK client only; nothing here logs or prints it.
 */
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { MediaS3Config } from '../config.js';
import type { BlobInfo, BlobRange, BlobRead, BlobStore } from './blob_store.js';
import { BlobArgumentError, BlobRangeError, BlobUploadError, BlobUploadNotFoundError } from './blob_store_errors.js';
import { checkBlobKey, checkBlobPrefix, checkContentType, checkPartNo, checkPartsComplete, checkSize, clampRange } from './blob_store_keys.js';

/** The S3 store's settings: the media.s3 section of the node's config (node/config/types.ts). */
export type S3BlobStoreConfig = MediaS3Config;

export interface S3BlobStoreOptions {
  /** S3's minimum part size (5 MiB); a server may allow less, AWS does not. */
  minPartSize?: number;
}

/** S3's minimum size of every part but the last. */
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
/** Uploads whose part ETags a handle remembers (latestParts); the oldest is forgotten past it. */
const MAX_TRACKED_UPLOADS = 10_000;
/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SEC = 7 * 24 * 3600;

type S3Error = Error & { $metadata?: { httpStatusCode?: number } };
const status = (e: unknown): number | undefined => (e as S3Error).$metadata?.httpStatusCode;
const isNotFound = (e: unknown): boolean => status(e) === 404 || ['NoSuchKey', 'NotFound'].includes((e as Error).name);
const isNoSuchUpload = (e: unknown): boolean => (e as Error).name === 'NoSuchUpload' || (status(e) === 404 && (e as Error).name !== 'NoSuchBucket');

export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly shared = true;
  readonly minPartSize: number;
  readonly bucket: string;
  readonly endpoint: string;
  readonly #client: S3Client;
  /** uploadId -> partNo -> ETag of the copy this handle stored last (see latestParts). */
  readonly #partEtags = new Map<string, Map<number, string>>();

  constructor(cfg: S3BlobStoreConfig, opts: S3BlobStoreOptions = {}) {
    this.bucket = cfg.bucket;
    this.endpoint = cfg.endpoint;
    this.minPartSize = opts.minPartSize ?? S3_MIN_PART_SIZE;
    this.#client = new S3Client({
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
      region: cfg.region,
      forcePathStyle: cfg.forcePathStyle,
      // Both empty: the SDK's default chain (AWS_* env, config files, an instance role).
      ...(cfg.accessKeyId || cfg.secretAccessKey ? { credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** Where the blobs are, for logs: endpoint and bucket, never the credentials. */
  describe(): string {
    return `s3 ${this.endpoint || '(aws)'}/${this.bucket}`;
  }

  async put(key: string, body: Readable | Uint8Array, opts: { size: number; contentType: string }): Promise<BlobInfo> {
    checkBlobKey(key);
    const contentType = checkContentType(opts.contentType);
    const size = checkSize(opts.size);
    if (body instanceof Uint8Array) {
      if (body.byteLength !== size) throw new BlobArgumentError(`body has ${body.byteLength} bytes, declared size is ${size}`);
      const out = await this.#client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: size, ContentType: contentType }));
      return { size, etag: out.ETag ?? '', contentType };
    }
    // Content-Length is the declared size. A body that turns out longer or shorter, or
    // that fails, aborts the request: the server gets fewer bytes than announced and
    // stores nothing, instead of a truncated object or a request left hanging.
    const ac = new AbortController();
    let failure: unknown;
    const fail = (e: unknown): void => {
      failure ??= e;
      ac.abort();
    };
    const counted = exactLength(size);
    counted.on('error', fail);
    body.on('error', fail);
    body.pipe(counted);
    try {
      const out = await this.#client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: counted, ContentLength: size, ContentType: contentType }), { abortSignal: ac.signal });
      if (failure) throw failure;
      return { size, etag: out.ETag ?? '', contentType };
    } catch (e) {
      throw failure ?? e;
    } finally {
      body.destroy();
      counted.destroy();
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    checkBlobKey(key);
    try {
      const h = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: h.ContentLength ?? 0, etag: h.ETag ?? '', contentType: h.ContentType ?? 'application/octet-stream' };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async get(key: string, range?: BlobRange): Promise<BlobRead | null> {
    checkBlobKey(key);
    if (range) clampRange(range, Number.MAX_SAFE_INTEGER); // argument check only; the server knows the size
    try {
      const o = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
      const body = o.Body as Readable;
      const contentType = o.ContentType ?? 'application/octet-stream';
      const etag = o.ETag ?? '';
      if (!range) {
        const size = o.ContentLength ?? 0;
        return { size, etag, contentType, body, start: 0, end: size - 1 };
      }
      // "bytes 0-9/1234": the served range and the whole size.
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(o.ContentRange ?? '');
      if (!m) {
        body.destroy();
        throw new Error(`S3 answered a range request for ${key} without a Content-Range (${o.ContentRange})`);
      }
      return { size: Number(m[3]), etag, contentType, body, start: Number(m[1]), end: Number(m[2]) };
    } catch (e) {
      if (isNotFound(e)) return null;
      if (status(e) === 416 || (e as Error).name === 'InvalidRange') {
        const info = await this.head(key);
        if (!info) return null;
        // An empty blob: S3 refuses any range on it, HTTP would too.
        throw new BlobRangeError(info.size, `range ${range!.start}-${range!.end} starts past the end of ${key} (${info.size} bytes)`);
      }
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    checkBlobKey(key);
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })); // S3 deletes are idempotent
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }> {
    checkBlobPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async beginUpload(key: string, contentType: string): Promise<string> {
    checkBlobKey(key);
    const out = await this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: checkContentType(contentType) }));
    if (!out.UploadId) throw new Error(`S3 returned no UploadId for ${key}`);
    return out.UploadId;
  }

  async uploadPart(key: string, uploadId: string, partNo: number, body: Uint8Array): Promise<void> {
    checkBlobKey(key);
    checkUploadId(key, uploadId);
    checkPartNo(partNo);
    if (!(body instanceof Uint8Array)) throw new BlobArgumentError('a part body must be a Uint8Array');
    try {
      const out = await this.#client.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNo, Body: body, ContentLength: body.byteLength }));
      if (out.ETag) this.rememberPart(uploadId, partNo, out.ETag);
    } catch (e) {
      if (isNoSuchUpload(e)) throw new BlobUploadNotFoundError(key, uploadId, { cause: e });
      throw e;
    }
  }

  async listParts(key: string, uploadId: string): Promise<Array<{ partNo: number; size: number }>> {
    return (await this.partsWithEtags(key, uploadId)).map(({ partNo, size }) => ({ partNo, size }));
  }

  async completeUpload(key: string, uploadId: string): Promise<BlobInfo> {
    const parts = await this.partsWithEtags(key, uploadId);
    checkPartsComplete(parts, this.minPartSize);
    try {
      await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNo, ETag: p.etag })) },
        }),
      );
    } catch (e) {
      if (isNoSuchUpload(e)) throw new BlobUploadNotFoundError(key, uploadId, { cause: e });
      if (['EntityTooSmall', 'InvalidPart', 'InvalidPartOrder'].includes((e as Error).name)) throw new BlobUploadError(`S3 refused to complete ${key}: ${(e as Error).message}`, { cause: e });
      throw e;
    }
    this.#partEtags.delete(uploadId);
    const info = await this.head(key);
    if (!info) throw new Error(`completed upload ${uploadId} but ${key} is not there`);
    return info;
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    checkBlobKey(key);
    if (typeof uploadId !== 'string' || uploadId === '') return;
    this.#partEtags.delete(uploadId);
    try {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (e) {
      if (isNoSuchUpload(e)) return; // idempotent, as delete is
      throw e;
    }
  }

  async *listUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }> {
    checkBlobPrefix(prefix);
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const page = await this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker }));
      for (const u of page.Uploads ?? []) {
        if (u.Key !== undefined && u.UploadId) yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) };
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      idMarker = page.NextUploadIdMarker;
    }
  }

  async signedGetUrl(key: string, ttlMs: number, opts: { contentType: string; disposition?: string }): Promise<string | null> {
    checkBlobKey(key);
    checkContentType(opts.contentType);
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new BlobArgumentError(`ttlMs must be positive (got ${ttlMs})`);
    const expiresIn = Math.min(MAX_PRESIGN_SEC, Math.max(1, Math.ceil(ttlMs / 1000)));
    const cmd = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentType: opts.contentType,
      ...(opts.disposition ? { ResponseContentDisposition: opts.disposition } : {}),
    });
    return getSignedUrl(this.#client, cmd, { expiresIn });
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  private async partsWithEtags(key: string, uploadId: string): Promise<Array<{ partNo: number; size: number; etag: string }>> {
    checkBlobKey(key);
    checkUploadId(key, uploadId);
    const listed: ListedPart[] = [];
    let marker: string | undefined;
    try {
      for (;;) {
        const page = await this.#client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }));
        for (const p of page.Parts ?? []) {
          if (p.PartNumber !== undefined) listed.push({ partNo: p.PartNumber, size: p.Size ?? 0, etag: p.ETag ?? '', at: p.LastModified?.getTime() ?? 0 });
        }
        if (!page.IsTruncated) break;
        marker = page.NextPartNumberMarker;
      }
    } catch (e) {
      if (isNoSuchUpload(e)) throw new BlobUploadNotFoundError(key, uploadId, { cause: e });
      throw e;
    }
    return latestParts(listed, this.#partEtags.get(uploadId));
  }

  /** Remember the ETag of a part this handle stored, the newest one of its number. */
  private rememberPart(uploadId: string, partNo: number, etag: string): void {
    let parts = this.#partEtags.get(uploadId);
    if (!parts) {
      if (this.#partEtags.size >= MAX_TRACKED_UPLOADS) this.#partEtags.delete(this.#partEtags.keys().next().value!);
      this.#partEtags.set(uploadId, (parts = new Map()));
    }
    parts.set(partNo, etag);
  }
}

interface ListedPart {
  partNo: number;
  size: number;
  etag: string;
  /** LastModified, ms. */
  at: number;
}

/**
 * One entry per part number. AWS S3 replaces a part uploaded again; SeaweedFS keeps every
 * copy and lists them all (with LastModified in whole seconds, in no useful order), and
 * completes with whichever ETag the request names. So: the ETag this handle stored last
 * for that number wins; else the newest copy; copies with one ETag are one part; two
 * different newest copies in the same second cannot be told apart, and that is an error
 * rather than a guess (uploading the part again makes a newer copy).
 */
export function latestParts(listed: ListedPart[], known: Map<number, string> | undefined): Array<{ partNo: number; size: number; etag: string }> {
  const byNo = new Map<number, ListedPart[]>();
  for (const p of listed) byNo.set(p.partNo, [...(byNo.get(p.partNo) ?? []), p]);
  const out: Array<{ partNo: number; size: number; etag: string }> = [];
  for (const [partNo, copies] of [...byNo].sort((a, b) => a[0] - b[0])) {
    let pick = copies.find((c) => c.etag === known?.get(partNo));
    if (!pick) {
      const newest = Math.max(...copies.map((c) => c.at));
      const candidates = copies.filter((c) => c.at === newest);
      if (new Set(candidates.map((c) => c.etag)).size > 1) {
        throw new BlobUploadError(`part ${partNo} was stored more than once with different bytes in the same second; upload it again`);
      }
      pick = candidates[0];
    }
    out.push({ partNo, size: pick.size, etag: pick.etag });
  }
  return out;
}

/**
 * Upload ids are opaque tokens the server made: base64-ish on AWS, UUIDs on SeaweedFS.
 * Anything else (a path, `..`, spaces) was never issued: not found, without asking.
 */
function checkUploadId(key: string, uploadId: unknown): void {
  if (typeof uploadId !== 'string' || !/^[A-Za-z0-9._=+-]{1,1024}$/.test(uploadId) || uploadId.includes('..')) throw new BlobUploadNotFoundError(key, String(uploadId));
}

/**
 * Passes `size` bytes through; errors (BlobArgumentError) when the input is longer or
 * shorter. The chunk that completes `size` is held back until the input has ended, so
 * the server never receives its announced Content-Length from a body that was too long.
 */
function exactLength(size: number): Transform {
  let n = 0;
  let held: Buffer | null = null;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.byteLength;
      if (n > size) return cb(new BlobArgumentError(`body is longer than the declared size ${size}`));
      if (n === size) {
        held = chunk;
        return cb();
      }
      cb(null, chunk);
    },
    flush(cb) {
      if (n !== size) return cb(new BlobArgumentError(`body ended after ${n} of the declared ${size} bytes`));
      cb(null, held);
    },
  });
}
