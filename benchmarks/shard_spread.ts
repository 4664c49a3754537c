/**
 * How evenly SO_REUSEPORT spreads connections over a node's socket shards, and how
 * fast they are accepted. (This uWS build has no acceptor hand-off API —
 * addChildAppDescriptor is absent — so SO_REUSEPORT is the way sockets reach shards;
 * this measures what it gives.)
 *
 *   node --import tsx benchmarks/shard_spread.ts [--connections 4000] [--shards 2]
 */
import { TestNode } from '../node/e2e/harness.js';
import { TestClient } from '../protocol/client.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('connections', 4000);
const SHARDS = arg('shards', 2);

const node = await TestNode.start({ config: { shards: { count: SHARDS }, log: { level: 'warn' } } });
const clients: TestClient[] = [];
const t0 = performance.now();
const CONC = 100;
let next = 0;
await Promise.all(
  Array.from({ length: CONC }, async () => {
    while (next < N) {
      const i = next++;
      const c = await TestClient.connect({ url: node.url, token: await node.token(`u${i}`, 'd'), encoding: 'proto' });
      await c.waitFor((f) => f.kind.case === 'welcome');
      clients.push(c);
      if (clients.length % 1000 === 0) process.stderr.write(`  ${clients.length}/${N} connected\n`);
    }
  }),
);
const ms = performance.now() - t0;
const perShard = new Map<number, number>();
for (const c of clients) {
  const w = c.frames[0];
  const s = w.kind.case === 'welcome' ? w.kind.value.shard : -1;
  perShard.set(s, (perShard.get(s) ?? 0) + 1);
}
const counts = [...perShard.entries()].sort((a, b) => a[0] - b[0]);
const ideal = N / SHARDS;
const worst = Math.max(...counts.map(([, n]) => Math.abs(n - ideal) / ideal));
console.log(`${N} connections over ${SHARDS} shards (SO_REUSEPORT), ${Math.round((N / ms) * 1000)} authenticated connects/s at ${CONC} in flight`);
console.table(counts.map(([shard, n]) => ({ shard, connections: n, share: `${((n / N) * 100).toFixed(1)} %` })));
console.log(`worst deviation from an even split: ${(worst * 100).toFixed(1)} %`);
for (const c of clients) c.terminate();
await node.stop();
node.cleanup();
