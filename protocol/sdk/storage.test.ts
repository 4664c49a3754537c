/** The SDK's storage backends that run in Node: MemoryStorage and FileStorage. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryStorage } from './storage.js';
import { FileStorage } from './storage_file.js';
import type { PersistedState } from './types.js';

const state = (body: string): PersistedState => ({ version: 1, conversations: [], outbox: [{ conversation: 'c', clientMsgId: 'id-1', body, meta: {}, createdAt: 1 }] });

test('MemoryStorage keeps a copy, not the live object', async () => {
  const m = new MemoryStorage();
  assert.equal(await m.load(), undefined);
  const s = state('a');
  await m.save(s);
  s.outbox[0].body = 'changed later';
  assert.equal((await m.load())!.outbox[0].body, 'a');
});

test('FileStorage: missing file is a new device; saves replace the file whole (0600, no temp left)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-sdk-store-'));
  try {
    const f = new FileStorage(path.join(dir, 'sub', 'alice.json'));
    assert.equal(await f.load(), undefined);
    await f.save(state('one'));
    await f.save(state('two'));
    assert.equal((await new FileStorage(f.path).load())!.outbox[0].body, 'two');
    assert.equal(statSync(f.path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(path.dirname(f.path)), ['alice.json']);
    writeFileSync(f.path, JSON.stringify({ version: 7 }));
    await assert.rejects(f.load(), /unknown state version 7/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
