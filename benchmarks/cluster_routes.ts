/**
 * Routes registered per second into etcd: N connections (default 10 000) register
 * at once on one node; the time until every route is durable in etcd (flush), then
 * until a second node's watched cache holds them all. Starts its own etcd unless
 * $SB_ETCD_ENDPOINT is set.
 *
 *   node --import tsx benchmarks/cluster_routes.ts [--connections 10000]
 */
import { parseArgs } from 'node:util';
import { startEtcd } from '../ops/etcd/etcd.js';
import { makeEtcdClient } from '../node/etcd/etcd_client.js';
import { NodeLease } from '../node/etcd/node_lease.js';
import { EtcdRouteTable } from '../node/routing/route_table_etcd.js';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '10000' } } });
const n = Number(values.connections);
const etcd = process.env.SB_ETCD_ENDPOINT ? null : await startEtcd();
const endpoint = process.env.SB_ETCD_ENDPOINT ?? etcd!.endpoint;
const prefix = `/sbbench/${Date.now()}/`;

async function node(id: string, maxBatchOps = 128) {
  const client = makeEtcdClient(endpoint);
  const lease = new NodeLease(client, { ttlSec: 10 });
  await lease.start();
  const table = new EtcdRouteTable({ client, lease, nodeId: id, prefix, maxBatchOps, maxPending: n + 1 });
  await table.start();
  return { client, lease, table };
}

for (const batch of [128, 1]) {
  const a = await node(`a${batch}`, batch);
  const b = await node(`b${batch}`);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) a.table.register(`user-${i}`, 'phone');
  await a.table.flush();
  const durable = performance.now() - t0;
  while (b.table.stats().cachedRoutes < n) await new Promise((r) => setTimeout(r, 2));
  const seen = performance.now() - t0;
  console.log(`${n} routes, ${String(batch).padStart(3)} ops/txn: durable in ${durable.toFixed(0)} ms (${Math.round(n / (durable / 1000)).toLocaleString('en-US')} routes/s, ${a.table.stats().batchesWritten} txns); in the other node's cache after ${seen.toFixed(0)} ms`);
  for (const x of [a, b]) {
    await x.table.stop(10_000);
    await x.lease.stop();
    x.client.close();
  }
}
await etcd?.stop();
