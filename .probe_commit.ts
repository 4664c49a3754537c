import { startPrivateCassandra, testKeyspace } from '/work/main/node/store/cassandra_test_env.js';
import { openCassandraStore } from '/work/main/node/store/cassandra_store.js';
import type { WriteOp } from '/work/main/node/store/types.js';
const node = await startPrivateCassandra({ jit: 'full' });
const cfg = { contactPoints: [node.contactPoint], localDataCenter: 'datacenter1', keyspace: testKeyspace('probe'), consistency: 'one' };
const a = await openCassandraStore(cfg, { migrate: true });
const b = await openCassandraStore(cfg, { grouping: 'partition' });
const seqs = new Map<string, number>();
const mk = (n: number, tag: string): WriteOp[] => Array.from({ length: n }, (_, i) => {
  const conv = `${tag}-${i % 100}`; const seq = (seqs.get(conv) ?? 0) + 1; seqs.set(conv, seq);
  return { kind: 'message', message: { conversation: conv, seq, messageId: `m${seq}`, sender: `u${i % 2}`, senderDevice: 'd', clientMsgId: `${tag}-${i}-${seq}`, body: 'x'.repeat(200), meta: {}, serverTs: 1 } };
});
for (const [name, s] of [['replica', a], ['partition', b], ['replica', a], ['partition', b]] as const) {
  for (const n of [1, 16, 128]) {
    const t0 = performance.now(); let k = 0;
    while (performance.now() - t0 < 3000) { await s.commit(mk(n, name)); k++; }
    const ms = (performance.now() - t0) / k;
    console.log(name, n, `${ms.toFixed(2)} ms/commit`, `${Math.round(n * 1000 / ms)} msg/s`);
  }
}
await a.close(); await b.close(); await node.destroy();
