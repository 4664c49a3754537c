/**
 * CassandraStore against a real Cassandra (see cassandra_test_env.ts): the shared
 * conformance suite, Cassandra specifics (schema, buckets, max-registers, errors),
 * and the kill-during-live-traffic acceptance test on a private node.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import cassandra from 'cassandra-driver';
import { runStoreConformance } from './conformance.js';
import { runMembershipConformance } from './conformance_membership.js';
import { CassandraStore, createCassandraClient, openCassandraStore, type CassandraConfig } from './cassandra_store.js';
import { BUCKET_SIZE } from './cassandra_writer.js';
import { latestVersion, LOCAL_REPLICATION, migrate, schemaVersion } from './cassandra_schema/migrate.js';
import { getTestCassandra, testKeyspace } from './cassandra_test_env.js';
import { InvalidWriteError, StoreUnavailableError } from './errors.js';
import type { StoredMessage, WriteOp } from './types.js';

const cass = await getTestCassandra();
const keyspace = testKeyspace('store');
const cfg: CassandraConfig = {
  contactPoints: [cass.contactPoint],
  localDataCenter: cass.localDataCenter,
  keyspace,
  consistency: 'localQuorum',
};

// One admin client for schema work and raw checks.
const admin = createCassandraClient(cfg);
let migrated: Promise<unknown> | null = null;
const ensureSchema = () => (migrated ??= migrate(admin, { keyspace, replication: LOCAL_REPLICATION }));

after(async () => {
  await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
  await admin.shutdown();
  await cass.release();
});

// open() without migrate: also proves a migrated keyspace passes the version check.
runStoreConformance('cassandra', async () => {
  await ensureSchema();
  return openCassandraStore(cfg);
});
runMembershipConformance('cassandra', async () => {
  await ensureSchema();
  return openCassandraStore(cfg);
});
// The non-default packing writes the same rows through other requests: same contract.
runStoreConformance('cassandra (grouping: replica)', async () => {
  await ensureSchema();
  return openCassandraStore(cfg, { grouping: 'replica' });
});

function msg(conversation: string, seq: number, over: Partial<StoredMessage> = {}): WriteOp {
  return {
    kind: 'message',
    message: {
      conversation,
      seq,
      messageId: `m${seq}`,
      sender: 'alice',
      senderDevice: 'd1',
      clientMsgId: `c${seq}`,
      body: `b${seq}`,
      meta: {},
      serverTs: 1000 + seq,
      ...over,
    },
  };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('CassandraStore specifics', () => {
  let store: CassandraStore;
  before(async () => {
    await ensureSchema();
    store = await openCassandraStore(cfg);
  });
  after(() => store.close());

  it('migrations are recorded and re-running them applies nothing', async () => {
    await ensureSchema();
    assert.equal(await schemaVersion(admin, keyspace), latestVersion());
    const again = await migrate(admin, { keyspace, replication: LOCAL_REPLICATION });
    assert.deepEqual(again.applied, []);
    const tables = await admin.execute('SELECT table_name, comment FROM system_schema.tables WHERE keyspace_name = ?', [keyspace], {
      prepare: true,
    });
    for (const row of tables.rows) assert.ok((row.get('comment') as string).length > 10, `${row.get('table_name')} has a comment`);
  });

  it('refuses to open a keyspace without the schema', async () => {
    await assert.rejects(openCassandraStore({ ...cfg, keyspace: testKeyspace('empty') }), /run `npm run migrate`/);
  });

  it('readAfter, readBefore and lastSeq walk across buckets', async () => {
    const conv = `buckets-${Math.random()}`;
    const last = 2 * BUCKET_SIZE + 5;
    const ops = range(1, last).map((s) => msg(conv, s));
    for (let i = 0; i < ops.length; i += 500) await store.commit(ops.slice(i, i + 500));
    assert.equal(await store.lastSeq(conv), last);
    const around = await store.readAfter(conv, BUCKET_SIZE - 3, 6);
    assert.deepEqual(around.map((m) => m.seq), range(BUCKET_SIZE - 2, BUCKET_SIZE + 3));
    const back = await store.readBefore(conv, 2 * BUCKET_SIZE + 2, 5);
    assert.deepEqual(back.map((m) => m.seq), [2001, 2000, 1999, 1998, 1997]);
    await store.commit([{ kind: 'trim', conversation: conv, firstSeq: BUCKET_SIZE + 500 }]);
    assert.equal(await store.firstSeq(conv), BUCKET_SIZE + 500);
    assert.deepEqual((await store.readAfter(conv, 0, 2)).map((m) => m.seq), [1500, 1501]);
    assert.deepEqual((await store.readBefore(conv, 1502, 10)).map((m) => m.seq), [1501, 1500]);
    // The bucket below first_seq is a partition delete: nothing of it is left.
    const raw = await admin.execute(`SELECT seq FROM ${keyspace}.messages WHERE conversation = ? AND bucket = 0`, [conv], { prepare: true });
    assert.equal(raw.rowLength, 0);
  });

  it('lastSeq walks down past buckets a failed batch announced but never filled', async () => {
    const conv = `hint-${Math.random()}`;
    await store.commit(range(1, 7).map((s) => msg(conv, s)));
    // What a batch that failed after phase 1 leaves: the hint two buckets ahead.
    const ahead = 2 * BUCKET_SIZE + 3;
    await admin.execute(`UPDATE ${keyspace}.conversations USING TIMESTAMP ? SET last_seq = ? WHERE id = ?`, [ahead, ahead, conv], {
      prepare: true,
    });
    assert.equal(await store.lastSeq(conv), 7);
    assert.deepEqual((await store.readAfter(conv, 5, 10)).map((m) => m.seq), [6, 7]);
    assert.deepEqual((await store.readBefore(conv, 100, 2)).map((m) => m.seq), [7, 6]);
  });

  it('a dedup key whose seq now holds another message finds nothing', async () => {
    const conv = `dedup-${Math.random()}`;
    await store.commit([msg(conv, 1)]);
    await admin.execute(`INSERT INTO ${keyspace}.dedup (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`, [conv, 'alice', 'lost', 1], {
      prepare: true,
    });
    assert.equal(await store.findByClientMsgId(conv, 'alice', 'lost'), null);
    assert.equal((await store.findByClientMsgId(conv, 'alice', 'c1'))?.seq, 1);
  });

  it('rejects an invalid op before writing anything', async () => {
    const conv = `invalid-${Math.random()}`;
    await assert.rejects(store.commit([msg(conv, 1), msg(conv, 0)]), InvalidWriteError);
    await assert.rejects(store.commit([msg(conv, 1, { serverTs: 1.5 })]), InvalidWriteError);
    assert.equal(await store.lastSeq(conv), 0);
  });

  it('a closed store fails every call with StoreUnavailableError', async () => {
    const s = await openCassandraStore(cfg);
    await s.close();
    await s.close();
    await assert.rejects(s.commit([msg('x', 1)]), StoreUnavailableError);
    await assert.rejects(s.lastSeq('x'), StoreUnavailableError);
  });

  it('an unreachable cluster is StoreUnavailableError (retryable)', async () => {
    // Port 1 on loopback: nothing listens, connect is refused at once.
    await assert.rejects(openCassandraStore({ ...cfg, contactPoints: ['127.0.0.1:1'] }), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.equal(err.retryable, true);
      return true;
    });
  });

  it('statements are prepared and marked idempotent', async () => {
    const client = createCassandraClient(cfg);
    const seen: Array<{ prepare: boolean; idempotent: boolean }> = [];
    const s = new CassandraStore(client, { keyspace, consistency: 'one' });
    const wrap = <K extends 'execute' | 'batch'>(name: K) => {
      const orig = client[name].bind(client) as (...a: unknown[]) => Promise<unknown>;
      // execute(query, params, options) / batch(queries, options)
      (client as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        const o = args[name === 'batch' ? 1 : 2] as cassandra.QueryOptions | undefined;
        seen.push({ prepare: o?.prepare === true, idempotent: o?.isIdempotent === true });
        return orig(...args);
      };
    };
    wrap('execute');
    wrap('batch');
    try {
      const conv = `prep-${Math.random()}`;
      await s.commit([msg(conv, 1), msg(conv, 2), { kind: 'cursor', cursor: { conversation: conv, user: 'u', device: 'd', delivered: 2, read: 1 } }]);
      await s.readAfter(conv, 0, 10);
      assert.ok(seen.length >= 4);
      assert.ok(seen.every((x) => x.prepare && x.idempotent), JSON.stringify(seen));
    } finally {
      await s.close();
    }
  });
});

/**
 * The acceptance test for the write path: steady traffic through BatchWriter +
 * CassandraStore, SIGKILL of Cassandra mid-traffic, restart on the same data dir.
 * A private node (never the shared one: other files are using it).
 *
 * Senders follow the chat service's pattern: dedup check, then assign the next seq of
 * the conversation and submit in the same tick; after any failed batch the counter is
 * reloaded from store.lastSeq() before the next assignment. Failed sends are resent
 * later with the same client_msg_id, as a client would.
 */
describe('Kill Cassandra during live traffic', () => {
  it('acked writes survive exactly once with no seq gap; while down every submit rejects retryably', { timeout: 180_000 }, async () => {
    const { startPrivateCassandra } = await import('./cassandra_test_env.js');
    const { BatchWriter } = await import('./batch_writer.js');
    const { OverloadedError } = await import('./errors.js');
    const node = await startPrivateCassandra();
    const ks = testKeyspace('kill');
    const store = await openCassandraStore(
      { contactPoints: [node.contactPoint], localDataCenter: cass.localDataCenter, keyspace: ks, consistency: 'one' },
      { migrate: true, requestTimeoutMs: 2000 },
    );
    // Bumped synchronously when a batch fails, i.e. before the writer rejects anything,
    // so no sender can assign a seq on top of a failed one (see the chat service).
    let epoch = 0;
    const writer = new BatchWriter<WriteOp>(
      async (ops) => {
        try {
          await store.commit(ops);
        } catch (err) {
          epoch++;
          throw err;
        }
      },
      { maxBatch: 64, maxDelayMs: 2, maxQueue: 500 },
    );

    const CONVS = 10;
    const convs = Array.from({ length: CONVS }, (_, i) => ({
      id: `kill-conv-${i}`,
      assigned: 0,
      loadedAt: -1,
      loading: null as Promise<void> | null,
      next: 0,
      retry: [] as Array<{ clientMsgId: string; at: number }>,
    }));
    type Conv = (typeof convs)[number];
    const acked = new Map<string, { conv: string; seq: number; messageId: string }>();
    const errors: unknown[] = [];
    let resolvedWhileDown = 0;
    let rejectedWhileDown = 0;
    let down = false;
    const pending = new Set<Promise<void>>();

    const ensureLoaded = async (c: Conv) => {
      while (c.loadedAt !== epoch) {
        c.loading ??= (async () => {
          const at = epoch;
          const last = await store.lastSeq(c.id);
          c.assigned = last;
          c.loadedAt = at;
        })().finally(() => (c.loading = null));
        await c.loading;
      }
    };

    const send = async (c: Conv, clientMsgId: string) => {
      const startedDown = down;
      try {
        await ensureLoaded(c);
        const prior = await store.findByClientMsgId(c.id, 'sender', clientMsgId);
        if (prior) {
          acked.set(clientMsgId, { conv: c.id, seq: prior.seq, messageId: prior.messageId });
        } else {
          while (c.loadedAt !== epoch) await ensureLoaded(c);
          // Same tick from here on: assign, then submit.
          const seq = ++c.assigned;
          const messageId = `${clientMsgId}@${seq}/${epoch}`;
          await writer.submit({
            kind: 'message',
            message: { conversation: c.id, seq, messageId, sender: 'sender', senderDevice: 'd', clientMsgId, body: 'x'.repeat(200), meta: {}, serverTs: Date.now() },
          });
          acked.set(clientMsgId, { conv: c.id, seq, messageId });
        }
        if (startedDown && down) resolvedWhileDown++;
      } catch (err) {
        if (startedDown && down) rejectedWhileDown++;
        errors.push(err);
        c.retry.push({ clientMsgId, at: Date.now() + 200 });
      }
    };

    let traffic = true;
    const ticker = (async () => {
      while (traffic) {
        for (const c of convs) {
          const due = c.retry.length > 0 && c.retry[0].at <= Date.now() ? c.retry.shift()! : null;
          const id = due ? due.clientMsgId : `${c.id}-cm-${c.next++}`;
          const p = send(c, id);
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    const waitFor = async (what: string, cond: () => boolean, ms: number) => {
      const until = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    try {
      await waitFor('1000 acked messages before the kill', () => acked.size >= 1000, 60_000);
      const ackedBeforeKill = acked.size;
      await node.kill();
      down = true; // set after the JVM is gone: a send started from here cannot be acked
      await new Promise((r) => setTimeout(r, 1500));
      down = false;
      assert.equal(resolvedWhileDown, 0, 'no send started while Cassandra was down may resolve');
      assert.ok(rejectedWhileDown > 50, `sends kept being refused while down (${rejectedWhileDown})`);

      await node.restart();
      const afterRestart = acked.size;
      await waitFor('traffic to flow again after the restart', () => acked.size >= afterRestart + 500, 60_000);
      traffic = false;
      await ticker;
      await Promise.allSettled([...pending]);
      // Resend what is still unacked until everything got through once.
      for (let round = 0; round < 20; round++) {
        const left = convs.flatMap((c) => c.retry.splice(0).map((r) => send(c, r.clientMsgId)));
        if (left.length === 0) break;
        await Promise.allSettled(left);
      }
      await writer.flush();

      for (const err of errors) {
        assert.ok(err instanceof StoreUnavailableError || err instanceof OverloadedError, `not a store error: ${String(err)}`);
        assert.equal(err.retryable, true);
      }
      assert.ok(acked.size > ackedBeforeKill, 'traffic resumed');

      // Every stored conversation is a gapless run 1..lastSeq; every acked message is
      // at its acked seq; no client_msg_id is stored twice.
      let stored = 0;
      for (const c of convs) {
        const last = await store.lastSeq(c.id);
        const rows = await store.readAfter(c.id, 0, last + 10);
        assert.deepEqual(rows.map((m) => m.seq), range(1, last), `${c.id}: stored seqs are 1..${last} without a gap`);
        const seen = new Map<string, number>();
        for (const m of rows) {
          assert.equal(seen.get(m.clientMsgId), undefined, `${c.id}: ${m.clientMsgId} stored at ${seen.get(m.clientMsgId)} and ${m.seq}`);
          seen.set(m.clientMsgId, m.seq);
        }
        for (const [cm, a] of acked) {
          if (a.conv !== c.id) continue;
          const m = rows[a.seq - 1];
          assert.ok(m && m.clientMsgId === cm && m.messageId === a.messageId, `${c.id}: acked ${cm} at seq ${a.seq} is missing or replaced`);
        }
        stored += rows.length;
      }
      const outstanding = convs.reduce((n, c) => n + c.retry.length, 0);
      assert.equal(outstanding, 0, 'every message got through in the end');
      console.log(
        `kill test: ${acked.size} acked (${ackedBeforeKill} before the kill), ${stored} stored, ${errors.length} retryable rejections, ${rejectedWhileDown} while down`,
      );
    } finally {
      traffic = false;
      await ticker.catch(() => undefined);
      await writer.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      await node.destroy();
    }
  });
});
