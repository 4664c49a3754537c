/**
 * The blob store's configuration (media.store, media.s3.*): validation at start, the
 * cell rule (a cluster with media needs the shared store), the secret never echoed, and
 * the factory building the store the configuration names.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, defaultConfig, merge, validateConfig, type Config } from '../config.js';
import { createBlobStore, describeBlobStore } from './blob_store_factory.js';
import { FsBlobStore } from './blob_store_fs.js';
import { S3BlobStore } from './blob_store_s3.js';
import { scrubSecrets } from '../../supervisor/log.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-blob-factory-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const cassandra = { store: { kind: 'cassandra' } };
const cell = { ...cassandra, cluster: { enabled: true } };
const s3 = { store: 's3', s3: { endpoint: 'http://127.0.0.1:8333', bucket: 'sb-media', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET } };
const validate = (over: unknown): Config => validateConfig(merge(defaultConfig(), over));

function refused(over: unknown, key: string, problem: RegExp): ConfigError {
  try {
    validate(over);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.key, key, e.message);
    assert.match(e.message, problem);
    return e;
  }
  assert.fail(`expected ${key} to be refused`);
}

describe('media.store configuration', () => {
  it('defaults to the filesystem store, and a single node may use it', () => {
    const cfg = validate({});
    assert.equal(cfg.media.store, 'fs');
    assert.equal(cfg.media.s3.forcePathStyle, true);
  });

  it('a cluster with media refuses the filesystem store, naming media.store', () => {
    refused(cell, 'media.store', /a cluster needs a shared blob store.*set media\.store to s3/);
    assert.equal(validate({ ...cell, media: s3 }).media.store, 's3');
    assert.equal(validate({ ...cell, media: { enabled: false } }).media.store, 'fs', 'no media, no blob store needed');
  });

  it('checks the s3 keys and names the bad one', () => {
    refused({ media: { store: 'gcs' } }, 'media.store', /one of fs, s3/);
    refused({ media: { ...s3, s3: { ...s3.s3, endpoint: 'ftp://x' } } }, 'media.s3.endpoint', /http\(s\) URL/);
    refused({ media: { ...s3, s3: { ...s3.s3, bucket: 'No_Such' } } }, 'media.s3.bucket', /bucket name/);
    refused({ media: { ...s3, s3: { ...s3.s3, region: 'EU West' } } }, 'media.s3.region', /region name/);
    refused({ media: { ...s3, s3: { ...s3.s3, forcePathStyle: 'yes' } } }, 'media.s3.forcePathStyle', /true or false/);
    refused({ media: { ...s3, s3: { ...s3.s3, accessKeyId: '' } } }, 'media.s3.accessKeyId', /both .* or neither/);
    refused({ media: { ...s3, s3: { ...s3.s3, secretKey: 'x' } } }, 'media.s3.secretKey', /unknown key/);
    const ambient = validate({ media: { ...s3, s3: { ...s3.s3, accessKeyId: '', secretAccessKey: '' } } });
    assert.equal(ambient.media.s3.accessKeyId, '', 'both empty: the SDK default credential chain');
  });

  it('a config printed through the log scrubber shows no S3 secret (the key id stays, to tell keys apart)', () => {
    const cfg = validate({ media: s3 });
    const text = JSON.stringify(scrubSecrets(cfg));
    assert.ok(!text.includes(SECRET), 'secretAccessKey scrubbed');
    assert.match(text, /"secretAccessKey":"\[redacted\]"/);
    assert.match(text, /"accessKeyId":"AKIDEXAMPLE"/);
  });

  it('never echoes the secret in an error', () => {
    const e = refused({ media: { ...s3, s3: { ...s3.s3, secretAccessKey: 12345678 } } }, 'media.s3.secretAccessKey', /must be a string/);
    assert.doesNotMatch(e.message, /12345678/);
    const e2 = refused({ ...cell, media: { store: 'fs', s3: s3.s3 } }, 'media.store', /shared blob store/);
    assert.ok(!e2.message.includes(SECRET));
  });
});

describe('createBlobStore', () => {
  it('builds the filesystem store under <dataDir>/blobs', async () => {
    const cfg = validate({ node: { dataDir: dir } });
    const store = createBlobStore(cfg);
    assert.ok(store instanceof FsBlobStore);
    assert.equal(store.dir, path.join(dir, 'blobs'));
    assert.equal(describeBlobStore(cfg), `fs ${path.join(dir, 'blobs')}`);
    await store.put('k', Buffer.from('v'), { size: 1, contentType: 'text/plain' });
    assert.equal((await createBlobStore(cfg).head('k'))?.size, 1);
    await store.close();
  });

  it('builds the S3 store from media.s3; its description carries no credential', async () => {
    const cfg = validate({ media: s3 });
    const store = createBlobStore(cfg);
    assert.ok(store instanceof S3BlobStore);
    assert.equal(store.kind, 's3');
    assert.equal(store.shared, true);
    assert.equal(describeBlobStore(cfg), 's3 http://127.0.0.1:8333/sb-media');
    assert.ok(!describeBlobStore(cfg).includes(SECRET) && !store.describe().includes(SECRET));
    await store.close();
  });
});
