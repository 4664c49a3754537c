/**
 * The errors every BlobStore throws for bad input, the same class for the same fault
 * whatever the backend, so the media service maps each to one client error. Anything
 * else a store throws (I/O, network, the S3 server down) is an infrastructure failure.
 */

/** Names the fault for callers that switch on it rather than on the class. */
export type BlobErrorCode = 'bad_key' | 'bad_argument' | 'range_not_satisfiable' | 'no_such_upload' | 'bad_upload';

export class BlobStoreError extends Error {
  constructor(
    readonly code: BlobErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The key breaks the rules of ./blob_store_keys.ts (empty, `..`, absolute, NUL, too long...). */
export class BlobKeyError extends BlobStoreError {
  constructor(key: unknown, problem: string) {
    super('bad_key', `bad blob key ${show(key)}: ${problem}`);
  }
}

/** A bad argument other than the key: a content type, a size, a part number, a ttl. */
export class BlobArgumentError extends BlobStoreError {
  constructor(message: string) {
    super('bad_argument', message);
  }
}

/** The range starts at or past the end of the blob (HTTP 416). */
export class BlobRangeError extends BlobStoreError {
  constructor(
    readonly size: number,
    message: string,
  ) {
    super('range_not_satisfiable', message);
  }
}

/** The upload id is unknown for this key: never begun, completed, aborted or expired. */
export class BlobUploadNotFoundError extends BlobStoreError {
  constructor(key: string, uploadId: string, options?: { cause?: unknown }) {
    super('no_such_upload', `no upload ${show(uploadId)} in progress for ${show(key)}`, options);
  }
}

/** A multi-part upload cannot complete as it stands (no parts, a gap, a part below minPartSize). */
export class BlobUploadError extends BlobStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('bad_upload', message, options);
  }
}

/** A value for an error message: JSON-quoted (control characters escaped), at most 120 characters. */
export function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
