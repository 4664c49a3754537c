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
import { BUCKET_SIZE } from './cassandra_plan.js';
import { latestVersion, LOCAL_REPLICATION, migrate, schemaVersion } from './cassandra_schema/migrate.js';
import { getTestCassandra, testKeyspace } from './cassandra_test_env.js';
import { InvalidWriteError, StoreUnavailableError } from './errors.js';
import { msgOp as msg } from './fixtures.js';

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
    await admin.execute(`INSERT INTO ${keyspace}.dedup_seqs (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`, [conv, 'alice', 'lost', 1], {
      prepare: true,
    });
    assert.equal(await store.findByClientMsgId(conv, 'alice', 'lost'), null);
    assert.equal((await store.findByClientMsgId(conv, 'alice', 'c1'))?.seq, 1);
  });

  it('of several keys of one client_msg_id, the one whose seq holds that message answers', async () => {
    const conv = `dedup-many-${Math.random()}`;
    await store.commit([msg(conv, 1), msg(conv, 2), msg(conv, 3)]);
    // Keys a refused and a failed attempt of c3 left behind, on both sides of its own.
    for (const seq of [1, 5]) {
      await admin.execute(`INSERT INTO ${keyspace}.dedup_seqs (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`, [conv, 'alice', 'c3', seq], {
        prepare: true,
      });
    }
    assert.equal((await store.findByClientMsgId(conv, 'alice', 'c3'))?.seq, 3);
  });

  it('a key written before migration 003 (dedup table) is still found', async () => {
    const conv = `dedup-legacy-${Math.random()}`;
    await store.commit([msg(conv, 1)]);
    await admin.execute(`DELETE FROM ${keyspace}.dedup_seqs WHERE conversation = ? AND sender = ?`, [conv, 'alice'], { prepare: true });
    await admin.execute(`INSERT INTO ${keyspace}.dedup (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`, [conv, 'alice', 'c1', 1], {
      prepare: true,
    });
    // A store opened while the old table holds keys reads it after a miss.
    const s = await openCassandraStore(cfg);
    try {
      assert.equal((await s.findByClientMsgId(conv, 'alice', 'c1'))?.seq, 1);
      assert.equal(await s.findByClientMsgId(conv, 'alice', 'c2'), null);
    } finally {
      await s.close();
    }
  });

  it('guards seqs by default; store.cassandra.guardSeqs false switches it off (to measure its cost)', async () => {
    assert.equal(store.guardSeqs, true);
    const off = await openCassandraStore({ ...cfg, guardSeqs: false });
    try {
      assert.equal(off.guardSeqs, false);
      // Unguarded, a second message at a stored seq is the old last-write-wins upsert.
      const conv = `unguarded-${Math.random()}`;
      await off.commit([msg(conv, 1)]);
      await off.commit([msg(conv, 1, { messageId: 'other', clientMsgId: 'other' })]);
      assert.equal((await off.readAfter(conv, 0, 10))[0]?.messageId, 'other');
    } finally {
      await off.close();
    }
  });

  it('rejects an invalid op before writing anything', async () => {
    const conv = `invalid-${Math.random()}`;
    await assert.rejects(store.commit([msg(conv, 1), msg(conv, 0)]), InvalidWriteError);
    await assert.rejects(store.commit([msg(conv, 1, { serverTs: 1.5 })]), InvalidWriteError);
    assert.equal(await store.lastSeq(conv), 0);
  });

  it('concurrent commits keep call order per conversation; a failure fails the commits running with it', async () => {
    const conv = `pipe-${Math.random()}`;
    await Promise.all([store.commit(range(1, 5).map((s) => msg(conv, s))), store.commit(range(6, 9).map((s) => msg(conv, s)))]);
    assert.equal(await store.lastSeq(conv), 9);
    assert.deepEqual((await store.readAfter(conv, 0, 20)).map((m) => m.seq), range(1, 9));
    // The invalid commit fails while the other one runs: that one writes no message.
    const other = `pipe-other-${Math.random()}`;
    const bad = store.commit([msg(conv, 10), msg(conv, 0)]);
    const poisoned = store.commit([msg(other, 1)]);
    await assert.rejects(bad, InvalidWriteError);
    await assert.rejects(poisoned, StoreUnavailableError);
    assert.equal(await store.lastSeq(other), 0);
    // Then the store takes commits again.
    await store.commit([msg(other, 1)]);
    assert.equal(await store.lastSeq(other), 1);
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
