/** The MediaStore conformance suite on SQLite (one file, two handles at a time). */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMediaStore } from './media_store_sqlite.js';
import { runMediaStoreConformance } from './media_store_conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-media-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'media.sqlite');

runMediaStoreConformance('sqlite', async () => new SqliteMediaStore(file));
