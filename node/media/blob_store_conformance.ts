/**
 * The BlobStore conformance suite: every backend runs these same cases.
 *
 *   runBlobStoreConformance('fs', async () => new FsBlobStore({ dir }));
 *
 * `open` must return a NEW handle on the SAME backing data each time it is called (same
 * directory, same bucket): the durability and resume cases write through one handle,
 * close it, and carry on through another. Every case closes the handles it opened. Keys
 * carry a random prefix, so a backend whose data is shared between runs (one bucket)
 * needs no emptying between cases; `cleanup` runs once after the suite.
 *
 * Only backend-neutral behaviour is asserted: ETags are opaque (equal for the same
 * stored object, different after an overwrite with other bytes), and signedGetUrl is
 * either a URL that works and refuses tampering, or null from the filesystem store.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from './blob_store.js';
import { BlobArgumentError, BlobKeyError, BlobRangeError, BlobUploadError, BlobUploadNotFoundError } from './blob_store_errors.js';

const MiB = 1024 * 1024;

/** Keys every store refuses, and why. */
export const BAD_KEYS: ReadonlyArray<[string, string]> = [
  ['', 'empty'],
  ['/abs/olute', 'absolute'],
  ['..', 'parent'],
  ['a/../../etc/passwd', 'traversal'],
  ['a/./b', 'dot segment'],
  ['a//b', 'empty segment'],
  ['a/b/', 'trailing slash'],
  ['nul\u0000byte', 'NUL'],
  ['new\nline', 'control character'],
  ['x'.repeat(1025), 'longer than 1024 bytes'],
  ['lone\uD800surrogate', 'unpaired surrogate'],
];

export function runBlobStoreConformance(name: string, open: () => Promise<BlobStore>, cleanup?: () => Promise<void>): void {
  async function withStore<T>(fn: (store: BlobStore) => Promise<T>): Promise<T> {
    const store = await open();
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  describe(`BlobStore conformance: ${name}`, () => {
    if (cleanup) after(cleanup);

    it('reports its kind, whether it is shared, and a positive minPartSize', () =>
      withStore(async (s) => {
        assert.ok(s.kind === 'fs' || s.kind === 's3');
        assert.equal(s.shared, s.kind === 's3', 'only the S3 store is shared by a cell');
        assert.ok(Number.isInteger(s.minPartSize) && s.minPartSize > 0);
      }));

    describe('put, head, get, delete', () => {
      it('stores bytes and serves them back with their size, type and ETag', () =>
        withStore(async (s) => {
          const key = uid('put/one');
          const bytes = randomBytes(100_000);
          const info = await s.put(key, bytes, { size: bytes.length, contentType: 'image/jpeg' });
          assert.equal(info.size, bytes.length);
          assert.equal(info.contentType, 'image/jpeg');
          assert.ok(info.etag.length > 0);
          assert.deepEqual(await s.head(key), info);
          const got = await s.get(key);
          assert.ok(got);
          assert.deepEqual({ size: got.size, etag: got.etag, contentType: got.contentType, start: got.start, end: got.end }, { ...info, start: 0, end: bytes.length - 1 });
          assert.ok((await readAll(got.body)).equals(bytes));
        }));

      it('takes a stream body in many chunks', () =>
        withStore(async (s) => {
          const key = uid('put/stream');
          const chunks = Array.from({ length: 50 }, (_, i) => randomBytes(1000 + i * 37));
          const size = chunks.reduce((n, c) => n + c.length, 0);
          const info = await s.put(key, Readable.from(chunks), { size, contentType: 'video/mp4' });
          assert.equal(info.size, size);
          assert.ok((await readAll((await s.get(key))!.body)).equals(Buffer.concat(chunks)));
        }));

      it('overwrites: the new bytes and type, a different ETag', () =>
        withStore(async (s) => {
          const key = uid('put/over');
          const a = await s.put(key, Buffer.from('first version'), { size: 13, contentType: 'text/plain' });
          const b = await s.put(key, Buffer.from('second, longer version'), { size: 22, contentType: 'application/pdf' });
          assert.notEqual(a.etag, b.etag);
          assert.deepEqual(await s.head(key), b);
          assert.equal((await readAll((await s.get(key))!.body)).toString(), 'second, longer version');
        }));

      it('keeps an empty blob', () =>
        withStore(async (s) => {
          const key = uid('put/empty');
          await s.put(key, new Uint8Array(0), { size: 0, contentType: 'application/octet-stream' });
          assert.equal((await s.head(key))?.size, 0);
          const got = (await s.get(key))!;
          assert.equal(got.size, 0);
          assert.equal((await readAll(got.body)).length, 0);
          await assert.rejects(s.get(key, { start: 0, end: 0 }), BlobRangeError);
        }));

      it('answers null for a missing key, and delete is idempotent', () =>
        withStore(async (s) => {
          const key = uid('missing');
          assert.equal(await s.head(key), null);
          assert.equal(await s.get(key), null);
          assert.equal(await s.get(key, { start: 0, end: 9 }), null);
          await s.delete(key);
          await s.put(key, Buffer.from('x'), { size: 1, contentType: 'text/plain' });
          await s.delete(key);
          await s.delete(key);
          assert.equal(await s.head(key), null);
          assert.equal(await s.get(key), null);
        }));

      it('a blob written through one handle is read through another (durable, not cached)', async () => {
        const key = uid('durable');
        const bytes = randomBytes(4096);
        await withStore((s) => s.put(key, bytes, { size: bytes.length, contentType: 'audio/ogg' }));
        await withStore(async (s) => {
          assert.ok((await readAll((await s.get(key))!.body)).equals(bytes));
          await s.delete(key);
        });
        await withStore(async (s) => assert.equal(await s.head(key), null));
      });

      it('refuses a body that does not match the declared size, and stores nothing', () =>
        withStore(async (s) => {
          const key = uid('put/size');
          await assert.rejects(s.put(key, Buffer.from('12345'), { size: 4, contentType: 'text/plain' }), BlobArgumentError);
          await assert.rejects(s.put(key, Readable.from([Buffer.from('123'), Buffer.from('45')]), { size: 10, contentType: 'text/plain' }), BlobArgumentError);
          await assert.rejects(s.put(key, Readable.from([Buffer.from('123'), Buffer.from('45')]), { size: 3, contentType: 'text/plain' }), BlobArgumentError);
          assert.equal(await s.head(key), null);
          // A failed overwrite leaves the blob that was there.
          await s.put(key, Buffer.from('kept'), { size: 4, contentType: 'text/plain' });
          await assert.rejects(s.put(key, Readable.from([Buffer.from('replacement')]), { size: 100, contentType: 'text/plain' }), BlobArgumentError);
          assert.equal((await readAll((await s.get(key))!.body)).toString(), 'kept');
          assert.deepEqual(await keysUnder(s, key), [key]);
        }));

      it('a body stream that fails midway stores nothing', () =>
        withStore(async (s) => {
          const key = uid('put/broken');
          async function* broken(): AsyncGenerator<Buffer> {
            yield randomBytes(1000);
            throw new Error('client went away');
          }
          await assert.rejects(s.put(key, Readable.from(broken()), { size: 5000, contentType: 'image/png' }));
          assert.equal(await s.head(key), null);
        }));

      it('concurrent puts of one key leave exactly one of the bodies, whole', () =>
        withStore(async (s) => {
          const key = uid('put/race');
          const bodies = Array.from({ length: 6 }, () => randomBytes(200_000));
          await Promise.all(bodies.map((b) => s.put(key, Readable.from(chunked(b, 16_384)), { size: b.length, contentType: 'image/webp' })));
          const got = await readAll((await s.get(key))!.body);
          assert.ok(bodies.some((b) => b.equals(got)), 'the stored bytes are one whole body');
        }));
    });

    describe('ranges', () => {
      it('serves inclusive byte ranges, clamped at the end like HTTP', () =>
        withStore(async (s) => {
          const key = uid('range');
          const bytes = randomBytes(10_000);
          const info = await s.put(key, bytes, { size: bytes.length, contentType: 'video/mp4' });
          for (const [start, end, wantEnd] of [
            [0, 0, 0],
            [10, 19, 19],
            [9_990, 20_000, 9_999],
            [9_999, 9_999, 9_999],
            [0, 9_999, 9_999],
          ]) {
            const r = (await s.get(key, { start, end }))!;
            assert.deepEqual([r.start, r.end, r.size, r.etag, r.contentType], [start, wantEnd, 10_000, info.etag, 'video/mp4'], `range ${start}-${end}`);
            assert.ok((await readAll(r.body)).equals(bytes.subarray(start, wantEnd + 1)), `bytes of ${start}-${end}`);
          }
        }));

      it('refuses a range starting at or past the end (416) and a malformed one', () =>
        withStore(async (s) => {
          const key = uid('range/bad');
          await s.put(key, Buffer.from('0123456789'), { size: 10, contentType: 'text/plain' });
          await assert.rejects(s.get(key, { start: 10, end: 20 }), (e: unknown) => e instanceof BlobRangeError && e.size === 10);
          await assert.rejects(s.get(key, { start: 5, end: 4 }), BlobArgumentError);
          await assert.rejects(s.get(key, { start: -1, end: 4 }), BlobArgumentError);
        }));
    });

    describe('list', () => {
      // Order is not part of the contract: S3 lists in UTF-8 byte order, SeaweedFS
      // directory by directory (`a/b` before `a.b`), the filesystem store in byte order.
      it('lists the keys under a prefix, with sizes and times', () =>
        withStore(async (s) => {
          const root = uid('list');
          const t0 = Date.now();
          // `a` and `a/b` both exist; `.`, `/` and `~` sort apart; one non-ASCII key.
          const keys = [`${root}/a`, `${root}/a/b`, `${root}/a.b`, `${root}/a~z`, `${root}/b with space`, `${root}/é`, `${root}/z/y/x`];
          const sibling = [`${root}x/a`, `${root}-other`];
          for (const [i, k] of [...keys, ...sibling].entries()) await s.put(k, randomBytes(i + 1), { size: i + 1, contentType: 'text/plain' });

          const all = await collect(s.list(`${root}/`));
          assert.deepEqual(sortKeys(all.map((e) => e.key)), sortKeys(keys));
          for (const e of all) {
            assert.equal(e.size, keys.indexOf(e.key) + 1, `size of ${e.key}`);
            assert.ok(e.lastModified.getTime() > t0 - 60_000 && e.lastModified.getTime() < Date.now() + 60_000, `lastModified of ${e.key}`);
          }
          // A prefix that ends mid-segment.
          assert.deepEqual(sortKeys((await collect(s.list(`${root}/a`))).map((e) => e.key)), [`${root}/a`, `${root}/a.b`, `${root}/a/b`, `${root}/a~z`]);
          assert.deepEqual((await collect(s.list(`${root}/z/`))).map((e) => e.key), [`${root}/z/y/x`]);
          assert.deepEqual(await collect(s.list(`${root}/nothing/`)), []);
          await s.delete(`${root}/a/b`);
          assert.deepEqual((await collect(s.list(`${root}/a/`))).map((e) => e.key), []);
          assert.ok((await collect(s.list(`${root}/`))).some((e) => e.key === `${root}/a`), 'deleting a/b leaves a');
        }));
    });

    describe('multi-part uploads', () => {
      it('a large upload in several parts survives a restart between parts (listParts) and completes', async () => {
        const key = uid('mp/large');
        const min = await withStore(async (s) => s.minPartSize);
        const sizes = [Math.max(min, 5 * MiB), Math.max(min, 5 * MiB), MiB + 123];
        const parts = sizes.map((n) => randomBytes(n));
        const whole = Buffer.concat(parts);
        assert.ok(whole.length > 5 * MiB);

        const uploadId = await withStore(async (s) => {
          const id = await s.beginUpload(key, 'video/mp4');
          await s.uploadPart(key, id, 1, parts[0]);
          await s.uploadPart(key, id, 2, parts[1]);
          return id;
        });
        // "The node restarted": a new handle finds the upload and how far it got.
        await withStore(async (s) => {
          assert.deepEqual(await s.listParts(key, uploadId), [
            { partNo: 1, size: sizes[0] },
            { partNo: 2, size: sizes[1] },
          ]);
          const open = await collect(s.listUploads(key));
          assert.deepEqual(open.map((u) => [u.key, u.uploadId]), [[key, uploadId]]);
          assert.ok(Math.abs(open[0].initiated.getTime() - Date.now()) < 120_000, 'initiated is about now');
          assert.equal(await s.head(key), null, 'nothing visible before complete');

          await s.uploadPart(key, uploadId, 3, parts[2]);
          await s.uploadPart(key, uploadId, 3, parts[2]); // a retried part replaces itself
          assert.deepEqual((await s.listParts(key, uploadId)).map((p) => p.size), sizes);
          const info = await s.completeUpload(key, uploadId);
          assert.equal(info.size, whole.length);
          assert.equal(info.contentType, 'video/mp4');
          assert.deepEqual(await s.head(key), info);

          const got = (await s.get(key))!;
          assert.equal(sha256(await readAll(got.body)), sha256(whole));
          // A range across the boundary of parts 1 and 2.
          const r = (await s.get(key, { start: sizes[0] - 100, end: sizes[0] + 99 }))!;
          assert.ok((await readAll(r.body)).equals(whole.subarray(sizes[0] - 100, sizes[0] + 100)));

          assert.deepEqual(await collect(s.listUploads(key)), [], 'a completed upload is no longer listed');
          await assert.rejects(s.listParts(key, uploadId), BlobUploadNotFoundError);
          await assert.rejects(s.uploadPart(key, uploadId, 4, Buffer.from('late')), BlobUploadNotFoundError);
          await s.delete(key);
        });
      });

      it('abort leaves nothing: no parts, no upload listed, no blob', () =>
        withStore(async (s) => {
          const key = uid('mp/abort');
          const id = await s.beginUpload(key, 'image/png');
          await s.uploadPart(key, id, 1, randomBytes(s.minPartSize));
          await s.uploadPart(key, id, 2, randomBytes(1000));
          await s.abortUpload(key, id);
          assert.deepEqual(await collect(s.listUploads(key)), []);
          await assert.rejects(s.listParts(key, id), BlobUploadNotFoundError);
          await assert.rejects(s.uploadPart(key, id, 3, Buffer.from('x')), BlobUploadNotFoundError);
          await assert.rejects(s.completeUpload(key, id), BlobUploadNotFoundError);
          assert.equal(await s.head(key), null);
          assert.deepEqual(await keysUnder(s, key), []);
          await s.abortUpload(key, id); // idempotent
        }));

      it('refuses to complete without parts, with a gap, or with a small part before the last; stores nothing', () =>
        withStore(async (s) => {
          const key = uid('mp/refuse');
          const id = await s.beginUpload(key, 'application/pdf');
          await assert.rejects(s.completeUpload(key, id), BlobUploadError, 'no parts');
          await s.uploadPart(key, id, 1, randomBytes(s.minPartSize));
          await s.uploadPart(key, id, 3, randomBytes(10));
          await assert.rejects(s.completeUpload(key, id), (e: unknown) => e instanceof BlobUploadError && /part 2 is missing/.test(e.message));
          await s.abortUpload(key, id);

          const id2 = await s.beginUpload(key, 'application/pdf');
          await s.uploadPart(key, id2, 1, randomBytes(10));
          await s.uploadPart(key, id2, 2, randomBytes(10));
          await assert.rejects(s.completeUpload(key, id2), (e: unknown) => e instanceof BlobUploadError && /part 1 has 10 bytes/.test(e.message));
          assert.equal(await s.head(key), null);
          // Still resumable after the refusal: replace part 1 and complete.
          const p1 = randomBytes(s.minPartSize);
          await s.uploadPart(key, id2, 1, p1);
          assert.equal((await s.completeUpload(key, id2)).size, s.minPartSize + 10);
          await s.delete(key);
        }));

      it('an upload id is bound to its key; unknown ids are not found', () =>
        withStore(async (s) => {
          const key = uid('mp/bound');
          const id = await s.beginUpload(key, 'image/gif');
          await assert.rejects(s.listParts(uid('mp/other'), id), BlobUploadNotFoundError);
          await assert.rejects(s.uploadPart(uid('mp/other'), id, 1, Buffer.from('x')), BlobUploadNotFoundError);
          await assert.rejects(s.listParts(key, 'no-such-upload'), BlobUploadNotFoundError);
          await assert.rejects(s.listParts(key, '../../objects'), BlobUploadNotFoundError);
          await s.abortUpload(key, id);
        }));

      it('lists open uploads by key prefix', () =>
        withStore(async (s) => {
          const root = uid('mp/list');
          const a = await s.beginUpload(`${root}/a`, 'image/png');
          const b = await s.beginUpload(`${root}/b`, 'image/png');
          const other = await s.beginUpload(`${root}x/c`, 'image/png');
          const got = await collect(s.listUploads(`${root}/`));
          assert.deepEqual(got.map((u) => [u.key, u.uploadId]).sort(), [[`${root}/a`, a], [`${root}/b`, b]]);
          await s.abortUpload(`${root}/a`, a);
          await s.abortUpload(`${root}/b`, b);
          await s.abortUpload(`${root}x/c`, other);
          assert.deepEqual(await collect(s.listUploads(root)), []);
        }));

      it('refuses bad part numbers and bodies', () =>
        withStore(async (s) => {
          const key = uid('mp/args');
          const id = await s.beginUpload(key, 'image/png');
          for (const n of [0, -1, 1.5, 10_001]) await assert.rejects(s.uploadPart(key, id, n, Buffer.from('x')), BlobArgumentError, `part ${n}`);
          await assert.rejects(s.uploadPart(key, id, 1, 'text' as unknown as Uint8Array), BlobArgumentError);
          await s.abortUpload(key, id);
        }));
    });

    describe('bad input', () => {
      for (const [bad, why] of BAD_KEYS) {
        it(`refuses the key ${JSON.stringify(bad.length > 30 ? `${bad.slice(0, 10)}...` : bad)} (${why}) on every call`, () =>
          withStore(async (s) => {
            const isKeyError = (e: unknown): boolean => e instanceof BlobKeyError && e.code === 'bad_key' && e.message.startsWith('bad blob key');
            await assert.rejects(s.put(bad, Buffer.from('x'), { size: 1, contentType: 'text/plain' }), isKeyError);
            await assert.rejects(s.head(bad), isKeyError);
            await assert.rejects(s.get(bad), isKeyError);
            await assert.rejects(s.delete(bad), isKeyError);
            await assert.rejects(s.beginUpload(bad, 'text/plain'), isKeyError);
            await assert.rejects(s.signedGetUrl(bad, 60_000, { contentType: 'text/plain' }), isKeyError);
          }));
      }

      it('refuses list prefixes that walk out or hold control characters', () =>
        withStore(async (s) => {
          for (const p of ['/etc', '../', 'a/../../', 'a//', 'x\u0000']) await assert.rejects(collect(s.list(p)), BlobKeyError, `prefix ${JSON.stringify(p)}`);
          for (const p of ['/etc', '../']) await assert.rejects(collect(s.listUploads(p)), BlobKeyError);
        }));

      it('refuses a bad content type', () =>
        withStore(async (s) => {
          const key = uid('ct');
          for (const ct of ['', 'text/plain\r\nX-Injected: 1', 'x'.repeat(256)]) {
            await assert.rejects(s.put(key, Buffer.from('x'), { size: 1, contentType: ct }), BlobArgumentError);
            await assert.rejects(s.beginUpload(key, ct), BlobArgumentError);
          }
          assert.equal(await s.head(key), null);
        }));
    });

    describe('signed GET URLs', () => {
      it('a signed URL serves the bytes with the given type and disposition, or the store serves them itself (null)', () =>
        withStore(async (s) => {
          const key = uid('url/ok');
          const bytes = randomBytes(50_000);
          await s.put(key, bytes, { size: bytes.length, contentType: 'application/octet-stream' });
          const url = await s.signedGetUrl(key, 60_000, { contentType: 'image/png', disposition: 'attachment; filename="cat.png"' });
          if (url === null) {
            assert.equal(s.kind, 'fs', 'only the filesystem store leaves signing to the media service');
            return;
          }
          const res = await fetch(url);
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('content-type'), 'image/png');
          assert.equal(res.headers.get('content-disposition'), 'attachment; filename="cat.png"');
          assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
          const ranged = await fetch(url, { headers: { Range: 'bytes=100-199' } });
          assert.equal(ranged.status, 206);
          assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(100, 200)));
        }));

      it('a tampered URL (signature, key, response type) or an expired one gets 403', () =>
        withStore(async (s) => {
          const key = uid('url/t');
          const other = uid('url/other');
          await s.put(key, Buffer.from('secret photo'), { size: 12, contentType: 'image/jpeg' });
          // Another blob that exists: a 403 for it proves the signature check, not a 404.
          await s.put(other, Buffer.from('another photo'), { size: 13, contentType: 'image/jpeg' });
          const url = await s.signedGetUrl(key, 60_000, { contentType: 'image/jpeg' });
          if (url === null) {
            assert.equal(s.kind, 'fs');
            return;
          }
          const u = new URL(url);
          const sig = u.searchParams.get('X-Amz-Signature');
          assert.ok(sig, 'a SigV4 presigned URL');

          const flipped = new URL(url);
          flipped.searchParams.set('X-Amz-Signature', sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0'));
          assert.equal(await statusOf(flipped), 403, 'changed signature');

          const moved = new URL(url);
          moved.pathname = u.pathname.replace(encodeURI(key), encodeURI(other));
          assert.notEqual(moved.pathname, u.pathname);
          assert.equal(await statusOf(moved), 403, 'changed key');

          const retyped = new URL(url);
          retyped.searchParams.set('response-content-type', 'text/html');
          assert.equal(await statusOf(retyped), 403, 'changed response-content-type');

          assert.equal(await statusOf(u), 200, 'the untouched URL still works');

          const short = await s.signedGetUrl(key, 1_000, { contentType: 'image/jpeg' });
          assert.equal(await statusOf(new URL(short!)), 200);
          await new Promise((r) => setTimeout(r, 2_200)); // SigV4 expiry has 1 s resolution
          assert.equal(await statusOf(new URL(short!)), 403, 'expired');
        }));
    });
  });
}

async function statusOf(u: URL): Promise<number> {
  const res = await fetch(u);
  await res.arrayBuffer();
  return res.status;
}

export function uid(prefix: string): string {
  return `conf/${randomUUID().slice(0, 8)}/${prefix}`;
}

export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function keysUnder(s: BlobStore, key: string): Promise<string[]> {
  return (await collect(s.list(key))).map((e) => e.key);
}

function* chunked(b: Buffer, n: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
}

const sortKeys = (keys: string[]): string[] => [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
