/**
 * The filesystem blob store: the shared conformance suite on a temp directory, then
 * what only this store promises: its on-disk layout (keys as encoded paths, no temp
 * file left behind, no directory escaped) and crash leftovers cleaned at open.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FsBlobStore } from './blob_store_fs.js';
import { decodeSegment, encodeSegment, keyToPath } from './blob_store_fs_paths.js';
import { collect, runBlobStoreConformance } from './blob_store_conformance.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-blobs-fs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

runBlobStoreConformance('fs', async () => new FsBlobStore({ dir }));

describe('FsBlobStore on disk', () => {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.relative(dir, path.join(d, e.name))]));

  it('a blob is one file under objects/ named by its encoded key; nothing stays in tmp/ or uploads/', async () => {
    const s = new FsBlobStore({ dir });
    const key = 'layout/ab/cd ef~é';
    await s.put(key, Buffer.from('hello'), { size: 5, contentType: 'text/plain' });
    const id = await s.beginUpload('layout/mp', 'text/plain');
    await s.uploadPart('layout/mp', id, 1, Buffer.from('part'));
    await s.completeUpload('layout/mp', id);
    const aborted = await s.beginUpload('layout/gone', 'text/plain');
    await s.uploadPart('layout/gone', aborted, 1, Buffer.from('part'));
    await s.abortUpload('layout/gone', aborted);

    const files = walk(dir).filter((f) => f.startsWith(`objects${path.sep}layout`) || !f.startsWith('objects'));
    assert.deepEqual(files.sort(), [path.join('objects', 'layout', 'ab', 'cd%20ef%7E%C3%A9~'), path.join('objects', 'layout', 'mp~')]);
    await s.delete(key);
    assert.equal(existsSync(path.join(dir, 'objects', 'layout', 'ab')), false, 'empty directories are pruned on delete');
    await s.delete('layout/mp');
  });

  it('key segments round-trip through the encoding, and no key maps outside objects/', () => {
    for (const seg of ['plain', 'a b', '%41', '~', 'é', '😀', '..x', '.hidden', 'back\\slash']) {
      assert.equal(decodeSegment(encodeSegment(seg)), seg);
      assert.doesNotMatch(encodeSegment(seg), /[/~]/);
    }
    const root = path.join(dir, 'objects');
    assert.ok(keyToPath(root, 'a/..x/b').startsWith(root + path.sep));
  });

  it('refuses a key whose encoded segment is longer than a file name may be', async () => {
    const s = new FsBlobStore({ dir });
    await assert.rejects(s.put(`long/${'é'.repeat(100)}`, Buffer.from('x'), { size: 1, contentType: 'text/plain' }), /longer than 254 bytes once encoded/);
  });

  it('removes temp files a crash left behind (over an hour old) at open, and keeps fresh ones', () => {
    const tmp = path.join(dir, 'tmp');
    const stale = path.join(tmp, 'crashed-write');
    const fresh = path.join(tmp, 'in-flight-write');
    writeFileSync(stale, 'x');
    writeFileSync(fresh, 'y');
    const old = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(stale, old, old);
    new FsBlobStore({ dir });
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(fresh), true);
    rmSync(fresh);
  });

  it('a part write never leaves a half part: listParts sees only whole parts', async () => {
    const s = new FsBlobStore({ dir, minPartSize: 1 });
    const id = await s.beginUpload('layout/parts', 'text/plain');
    // A stray temp part file from a crash is not a part.
    writeFileSync(path.join(dir, 'uploads', id, '.part-00002.deadbeef'), 'half');
    await s.uploadPart('layout/parts', id, 1, Buffer.from('whole'));
    assert.deepEqual(await s.listParts('layout/parts', id), [{ partNo: 1, size: 5 }]);
    assert.deepEqual((await collect(s.listUploads('layout/'))).map((u) => u.uploadId), [id]);
    await s.abortUpload('layout/parts', id);
    assert.equal(existsSync(path.join(dir, 'uploads', id)), false);
  });
});
