import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore, WAL_AUTOCHECKPOINT_PAGES } from './sqlite_store.js';
import { SCHEMA_VERSION } from './sqlite_schema.js';
import { runStoreConformance } from './conformance.js';
import { runMembershipConformance } from './conformance_membership.js';
import { InvalidWriteError, StoreUnavailableError } from './errors.js';
import { BatchWriter } from './batch_writer.js';
import { openStore } from './index.js';
import type { WriteOp } from './types.js';
import { msgOp as msg } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-sqlite-'));
const sharedFile = join(dir, 'conformance.db');

after(() => rmSync(dir, { recursive: true, force: true }));

// One file for the whole suite: each open() is a new handle on the same data, which
// the durability case relies on; cases use random ids, so they do not interfere.
runStoreConformance('sqlite', async () => new SqliteStore(sharedFile));
runMembershipConformance('sqlite', async () => new SqliteStore(sharedFile));


describe('SqliteStore specifics', () => {
  let n = 0;
  const freshFile = () => join(dir, `specific-${n++}.db`);

  it('opens in WAL mode with synchronous=FULL and a busy timeout', async () => {
    const store = new SqliteStore(freshFile(), { busyTimeoutMs: 1234 });
    try {
      assert.equal(store.pragma('journal_mode'), 'wal');
      assert.equal(store.pragma('synchronous'), 2, 'synchronous must be FULL (2)');
      assert.equal(store.pragma('busy_timeout'), 1234);
      assert.equal(store.pragma('user_version'), SCHEMA_VERSION);
      assert.equal(store.pragma('wal_autocheckpoint'), WAL_AUTOCHECKPOINT_PAGES, 'checkpoints every 10,000 WAL pages, not SQLite\'s 1,000');
      assert.equal(store.pragma('journal_size_limit'), 64 * 1024 * 1024, 'the WAL file is trimmed back after a checkpoint');
    } finally {
      await store.close();
    }
  });

  it('takes the checkpoint interval from its options (store.sqlite.walAutocheckpointPages)', async () => {
    const store = new SqliteStore(freshFile(), { walAutocheckpointPages: 250 });
    try {
      assert.equal(store.pragma('wal_autocheckpoint'), 250);
    } finally {
      await store.close();
    }
  });

  it('rolls back a whole batch when one op fails, and names the failure', async () => {
    const store = new SqliteStore(':memory:');
    try {
      await store.commit([msg('c', 1)]);
      const bad: WriteOp[] = [
        msg('c', 2),
        { kind: 'cursor', cursor: { conversation: 'c', user: 'bob', device: 'd', delivered: 2, read: 2 } },
        msg('c', 0), // seq 0 breaks the model: seqs start at 1
        msg('c', 3),
      ];
      await assert.rejects(store.commit(bad), (err: unknown) => {
        assert.ok(err instanceof InvalidWriteError, `expected InvalidWriteError, got ${String(err)}`);
        assert.equal(err.code, 'invalid_argument');
        assert.equal(err.retryable, false);
        assert.match(err.message, /batch of 4 ops rolled back/);
        assert.match(err.message, /CHECK constraint/);
        return true;
      });
      assert.equal(await store.lastSeq('c'), 1, 'no message of the failed batch is kept');
      assert.equal(await store.findByClientMsgId('c', 'alice', 'c2'), null, 'nor its dedup keys');
      assert.deepEqual(await store.getCursors('c'), [], 'nor its other ops');
      await store.commit([msg('c', 2)]);
      assert.equal(await store.lastSeq('c'), 2, 'the store keeps working after a rollback');
    } finally {
      await store.close();
    }
  });

  it('a dedup key whose seq holds another message finds nothing', async () => {
    const file = freshFile();
    const store = new SqliteStore(file);
    try {
      await store.commit([msg('c', 1)]);
      // A key left pointing at a seq that holds someone else's message (what a write
      // that only half happened, or a bug, could leave): written behind the store's back.
      const raw = new Database(file);
      raw.prepare('INSERT INTO dedup (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)').run('c', 'bob', 'lost', 1);
      raw.close();
      assert.equal(await store.findByClientMsgId('c', 'bob', 'lost'), null, "bob's resend must not get alice's seq");
      assert.equal((await store.findByClientMsgId('c', 'alice', 'c1'))?.seq, 1);
    } finally {
      await store.close();
    }
  });

  it('rejects a value of the wrong type instead of storing it', async () => {
    const store = new SqliteStore(':memory:');
    try {
      await assert.rejects(store.commit([msg('c', 1, { serverTs: 1.5 })]), InvalidWriteError);
      await assert.rejects(
        store.commit([
          {
            kind: 'conversation',
            conversation: { id: 'x', kind: 'channel' as 'group', members: [], createdAt: 1, subject: '' },
          },
        ]),
        InvalidWriteError,
      );
      assert.equal(await store.lastSeq('c'), 0);
      assert.equal(await store.getConversation('x'), null);
    } finally {
      await store.close();
    }
  });

  it('reopening an up-to-date database applies no migration and keeps data', async () => {
    const file = freshFile();
    const first = new SqliteStore(file);
    await first.commit([msg('c', 1)]);
    await first.close();
    const second = new SqliteStore(file);
    try {
      assert.equal(second.pragma('user_version'), SCHEMA_VERSION);
      assert.equal(await second.lastSeq('c'), 1);
    } finally {
      await second.close();
    }
  });

  it('trim also deletes the dedup keys of dropped messages, so they do not pile up', async () => {
    const file = freshFile();
    const store = new SqliteStore(file);
    try {
      await store.commit([msg('c', 1), msg('c', 2), msg('c', 3), msg('other', 1)]);
      await store.commit([{ kind: 'trim', conversation: 'c', firstSeq: 3 }]);
      const raw = new Database(file, { readonly: true });
      try {
        const rows = raw.prepare('SELECT conversation, seq FROM dedup ORDER BY conversation, seq').all();
        assert.deepEqual(rows, [
          { conversation: 'c', seq: 3 },
          { conversation: 'other', seq: 1 },
        ]);
      } finally {
        raw.close();
      }
    } finally {
      await store.close();
    }
  });

  it('refuses a database written by a newer schema', () => {
    const file = freshFile();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => new SqliteStore(file), /schema version \d+ is newer than this build understands/);
  });

  it('fails calls on a closed store with StoreUnavailableError', async () => {
    const store = new SqliteStore(':memory:');
    await store.close();
    await store.close(); // idempotent
    await assert.rejects(store.commit([msg('c', 1)]), StoreUnavailableError);
    await assert.rejects(store.lastSeq('c'), /sqlite store :memory: is closed/);
  });
});

describe('SqliteStore behind a BatchWriter', () => {
  it('openStore creates the data directory and the writer group-commits into it', async () => {
    const store = await openStore({ kind: 'sqlite', path: join(dir, 'nested', 'deeper', 'node.db') });
    const writer = new BatchWriter<WriteOp>((ops) => store.commit(ops), { maxBatch: 64, maxDelayMs: 1 });
    try {
      assert.equal(store.kind, 'sqlite');
      // Submitted all at once: the writer must split them into several FIFO batches.
      await Promise.all(Array.from({ length: 500 }, (_, i) => writer.submit(msg('w', i + 1))));
      const stats = writer.stats();
      assert.equal(stats.opsCommitted, 500);
      assert.ok(stats.batchesCommitted >= 8, `500 ops in batches of <= 64 need >= 8 batches, got ${stats.batchesCommitted}`);
      assert.equal(await store.lastSeq('w'), 500);
      assert.equal((await store.readAfter('w', 0, 1000)).length, 500);
    } finally {
      await writer.close();
      await store.close();
    }
  });
});

describe('SqliteStore crash durability', () => {
  const file = join(dir, 'crash.db');

  // A child commits 50-message batches in a loop and prints each batch's last seq
  // once commit() resolved; the parent SIGKILLs it mid-stream. Every reported batch
  // must be there after reopening, and no batch may be half there. SIGKILL loses the
  // process, not the OS page cache, so this proves commit() resolves only after the
  // batch reached the file (no in-process buffering); power loss is what
  // synchronous=FULL (checked above) is for.
  it('every batch whose commit resolved survives SIGKILL, and batches stay whole', async () => {
    const storeUrl = new URL('./sqlite_store.ts', import.meta.url).href;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `
        const { SqliteStore } = await import(${JSON.stringify(storeUrl)});
        const store = new SqliteStore(process.argv[1]);
        for (let batch = 0; ; batch++) {
          const ops = [];
          for (let i = 1; i <= 50; i++) {
            const seq = batch * 50 + i;
            ops.push({ kind: 'message', message: { conversation: 'crash', seq, messageId: 'm' + seq,
              sender: 'alice', senderDevice: 'd', clientMsgId: 'c' + seq, body: 'x'.repeat(200), meta: {},
              serverTs: seq } });
          }
          await store.commit(ops);
          process.stdout.write('committed ' + (batch * 50 + 50) + '\\n');
          await new Promise((r) => setImmediate(r));
        }
        `,
        file,
      ],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] },
    );

    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const lastReported = await new Promise<number>((resolve, reject) => {
      let out = '';
      let last = 0;
      child.stdout.on('data', (d) => {
        out += d;
        const lines = out.split('\n');
        out = lines.pop() ?? '';
        for (const line of lines) last = Number(line.replace('committed ', ''));
        if (last >= 1000) {
          child.kill('SIGKILL');
          resolve(last);
        }
      });
      child.on('exit', (code, signal) => {
        if (last < 1000) reject(new Error(`child exited early (code ${code}, signal ${signal}): ${stderr}`));
      });
    });
    assert.equal(await exited, 'SIGKILL');

    const store = new SqliteStore(file);
    try {
      const last = await store.lastSeq('crash');
      assert.ok(last >= lastReported, `reported ${lastReported} committed, found only ${last}`);
      assert.equal(last % 50, 0, `a batch is half stored: lastSeq ${last}`);
      const all = await store.readAfter('crash', 0, last + 1);
      assert.equal(all.length, last, 'no gaps below lastSeq');
    } finally {
      await store.close();
    }
  });
});
