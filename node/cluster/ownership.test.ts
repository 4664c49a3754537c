import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdTestEnv } from '../etcd/etcd_test_env.js';
import { FencedError, verifyFence } from './fence.js';
import { ownKey } from '../etcd/keys.js';
import { Membership } from './membership.js';
import { NodeLease } from '../etcd/node_lease.js';
import { ShardOwnership } from './ownership.js';
import { assignShards } from './shard_map.js';

const env = etcdTestEnv();
const SHARDS = 32;

async function node(prefix: string, id: string, hooks: { released?: number[] } = {}) {
  const client = env.client();
  const lease = new NodeLease(client, { ttlSec: 2 });
  await lease.start();
  const membership = new Membership({ client, lease, prefix, self: { node: id, peerAddr: '', httpUrl: '', startedAt: 0 } });
  await membership.start();
  const own = new ShardOwnership({
    client, lease, membership, nodeId: id, prefix, shardCount: SHARDS, reconcileMs: 300, safetyMarginMs: 200,
    onRelease: async (s) => void hooks.released?.push(s),
  });
  await own.start();
  const n = { id, client, lease, membership, own };
  created.push(n);
  return n;
}
const created: { own: ShardOwnership; membership: Membership; lease: NodeLease }[] = [];
// Stop whatever a test left running (also after a failed assertion).
afterEach(async () => {
  for (const n of created.splice(0)) {
    await n.own.stop();
    await n.membership.stop();
    await n.lease.stop();
  }
});
type Node = Awaited<ReturnType<typeof node>>;

const until = async (check: () => boolean, ms = 8_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Nodes that would be allowed to write shard s right now (hold it, lease valid). */
const writers = (nodes: Node[], s: number) => nodes.filter((n) => n.own.tokenOf(s) !== null && n.lease.isValid(0)).map((n) => n.id);

const settled = (nodes: Node[], live: string[]) => {
  const want = assignShards(SHARDS, live);
  return want.every((w, s) => writers(nodes, s).join() === (w ?? ''));
};


test('every shard gets exactly its rendezvous owner; a joiner takes over after a drained release', async () => {
  const prefix = env.prefix();
  const released: number[] = [];
  const a = await node(prefix, 'a', { released });
  const b = await node(prefix, 'b', { released });
  await until(() => settled([a, b], ['a', 'b']));
  released.length = 0;
  const c = await node(prefix, 'c');
  await until(() => settled([a, b, c], ['a', 'b', 'c']));
  const moved = assignShards(SHARDS, ['a', 'b', 'c']).flatMap((n, s) => (n === 'c' ? [s] : []));
  assert.deepEqual(released.sort((x, y) => x - y), moved, 'c got exactly the shards it hashes to, each drained first');
  // Tokens only grow: the joiner's tokens are newer than any original claim.
  const old = Math.max(...[...a.own.heldShards().values(), ...b.own.heldShards().values()]);
  assert.ok([...c.own.heldShards().values()].every((t) => t > 0) && Math.min(...c.own.heldShards().values()) > 0 && old > 0);
});

test('takeover after an owner stops renewing; the frozen owner is fenced; never two writers', async (t) => {
  const prefix = env.prefix();
  const nodes = [await node(prefix, 'a'), await node(prefix, 'b'), await node(prefix, 'c')];
  const [a, b, c] = nodes;
  await until(() => settled(nodes, ['a', 'b', 'c']));
  const [shard, token] = [...b.own.heldShards()][0];

  // Sample continuously: at no instant may two nodes be allowed to write one shard.
  let violations = 0;
  const sampler = setInterval(() => {
    for (let s = 0; s < SHARDS; s++) if (writers(nodes, s).length > 1) violations++;
  }, 5);

  const t0 = Date.now();
  b.lease.pauseKeepalive(); // b freezes: it still believes it owns its shards
  assert.equal(b.own.tokenOf(shard), token);
  await until(() => settled([a, c], ['a', 'c']));
  const took = Date.now() - t0;
  clearInterval(sampler);
  assert.equal(violations, 0);
  t.diagnostic(`takeover of every shard of the frozen node: ${took} ms after its last keepalive (TTL 2000 ms)`);
  assert.ok(took < 2_000 + 1_500, `shards moved after ${took} ms (TTL 2 s, bound TTL + 1.5 s)`);

  // The stale owner may not write: its watch already told it (not_owner), and had its
  // event loop been frozen too, its own lease clock refuses (lease_expiring)...
  let ran = false;
  await assert.rejects(b.own.fencedCommit({ shard, token }, async () => void (ran = true)), (e: FencedError) => ['not_owner', 'lease_expiring'].includes(e.reason));
  await assert.rejects(
    verifyFence(b.client, b.lease, [{ shard, token, key: ownKey(prefix, shard) }], { marginMs: 0, mode: 'etcd' }),
    (e: FencedError) => e.reason === 'lease_expiring',
  );
  // ...and even if its lease clock were wrong, etcd's compare refuses the stale token.
  await assert.rejects(
    verifyFence(b.client, { isValid: () => true }, [{ shard, token, key: ownKey(prefix, shard) }], { marginMs: 0, mode: 'etcd' }),
    (e: FencedError) => e.reason === 'fenced' && e.shard === shard,
  );
  assert.equal(ran, false);

  // The new owner writes with its own, larger token; a wrong token is refused.
  const heir = [a, c].find((n) => n.own.tokenOf(shard) !== null)!;
  const newToken = heir.own.tokenOf(shard)!;
  assert.ok(newToken > token);
  assert.equal(await heir.own.fencedCommit({ shard, token: newToken }, async () => 'ok'), 'ok');
  await assert.rejects(heir.own.fencedCommit({ shard, token }, async () => 'no'), (e: FencedError) => e.reason === 'not_owner');
});

test('fencedCommit over several shards in one check', async () => {
  const prefix = env.prefix();
  const a = await node(prefix, 'a');
  await until(() => a.own.heldShards().size === SHARDS);
  const claims = [...a.own.heldShards()].slice(0, 5).map(([shard, token]) => ({ shard, token }));
  assert.equal(await a.own.fencedCommit(claims, async () => 42), 42);
});
