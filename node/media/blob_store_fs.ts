/**
 * The embedded BlobStore: files under one directory (`<node.dataDir>/blobs` by default),
 * for a single node. `shared` is false: a cell needs the S3 store.
 *
 *   <dir>/objects/<encoded key>~   one file per blob: a 1 KiB header (content type, ETag),
 *                                  then the bytes (key -> path: ./blob_store_fs_paths.ts)
 *   <dir>/uploads/<uploadId>/      a multi-part upload: upload.json, part-00001, ...
 *   <dir>/tmp/                     files being written, renamed into objects/ when whole
 *
 * Every write is a temp file, fsynced, renamed over the target, then the directory
 * fsynced: a reader sees the old blob or the new one, never part of one, and a crash
 * leaves at worst a stray temp file (removed at the next open when over an hour old).
 * Metadata lives in the blob's own header so one rename installs bytes and metadata
 * together. The ETag is the MD5 of the bytes in quotes, as S3 gives for a single PUT.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BlobInfo, BlobRange, BlobRead, BlobStore } from './blob_store.js';
import { BlobArgumentError, BlobRangeError, BlobUploadNotFoundError } from './blob_store_errors.js';
import { checkBlobKey, checkBlobPrefix, checkContentType, checkPartNo, checkPartsComplete, checkSize, clampRange } from './blob_store_keys.js';
import { isGone, keyToPath, statOrNull, walkBlobs } from './blob_store_fs_paths.js';

export interface FsBlobStoreOptions {
  /** The store's directory; created if missing. */
  dir: string;
  /**
   * Smallest part but the last of a multi-part upload. Default 5 MiB, S3's minimum, so
   * code above the store buffers parts the same way whichever store it runs on.
   */
  minPartSize?: number;
}

/** Header bytes before a blob's data: magic `SBB1` + JSON, space-padded. */
const HEADER = 1024;
const MAGIC = 'SBB1';
/** Temp files older than this at open are leftovers of a crash (no write takes an hour). */
const STALE_TMP_MS = 3_600_000;
const UPLOAD_ID = /^[0-9a-f]{32}$/;
const PART_FILE = /^part-(\d{5})$/;

interface UploadMeta {
  key: string;
  contentType: string;
  initiated: number;
}

export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;
  readonly shared = false;
  readonly minPartSize: number;
  readonly dir: string;
  private readonly objects: string;
  private readonly uploads: string;
  private readonly tmp: string;

  constructor(opts: FsBlobStoreOptions) {
    this.dir = path.resolve(opts.dir);
    this.minPartSize = opts.minPartSize ?? 5 * 1024 * 1024;
    this.objects = path.join(this.dir, 'objects');
    this.uploads = path.join(this.dir, 'uploads');
    this.tmp = path.join(this.dir, 'tmp');
    for (const d of [this.objects, this.uploads, this.tmp]) mkdirSync(d, { recursive: true });
    const now = Date.now();
    for (const f of readdirSync(this.tmp)) {
      const p = path.join(this.tmp, f);
      try {
        if (now - statSync(p).mtimeMs > STALE_TMP_MS) rmSync(p, { force: true });
      } catch (e) {
        if (!isGone(e)) throw e; // another handle just renamed its finished write away
      }
    }
  }

  async put(key: string, body: Readable | Uint8Array, opts: { size: number; contentType: string }): Promise<BlobInfo> {
    const target = keyToPath(this.objects, checkBlobKey(key));
    const contentType = checkContentType(opts.contentType);
    const size = checkSize(opts.size);
    if (body instanceof Uint8Array && body.byteLength !== size) {
      throw new BlobArgumentError(`body has ${body.byteLength} bytes, declared size is ${size}`);
    }
    const tmp = this.tmpPath();
    try {
      const etag = await this.writeBlobFile(tmp, contentType, async (append) => {
        let n = 0;
        const chunks: AsyncIterable<unknown> | Iterable<Uint8Array> = body instanceof Uint8Array ? [body] : body;
        for await (const c of chunks) {
          const chunk = typeof c === 'string' ? Buffer.from(c) : (c as Uint8Array);
          n += chunk.byteLength;
          if (n > size) throw new BlobArgumentError(`body is longer than the declared size ${size}`);
          await append(chunk);
        }
        if (n !== size) throw new BlobArgumentError(`body ended after ${n} of the declared ${size} bytes`);
      });
      await this.install(tmp, target);
      return { size, etag, contentType };
    } catch (e) {
      await rm(tmp, { force: true });
      if (!(body instanceof Uint8Array)) body.destroy();
      throw e;
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    const fh = await this.openBlob(key);
    if (!fh) return null;
    try {
      return await readInfo(fh);
    } finally {
      await fh.close();
    }
  }

  async get(key: string, range?: BlobRange): Promise<BlobRead | null> {
    const fh = await this.openBlob(key);
    if (!fh) return null;
    let handedOver = false;
    try {
      const info = await readInfo(fh);
      let start = 0;
      let end = info.size - 1;
      if (range) {
        const r = clampRange(range, info.size);
        if (!r) throw new BlobRangeError(info.size, `range ${range.start}-${range.end} starts past the end of ${key} (${info.size} bytes)`);
        ({ start, end } = r);
      }
      if (end < start) return { ...info, start, end, body: Readable.from([]) };
      // The stream owns the handle from here and closes it when done or destroyed.
      const body = fh.createReadStream({ start: HEADER + start, end: HEADER + end, autoClose: true });
      handedOver = true;
      return { ...info, start, end, body };
    } finally {
      if (!handedOver) await fh.close();
    }
  }

  async delete(key: string): Promise<void> {
    const file = keyToPath(this.objects, checkBlobKey(key));
    try {
      await rm(file);
    } catch (e) {
      if (isGone(e)) return;
      throw e;
    }
    await this.pruneDirs(path.dirname(file));
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }> {
    for await (const b of walkBlobs(this.objects, checkBlobPrefix(prefix))) {
      const st = await statOrNull(b.file);
      if (st) yield { key: b.key, size: Math.max(0, st.size - HEADER), lastModified: st.mtime };
    }
  }

  async beginUpload(key: string, contentType: string): Promise<string> {
    checkBlobKey(key);
    keyToPath(this.objects, key); // refuse now a key the filesystem cannot hold, not at complete
    const meta: UploadMeta = { key, contentType: checkContentType(contentType), initiated: Date.now() };
    const id = randomBytes(16).toString('hex');
    const dir = path.join(this.uploads, id);
    await mkdir(dir);
    const tmp = path.join(dir, '.upload.json.tmp');
    await writeDurable(tmp, Buffer.from(JSON.stringify(meta)));
    await rename(tmp, path.join(dir, 'upload.json'));
    await fsyncDir(dir);
    await fsyncDir(this.uploads);
    return id;
  }

  async uploadPart(key: string, uploadId: string, partNo: number, body: Uint8Array): Promise<void> {
    checkPartNo(partNo);
    if (!(body instanceof Uint8Array)) throw new BlobArgumentError('a part body must be a Uint8Array');
    const dir = await this.uploadDir(key, uploadId);
    const name = `part-${String(partNo).padStart(5, '0')}`;
    const tmp = path.join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
    try {
      await writeDurable(tmp, body);
      await rename(tmp, path.join(dir, name));
    } catch (e) {
      await rm(tmp, { force: true });
      if (isGone(e)) throw new BlobUploadNotFoundError(key, uploadId, { cause: e });
      throw e;
    }
    await fsyncDir(dir);
  }

  async listParts(key: string, uploadId: string): Promise<Array<{ partNo: number; size: number }>> {
    return this.parts(await this.uploadDir(key, uploadId), key, uploadId);
  }

  async completeUpload(key: string, uploadId: string): Promise<BlobInfo> {
    const dir = await this.uploadDir(key, uploadId);
    const meta = await this.uploadMeta(key, uploadId);
    const parts = await this.parts(dir, key, uploadId);
    checkPartsComplete(parts, this.minPartSize);
    const target = keyToPath(this.objects, key);
    const tmp = this.tmpPath();
    let size = 0;
    try {
      const etag = await this.writeBlobFile(tmp, meta.contentType, async (append) => {
        for (const p of parts) {
          const src = await open(path.join(dir, `part-${String(p.partNo).padStart(5, '0')}`), 'r');
          try {
            for await (const chunk of src.createReadStream({ autoClose: false })) {
              size += (chunk as Buffer).byteLength;
              await append(chunk as Buffer);
            }
          } finally {
            await src.close();
          }
        }
      });
      await this.install(tmp, target);
      await rm(dir, { recursive: true, force: true });
      return { size, etag, contentType: meta.contentType };
    } catch (e) {
      await rm(tmp, { force: true });
      if (isGone(e)) throw new BlobUploadNotFoundError(key, uploadId, { cause: e });
      throw e;
    }
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.uploadMeta(key, uploadId);
    } catch (e) {
      if (e instanceof BlobUploadNotFoundError) return; // idempotent, as delete is
      throw e;
    }
    await rm(path.join(this.uploads, uploadId), { recursive: true, force: true });
  }

  async *listUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }> {
    checkBlobPrefix(prefix);
    const found: Array<{ key: string; uploadId: string; initiated: Date }> = [];
    for (const id of await readdir(this.uploads)) {
      if (!UPLOAD_ID.test(id)) continue;
      const meta = await readMeta(path.join(this.uploads, id));
      if (meta && meta.key.startsWith(prefix)) found.push({ key: meta.key, uploadId: id, initiated: new Date(meta.initiated) });
    }
    found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || a.initiated.getTime() - b.initiated.getTime());
    yield* found;
  }

  async signedGetUrl(key: string, _ttlMs: number, opts: { contentType: string; disposition?: string }): Promise<string | null> {
    checkBlobKey(key);
    checkContentType(opts.contentType);
    return null; // the node serves the bytes itself, under URLs the media service signs
  }

  async close(): Promise<void> {}

  // ---- helpers

  private tmpPath(): string {
    return path.join(this.tmp, `${Date.now()}-${randomBytes(8).toString('hex')}`);
  }

  /** Write header + data to `file` (fsynced), data from `fill`; returns the ETag. */
  private async writeBlobFile(file: string, contentType: string, fill: (append: (b: Uint8Array) => Promise<void>) => Promise<void>): Promise<string> {
    const fh = await open(file, 'wx', 0o644);
    try {
      const md5 = createHash('md5');
      let pos = HEADER;
      await fill(async (b) => {
        md5.update(b);
        let off = 0;
        while (off < b.byteLength) {
          const { bytesWritten } = await fh.write(b, off, b.byteLength - off, pos);
          off += bytesWritten;
          pos += bytesWritten;
        }
      });
      const etag = `"${md5.digest('hex')}"`;
      await fh.write(encodeHeader(contentType, etag), 0, HEADER, 0);
      await fh.sync();
      return etag;
    } finally {
      await fh.close();
    }
  }

  /** Rename a finished temp file over `target`, making its directories; fsync the directory. */
  private async install(tmp: string, target: string): Promise<void> {
    const dir = path.dirname(target);
    for (let attempt = 0; ; attempt++) {
      await mkdir(dir, { recursive: true });
      try {
        await rename(tmp, target);
        break;
      } catch (e) {
        // A concurrent delete pruned the (then empty) directory between mkdir and rename.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
      }
    }
    await fsyncDir(dir);
  }

  /** Remove empty directories from `dir` up to (not including) objects/. */
  private async pruneDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.objects + path.sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (ENOTEMPTY), already gone, or in use: stop
      }
      dir = path.dirname(dir);
    }
  }

  private async openBlob(key: string): Promise<FileHandle | null> {
    const file = keyToPath(this.objects, checkBlobKey(key));
    try {
      return await open(file, 'r');
    } catch (e) {
      if (isGone(e)) return null;
      throw e;
    }
  }

  private async uploadMeta(key: string, uploadId: string): Promise<UploadMeta> {
    checkBlobKey(key);
    if (typeof uploadId !== 'string' || !UPLOAD_ID.test(uploadId)) throw new BlobUploadNotFoundError(key, String(uploadId));
    const meta = await readMeta(path.join(this.uploads, uploadId));
    if (!meta || meta.key !== key) throw new BlobUploadNotFoundError(key, uploadId);
    return meta;
  }

  private async uploadDir(key: string, uploadId: string): Promise<string> {
    await this.uploadMeta(key, uploadId);
    return path.join(this.uploads, uploadId);
  }

  private async parts(dir: string, key: string, uploadId: string): Promise<Array<{ partNo: number; size: number }>> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if (isGone(e)) throw new BlobUploadNotFoundError(key, uploadId, { cause: e });
      throw e;
    }
    const out: Array<{ partNo: number; size: number }> = [];
    for (const n of names) {
      const m = PART_FILE.exec(n);
      if (!m) continue;
      const st = await statOrNull(path.join(dir, n));
      if (st) out.push({ partNo: Number(m[1]), size: st.size });
    }
    return out.sort((a, b) => a.partNo - b.partNo);
  }
}

function encodeHeader(contentType: string, etag: string): Buffer {
  const h = Buffer.alloc(HEADER, 0x20);
  h.write(MAGIC, 0, 'latin1');
  const json = Buffer.from(JSON.stringify({ contentType, etag }));
  json.copy(h, MAGIC.length); // content type <= 255 chars: always fits
  return h;
}

async function readInfo(fh: FileHandle): Promise<BlobInfo> {
  const buf = Buffer.alloc(HEADER);
  const { bytesRead } = await fh.read(buf, 0, HEADER, 0);
  if (bytesRead < HEADER || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new Error('not a blob file (bad header)');
  const { contentType, etag } = JSON.parse(buf.toString('utf8', MAGIC.length).trimEnd()) as { contentType: string; etag: string };
  const { size } = await fh.stat();
  return { size: size - HEADER, etag, contentType };
}

async function readMeta(dir: string): Promise<UploadMeta | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'upload.json'), 'utf8')) as UploadMeta;
  } catch (e) {
    if (isGone(e)) return null;
    throw e;
  }
}

async function writeDurable(file: string, data: Uint8Array): Promise<void> {
  const fh = await open(file, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Make a rename in `dir` durable. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
