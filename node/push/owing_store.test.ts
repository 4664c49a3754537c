/**
 * The owing store (write-ahead owed rows) on the real SQLite stores: every message of
 * a commit has its owed row before the commit; when the owed rows cannot be written the
 * commit is refused as retryable and nothing of it is stored; other calls pass through.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../store/sqlite_store.js';
import { StoreUnavailableError } from '../store/errors.js';
import { msgOp } from '../store/fixtures.js';
import { SqlitePushStore } from './sqlite_push_store.js';
import { owingStore } from './owing_store.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-owing-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('owing store', () => {
  it('writes an owed row per message before the commit, keyed by shard', async () => {
    const messages = new SqliteStore(join(dir, 'm1.sqlite'));
    const push = new SqlitePushStore(join(dir, 'p1.sqlite'));
    const seen: string[] = [];
    const store = owingStore(messages, push, (c) => (c === 'c-a' ? 3 : 7));
    const inner = messages.commit.bind(messages);
    messages.commit = async (ops) => {
      // At the moment the message commit starts, its owed rows are already there.
      seen.push(...(await push.owed(3, 10)).map((e) => `${e.conversation}/${e.seq}`));
      return inner(ops);
    };
    await store.commit([msgOp('c-a', 1), msgOp('c-a', 2), msgOp('c-b', 1), { kind: 'cursor', cursor: { conversation: 'c-a', user: 'bob', device: 'd', delivered: 1, read: 0 } }]);
    assert.deepEqual(seen.sort(), ['c-a/1', 'c-a/2']);
    assert.deepEqual((await push.owed(7, 10)).map((e) => [e.conversation, e.seq, e.messageId, e.sender]), [['c-b', 1, 'm1', 'alice']]);
    assert.equal(await store.lastSeq('c-a'), 2, 'reads pass through');
    await push.close();
    await messages.close();
  });

  it('refuses the commit (retryable, nothing stored) when the owed rows cannot be written', async () => {
    const messages = new SqliteStore(join(dir, 'm2.sqlite'));
    const push = new SqlitePushStore(join(dir, 'p2.sqlite'));
    const store = owingStore(messages, push, () => 0);
    await push.close();
    await assert.rejects(store.commit([msgOp('c', 1)]), (e: unknown) => e instanceof StoreUnavailableError && e.retryable && /owed pushes not recorded/.test(e.message));
    assert.equal(await messages.lastSeq('c'), 0, 'the message was not committed');
    await messages.close();
  });
});
