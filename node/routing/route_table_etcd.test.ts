import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdTestEnv } from '../etcd/etcd_test_env.js';
import { NodeLease } from '../etcd/node_lease.js';
import { routesPrefix } from '../etcd/keys.js';
import { EtcdRouteTable } from './route_table_etcd.js';
import { runRouteTableConformance } from './route_table_conformance.js';

const env = etcdTestEnv();

async function etcdNode(prefix: string, nodeId: string, ttlSec = 2) {
  const client = env.client();
  const lease = new NodeLease(client, { ttlSec });
  await lease.start();
  const table = new EtcdRouteTable({ client, lease, nodeId, prefix });
  await table.start();
  return { client, lease, table };
}

runRouteTableConformance('etcd', async () => {
  const prefix = env.prefix();
  const nodes = new Map<string, Awaited<ReturnType<typeof etcdNode>>>();
  return {
    settleMs: 5_000,
    node: async (id) => {
      const n = await etcdNode(prefix, id);
      nodes.set(id, n);
      return n.table;
    },
    // Revoking deletes the lease's keys exactly as expiry does, without waiting a TTL.
    kill: async (id) => nodes.get(id)!.lease.stop(true),
    close: async () => {
      for (const n of nodes.values()) {
        await n.table.stop(1_000);
        await n.lease.stop();
      }
    },
  };
});

const eventually = async (check: () => boolean, ms = 10_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('etcd: churn is written in batched transactions, not one write per change', async () => {
  const prefix = env.prefix();
  const a = await etcdNode(prefix, 'a');
  for (let i = 0; i < 1_000; i++) a.table.register(`u${i}`, 'd');
  await a.table.flush();
  const s = a.table.stats();
  assert.ok(s.batchesWritten <= 20, `1000 routes in ${s.batchesWritten} txns`);
  assert.equal(await a.client.getAll().prefix(routesPrefix(prefix)).count(), 1_000);
  await a.table.stop();
  await a.lease.stop();
});

test('etcd: a node whose lease expires (no keepalive) loses its routes everywhere', async () => {
  const prefix = env.prefix();
  const a = await etcdNode(prefix, 'a');
  const b = await etcdNode(prefix, 'b');
  b.table.register('bob', 'phone');
  await b.table.flush();
  await eventually(() => a.table.lookup('bob').length === 1);
  const t0 = Date.now();
  b.lease.pauseKeepalive();
  await eventually(() => a.table.lookup('bob').length === 0);
  const took = Date.now() - t0;
  assert.ok(took <= 2_000 + 1_500, `gone after ${took} ms (TTL 2 s)`);
  for (const n of [a, b]) {
    await n.table.stop(500);
    await n.lease.stop();
  }
});

test('etcd: a lost lease is replaced and the routes written again', async () => {
  const prefix = env.prefix();
  const a = await etcdNode(prefix, 'a');
  const b = await etcdNode(prefix, 'b');
  a.table.register('alice', 'phone');
  await a.table.flush();
  await eventually(() => b.table.lookup('alice').length === 1);
  // etcd revokes the lease behind the node's back (as on expiry during a long stall).
  await a.client.leaseClient.leaseRevoke({ ID: a.lease.id! });
  await eventually(() => b.table.lookup('alice').length === 0);
  await eventually(() => b.table.lookup('alice').length === 1);
  assert.notEqual(a.lease.id, null);
  for (const n of [a, b]) {
    await n.table.stop();
    await n.lease.stop();
  }
});

test('etcd: survives an etcd crash and restart, then re-syncs', async (t) => {
  if (!env.etcd) return t.skip('external etcd');
  const prefix = env.prefix();
  const a = await etcdNode(prefix, 'a', 5);
  const b = await etcdNode(prefix, 'b', 5);
  a.table.register('alice', 'phone');
  await a.table.flush();
  await eventually(() => b.table.lookup('alice').length === 1);
  await env.etcd.kill();
  a.table.register('carol', 'tablet'); // written once etcd is back
  await new Promise((r) => setTimeout(r, 300));
  await env.etcd.restart();
  await a.table.flush();
  await eventually(() => b.table.lookup('carol').length === 1, 15_000);
  assert.equal(b.table.lookup('alice').length, 1);
  // A forced full re-read finds the same table.
  await b.table.resync();
  assert.equal(b.table.stats().cachedRoutes, 2);
  for (const n of [a, b]) {
    await n.table.stop();
    await n.lease.stop();
  }
});
