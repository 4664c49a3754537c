/** The MediaStore conformance suite on SQLite (one file, two handles at a time). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMediaStore } from './media_store_sqlite.js';
import { runMediaStoreConformance } from './media_store_conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-media-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'media.sqlite');

runMediaStoreConformance('sqlite', async () => new SqliteMediaStore(file));

describe('SqliteMediaStore specifics', () => {
  it('refuses a file whose schema is newer than this build, and leaves it as it was', async () => {
    const newer = join(dir, 'newer.sqlite');
    await new SqliteMediaStore(newer).close();
    const db = new Database(newer);
    const version = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${version + 1}`);
    db.close();
    assert.throws(() => new SqliteMediaStore(newer), /media store schema version \d+ is newer than this build understands/);
    const again = new Database(newer);
    assert.equal(again.pragma('user_version', { simple: true }), version + 1);
    again.close();
  });
});
