/**
 * End to end against a real Cassandra JVM: start, CQL through cassandra-driver,
 * graceful restart on the same data dir, and a SIGKILL during live writes after which
 * every acked write must be back. About 20–30 s on 2 cores.
 *
 * Skipped (not failed) when the jars are not fetched, so a plain unit-test run needs
 * no Java; CI runs ensure-deps.sh first, which fetches them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import cassandra from 'cassandra-driver';
import { cachedJars, LOCAL_DATACENTER, startCassandra, type CassandraHandle } from './index.js';

const skip = cachedJars() ? false : 'Cassandra jars not fetched (run ops/cassandra/ensure-deps.sh)';

function connect(h: CassandraHandle, keyspace?: string): cassandra.Client {
  return new cassandra.Client({
    contactPoints: [`${h.host}:${h.port}`],
    localDataCenter: LOCAL_DATACENTER,
    keyspace,
    // One connection is plenty on loopback; keeps the test's reconnect noise low after kill().
    pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 1 } },
  });
}

test('local Cassandra node: restart and crash keep acked writes', { skip, timeout: 240_000 }, async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sb-cassandra-e2e-'));
  let node: CassandraHandle | null = null;
  t.after(async () => {
    await node?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  node = await startCassandra({ dataDir, port: 0 });
  const port = node.port;
  assert.match(node.ready?.releaseVersion ?? '', /^5\.0\./);

  await t.test('schema, insert and select', async () => {
    const c = connect(node!);
    try {
      await c.execute(
        "CREATE KEYSPACE IF NOT EXISTS sb_e2e WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
      );
      await c.execute('CREATE TABLE IF NOT EXISTS sb_e2e.kv (k text PRIMARY KEY, v int)');
      await c.execute('INSERT INTO sb_e2e.kv (k, v) VALUES (?, ?)', ['before-restart', 1], { prepare: true });
      const rs = await c.execute('SELECT v FROM sb_e2e.kv WHERE k = ?', ['before-restart'], { prepare: true });
      assert.equal(rs.first()?.get('v'), 1);
    } finally {
      await c.shutdown();
    }
  });

  await t.test('graceful stop and restart on the same data dir', async () => {
    const exit = await node!.stop();
    assert.equal(exit.signal === 'SIGKILL', false, 'drain finished within the grace period');
    node = await startCassandra({ dataDir });
    assert.equal(node.port, port, 'ports are kept across restarts');
    const c = connect(node, 'sb_e2e');
    try {
      const rs = await c.execute('SELECT v FROM kv WHERE k = ?', ['before-restart'], { prepare: true });
      assert.equal(rs.first()?.get('v'), 1);
    } finally {
      await c.shutdown();
    }
  });

  await t.test('SIGKILL during live writes loses no acked write', async () => {
    const c = connect(node!, 'sb_e2e');
    const acked: string[] = [];
    let stop = false;
    let n = 0;
    const writer = async () => {
      while (!stop) {
        const k = `live-${n++}`;
        try {
          await c.execute('INSERT INTO kv (k, v) VALUES (?, ?)', [k, 2], { prepare: true });
          acked.push(k);
        } catch {
          return; // the node is gone: this write was never acked
        }
      }
    };
    const writers = Array.from({ length: 8 }, writer);
    while (acked.length < 300) await new Promise((r) => setTimeout(r, 10));
    await node!.kill();
    stop = true;
    await Promise.all(writers);
    await c.shutdown();

    node = await startCassandra({ dataDir });
    const c2 = connect(node, 'sb_e2e');
    try {
      const missing: string[] = [];
      for (const k of acked) {
        const rs = await c2.execute('SELECT v FROM kv WHERE k = ?', [k], { prepare: true });
        if (rs.rowLength !== 1) missing.push(k);
      }
      assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acked writes lost`);
    } finally {
      await c2.shutdown();
    }
  });

  await node.stop();
  node = null;
});
