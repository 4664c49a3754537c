/**
 * The dedup filter (dedup_filter.ts): alone on a fake store, then inside the real chat
 * service on the real SQLite store and write path, through the resend cases its
 * argument names: after a restart, after an ownership move, after a write failure.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DedupFilter, type Drainable } from './dedup_filter.js';
import { SqliteStore } from '../store/sqlite_store.js';
import { WritePath } from '../store/write_path.js';
import type { MessageStore } from '../store/store.js';
import type { StoredMessage, WriteOp } from '../store/types.js';
import { ChatService, type Caller, type ServiceLimits } from './chat_service.js';
import { LocalFanout } from './local_fanout.js';
import { ConnectionRegistry } from './registry.js';

const tick = () => new Promise((r) => setImmediate(r));
const drained: Drainable = { flush: () => Promise.resolve() };

function fakeStore(kind: string, stored: Partial<StoredMessage>[] = []): Pick<MessageStore, 'kind' | 'readAfter'> {
  return { kind, readAfter: async (_c, _a, limit) => stored.slice(0, limit) as StoredMessage[] };
}

describe('DedupFilter', () => {
  it('is off without a drainable writer, in a cell, and on a store other than SQLite', async () => {
    for (const f of [
      new DedupFilter(fakeStore('sqlite'), null, false),
      new DedupFilter(fakeStore('sqlite'), drained, true),
      new DedupFilter(fakeStore('cassandra'), drained, false),
    ]) {
      f.certainlyNew('c', 'alice', 'x');
      await tick();
      assert.equal(f.certainlyNew('c', 'alice', 'y'), false);
    }
  });

  it('covers a conversation with nothing stored once the check is done; recorded ids always read', async () => {
    const f = new DedupFilter(fakeStore('sqlite'), drained, false);
    assert.equal(f.certainlyNew('c', 'alice', 'm1'), false, 'not before the check');
    f.record('c', 'alice', 'm1');
    await tick();
    assert.equal(f.certainlyNew('c', 'alice', 'm1'), false, 'recorded: may be stored');
    assert.equal(f.certainlyNew('c', 'alice', 'm2'), true);
    assert.equal(f.certainlyNew('c', 'bob', 'm1'), true, 'per sender');
    assert.equal(f.certainlyNew('c', 'alice', 'sys:abc'), false, 'a system id always reads');
  });

  it('never covers a conversation with a stored client message (its history is unknown here)', async () => {
    const f = new DedupFilter(fakeStore('sqlite', [{ seq: 1, clientMsgId: 'old' }]), drained, false);
    f.certainlyNew('c', 'alice', 'm1');
    await tick();
    assert.equal(f.certainlyNew('c', 'alice', 'm2'), false);
    assert.equal(f.certainlyNew('c', 'alice', 'old'), false);
  });

  it('covers a new group whose only stored message is a system one', async () => {
    const f = new DedupFilter(fakeStore('sqlite', [{ seq: 1, clientMsgId: 'sys:m1' }]), drained, false);
    f.certainlyNew('g', 'alice', 'm1');
    await tick();
    assert.equal(f.certainlyNew('g', 'alice', 'm2'), true);
    assert.equal(f.certainlyNew('g', 'alice', 'sys:m1'), false);
  });

  it('waits for the barrier (writes accepted before it existed) before it covers anything', async () => {
    let open!: () => void;
    const barrier = new Promise<void>((r) => (open = r));
    const f = new DedupFilter(fakeStore('sqlite'), { flush: () => barrier }, false);
    f.certainlyNew('c', 'alice', 'm1');
    await tick();
    assert.equal(f.certainlyNew('c', 'alice', 'm2'), false, 'old writes may still land');
    open();
    await tick();
    assert.equal(f.certainlyNew('c', 'alice', 'm2'), true);
  });

  it('has no false "new" for recorded ids, however many (slices grow)', async () => {
    const f = new DedupFilter(fakeStore('sqlite'), drained, false);
    f.certainlyNew('c', 'u', 'first');
    await tick();
    for (let i = 0; i < 5000; i++) f.record('c', 'u', `id-${i}`);
    for (let i = 0; i < 5000; i++) assert.equal(f.certainlyNew('c', 'u', `id-${i}`), false, `id-${i}`);
    let fresh = 0;
    for (let i = 0; i < 5000; i++) if (f.certainlyNew('c', 'u', `new-${i}`)) fresh++;
    assert.ok(fresh > 4800, `most unseen ids skip the read (${fresh} of 5000)`);
  });

  it('past its bit budget it stops covering (reads, never a wrong "new")', async () => {
    const f = new DedupFilter(fakeStore('sqlite'), drained, false, { budgetBits: 1024 });
    f.certainlyNew('c', 'u', 'a');
    await tick();
    for (let i = 0; i < 200; i++) f.record('c', 'u', `id-${i}`);
    for (let i = 0; i < 200; i++) assert.equal(f.certainlyNew('c', 'u', `id-${i}`), false);
    assert.equal(f.certainlyNew('c', 'u', 'never-sent'), false, 'no longer covered');
  });
});

// ------------------------------------------------------------------ in the chat service

const LIMITS: ServiceLimits = { maxMessageBytes: 1000, defaultSyncPage: 50, maxSyncPage: 100, maxHistoryPage: 50, maxConversationMembers: 10, retentionMessages: 0 };
const alice: Caller = { user: 'alice', device: 'd1', conn: null };
const send = (svc: ChatService, conversation: string, clientMsgId: string) => svc.send(alice, { conversation, clientMsgId, body: clientMsgId, meta: {} });

const dir = mkdtempSync(join(tmpdir(), 'switchboard-dedup-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** The real store behind a counter of dedup reads, and a switch that fails a commit after it is durable. */
class CountingStore {
  finds = 0;
  /** Commit for real, then report failure (durability unknown to the caller). */
  failAfterCommit = false;
  constructor(readonly inner: SqliteStore) {}
  wrap(): MessageStore {
    const inner = this.inner;
    return new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'findByClientMsgId') return (...a: [string, string, string]) => ((this.finds += 1), inner.findByClientMsgId(...a));
        if (prop === 'commit')
          return async (ops: WriteOp[]) => {
            await inner.commit(ops);
            if (this.failAfterCommit) {
              this.failAfterCommit = false;
              throw new Error('store thread died after the commit');
            }
          };
        const v: unknown = Reflect.get(target, prop);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

function service(file: string, ownership: { epochOf(c: string): number | null } | null = null) {
  const counting = new CountingStore(new SqliteStore(file));
  const store = counting.wrap();
  const wp = new WritePath(store, { batch: { maxDelayMs: 1, adaptive: true }, fence: null });
  const registry = new ConnectionRegistry();
  const svc = new ChatService({ store, writer: wp, registry, fanout: new LocalFanout(registry, { deliver() {}, receipts() {} }), ownership, limits: LIMITS });
  wp.onFailure(() => svc.writeFailed());
  const close = async () => {
    svc.close();
    await wp.close();
  };
  return { counting, svc, wp, close };
}

async function storedIds(file: string, conversation: string): Promise<string[]> {
  const s = new SqliteStore(file);
  try {
    return (await s.readAfter(conversation, 0, 1000)).map((m) => m.clientMsgId);
  } finally {
    await s.close();
  }
}

describe('DedupFilter in the chat service (real SQLite and write path)', () => {
  it('new ids skip the dedup read; a resend after the commit still reads and is a duplicate', async () => {
    const file = join(dir, `f${files++}.db`);
    const { counting, svc, close } = service(file);
    const c = await svc.openDirect('alice', 'bob');
    await send(svc, c.id, 'm1'); // first send: the conversation's check runs, this one reads
    const before = counting.finds;
    for (let i = 2; i <= 10; i++) await send(svc, c.id, `m${i}`);
    assert.equal(counting.finds, before, 'nine new ids, no dedup read');
    const again = await send(svc, c.id, 'm5');
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, 5);
    assert.equal(counting.finds, before + 1, 'the resend read the store');
    await close();
    assert.deepEqual(await storedIds(file, c.id), Array.from({ length: 10 }, (_, i) => `m${i + 1}`));
  });

  it('after a restart the filter is empty and covers nothing stored: a resend is found', async () => {
    const file = join(dir, `f${files++}.db`);
    const first = service(file);
    const c = await first.svc.openDirect('alice', 'bob');
    for (let i = 1; i <= 3; i++) await send(first.svc, c.id, `m${i}`);
    await first.close();

    const second = service(file);
    const ack = await send(second.svc, c.id, 'm2');
    assert.deepEqual([ack.duplicate, ack.seq], [true, 2]);
    await send(second.svc, c.id, 'm4');
    await tick();
    const finds = second.counting.finds;
    await send(second.svc, c.id, 'm5');
    assert.equal(second.counting.finds, finds + 1, 'a conversation with stored messages is never covered: every send reads');
    assert.deepEqual([(await send(second.svc, c.id, 'm1')).seq, (await send(second.svc, c.id, 'm1')).duplicate], [1, true]);
    await second.close();
    assert.deepEqual(await storedIds(file, c.id), ['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('after a write failure whose commit did land, the resend is found, not stored twice', async () => {
    const file = join(dir, `f${files++}.db`);
    const { counting, svc, close } = service(file);
    const c = await svc.openDirect('alice', 'bob');
    await send(svc, c.id, 'm1');
    await send(svc, c.id, 'm2'); // covered by now
    counting.failAfterCommit = true;
    await assert.rejects(send(svc, c.id, 'm3'));
    const resend = await send(svc, c.id, 'm3');
    assert.deepEqual([resend.duplicate, resend.seq], [true, 3]);
    const next = await send(svc, c.id, 'm4');
    assert.equal(next.seq, 4);
    await close();
    assert.deepEqual(await storedIds(file, c.id), ['m1', 'm2', 'm3', 'm4']);
  });

  it('in a cell (ownership can move) every send reads', async () => {
    const file = join(dir, `f${files++}.db`);
    let epoch = 3;
    const { counting, svc, close } = service(file, { epochOf: () => epoch });
    const c = await svc.openDirect('alice', 'bob');
    await send(svc, c.id, 'm1');
    await tick();
    const finds = counting.finds;
    await send(svc, c.id, 'm2');
    epoch = 4; // the shard moved away and back: another owner may have written
    await send(svc, c.id, 'm3');
    assert.equal(counting.finds, finds + 2);
    assert.equal((await send(svc, c.id, 'm2')).duplicate, true);
    await close();
  });
});
