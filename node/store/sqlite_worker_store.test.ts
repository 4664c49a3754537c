import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteWorkerStore } from './sqlite_worker_store.js';
import { SqliteStore } from './sqlite_store.js';
import { runStoreConformance } from './conformance.js';
import { runMembershipConformance } from './conformance_membership.js';
import { InvalidWriteError, SeqTakenError, StoreUnavailableError } from './errors.js';
import { BatchWriter } from './batch_writer.js';
import { msgOp as msg } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-sqlite-worker-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// The same suites as the in-thread store (sqlite_store.test.ts), with reads on the
// host's reader connection (the default) and with reads in the worker.
const sharedFile = join(dir, 'conformance.db');
runStoreConformance('sqlite worker (reads in the host)', () => SqliteWorkerStore.open(sharedFile));
runMembershipConformance('sqlite worker (reads in the host)', () => SqliteWorkerStore.open(sharedFile));
runStoreConformance('sqlite worker (reads in the worker)', () => SqliteWorkerStore.open(join(dir, 'conformance-w.db'), { reads: 'worker' }));

describe('SqliteWorkerStore specifics', () => {
  let n = 0;
  const freshFile = () => join(dir, `specific-${n++}.db`);

  it('brings typed errors back from the worker, and rolls the batch back whole', async () => {
    const store = await SqliteWorkerStore.open(freshFile());
    try {
      await store.commit([msg('c', 1)]);
      await assert.rejects(store.commit([msg('c', 2), msg('c', 0)]), InvalidWriteError);
      await assert.rejects(store.commit([msg('c', 1, { messageId: 'other' })]), (e: unknown) => {
        assert.ok(e instanceof SeqTakenError);
        assert.equal(e.seq, 1);
        assert.equal(e.storedMessageId, 'm1');
        return true;
      });
      assert.equal(await store.lastSeq('c'), 1);
      await assert.rejects(store.readAfter('c', 0, -1), RangeError);
    } finally {
      await store.close();
    }
  });

  it('works in memory, reads in the worker', async () => {
    const store = await SqliteWorkerStore.open(':memory:');
    await store.commit([msg('c', 1), msg('c', 2)]);
    assert.equal(await store.lastSeq('c'), 2);
    assert.equal((await store.findByClientMsgId('c', 'alice', 'c2'))?.seq, 2);
    await store.close();
    await assert.rejects(store.commit([msg('c', 3)]), StoreUnavailableError);
  });

  it('the host-side reader cannot write', async () => {
    const file = freshFile();
    const writer = await SqliteWorkerStore.open(file);
    const reader = new SqliteStore(file, { readOnly: true });
    try {
      await assert.rejects(reader.commit([msg('c', 1)]));
      assert.equal(await writer.lastSeq('c'), 0);
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it('a worker that dies fails the unanswered commits, calls onExit, and keeps everything acked', async () => {
    const file = freshFile();
    const exits: Error[] = [];
    const store = await SqliteWorkerStore.open(file, { onExit: (e) => exits.push(e) });
    const writer = new BatchWriter(async (ops: ReturnType<typeof msg>[]) => store.commit(ops), { maxBatch: 8, maxDelayMs: 0, adaptive: true });
    const acked: number[] = [];
    const failed: number[] = [];
    const sends = Array.from({ length: 200 }, (_, i) =>
      writer.submit(msg('c', i + 1)).then(
        () => void acked.push(i + 1),
        (e: unknown) => {
          assert.ok(e instanceof StoreUnavailableError, String(e));
          failed.push(i + 1);
        },
      ),
    );
    while (acked.length < 20) await new Promise((r) => setTimeout(r, 1));
    await store.abortWorker();
    await Promise.all(sends);
    assert.equal(exits.length, 1, 'onExit ran once');
    assert.ok(exits[0] instanceof StoreUnavailableError);
    assert.ok(failed.length > 0, 'some sends were cut off by the crash');
    await assert.rejects(store.commit([msg('c', 999)]), StoreUnavailableError, 'a dead store refuses at once');
    await store.close();

    // What the supervisor does: open the store again. Every acked message is there.
    const again = await SqliteWorkerStore.open(file);
    try {
      const stored = await again.readAfter('c', 0, 1000);
      const seqs = new Set(stored.map((m) => m.seq));
      for (const s of acked) assert.ok(seqs.has(s), `acked seq ${s} is durable`);
      assert.deepEqual(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'a prefix: batches commit in order');
    } finally {
      await again.close();
    }
  });
});

describe('SqliteWorkerStore, pipelined commits', () => {
  it('refuses the commits posted behind a failed one, then takes new ones', async () => {
    const store = await SqliteWorkerStore.open(join(dir, 'pipelined.db'));
    try {
      await store.commit([msg('c', 1)]);
      // Posted together, before any answer: 2 fails (seq 1 holds another message), 3 and 4 were behind it.
      const results = await Promise.allSettled([
        store.commit([msg('c', 2)]),
        store.commit([msg('c', 1, { messageId: 'other' })]),
        store.commit([msg('c', 3)]),
        store.commit([msg('c', 4)]),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'rejected']);
      assert.ok((results[1] as PromiseRejectedResult).reason instanceof SeqTakenError);
      for (const r of results.slice(2)) {
        const e = (r as PromiseRejectedResult).reason as Error;
        assert.ok(e instanceof StoreUnavailableError);
        assert.match(e.message, /not attempted/);
      }
      assert.equal(await store.lastSeq('c'), 2, 'nothing behind the failure was committed');
      await store.commit([msg('c', 3)]);
      assert.equal(await store.lastSeq('c'), 3, 'commits posted after the failure was seen are tried');
      // A second failure right after the first: still fail-stop.
      const again = await Promise.allSettled([store.commit([msg('c', 0)]), store.commit([msg('c', 4)])]);
      assert.deepEqual(again.map((r) => r.status), ['rejected', 'rejected']);
      assert.equal(await store.lastSeq('c'), 3);
    } finally {
      await store.close();
    }
  });

  it('under a batch writer with concurrency 4, FIFO and fail-queued hold', async () => {
    const store = await SqliteWorkerStore.open(join(dir, 'pipelined-writer.db'));
    const writer = new BatchWriter(async (ops: ReturnType<typeof msg>[]) => store.commit(ops), { maxBatch: 3, maxDelayMs: 0, concurrency: 4, adaptive: true });
    try {
      const ok = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => writer.submit(msg('c', i + 1))));
      assert.ok(ok.every((r) => r.status === 'fulfilled'));
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 5 }, (_, i) => writer.submit(msg('c', 31 + i))),
        writer.submit(msg('c', 5, { messageId: 'other' })), // fails its batch
        ...Array.from({ length: 10 }, (_, i) => writer.submit(msg('c', 36 + i))),
      ]);
      const stored = (await store.readAfter('c', 0, 100)).map((m) => m.seq);
      assert.deepEqual(stored, Array.from({ length: stored.length }, (_, i) => i + 1), 'a gapless prefix: nothing committed over the hole');
      const firstFailed = outcomes.findIndex((r) => r.status === 'rejected');
      assert.ok(outcomes.slice(firstFailed).every((r) => r.status === 'rejected'), 'everything behind the failure failed');
    } finally {
      await writer.close();
      await store.close();
    }
  });
});
