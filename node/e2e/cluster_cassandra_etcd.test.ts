/**
 * etcd restarted under a 3-node cell (node/e2e/cluster_harness.ts): users already
 * connected on different nodes keep talking while etcd is down (sends acked and
 * delivered: routes, ownership and links are already known, and the outage is shorter
 * than the node leases, so nothing needs to move); once etcd is back, a user who
 * connects afterwards on another node is reachable.
 *
 * Its own cell: the lease is longer than in cluster_cassandra.test.ts (5 s) so a 2 s
 * outage ends well within it. The file name holds "cassandra" so `npm test` starts its
 * shared Cassandra for it (ops/test_runner.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getTestCassandra, type TestCassandra } from '../store/cassandra_test_env.js';
import { auditConversation, ClusterCell, SendFailed, type SendOutcome, storedMessages, waitUntil } from './cluster_harness.js';
import { show, sleep } from './harness.js';

const LEASE_TTL_SEC = 5;
const OUTAGE_MS = 2_000;
const ROUTE_BACKLOG = 20;

describe('cluster: etcd restart', { timeout: 240_000 }, () => {
  let cass: TestCassandra;
  let cell: ClusterCell;

  before(async () => {
    cass = await getTestCassandra();
    // A small route backlog bound, so the last test can fill it during an outage.
    cell = await ClusterCell.start({ nodes: 3, cassandra: cass.contactPoint, leaseTtlSec: LEASE_TTL_SEC, shardCount: 16, config: { cluster: { routes: { maxPending: ROUTE_BACKLOG } } } });
  }, { timeout: 120_000 });

  after(async () => {
    await cell?.stop();
    await cass?.release();
  });

  it('etcd stopped and started: routed users keep talking during the outage; afterwards a new user on another node is reachable', { timeout: 120_000 }, (t) =>
    cell.explain(async () => {
      const alice = cell.client(0, 'ea', 'phone', { autoAck: true, attemptTimeoutMs: 3_000 });
      const bob = cell.client(1, 'eb', 'phone', { autoAck: true, attemptTimeoutMs: 3_000 });
      let carol: ReturnType<ClusterCell['client']> | null = null;
      const acked = new Map<string, SendOutcome & { by: string }>();
      const failed: string[] = [];
      let stop = false;
      try {
        await Promise.all([alice.ready(), bob.ready()]);
        const conv = await alice.openDirect('eb');
        // Both routed: etcd has a route for each before the outage.
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && !((await cell.routesOf('ea')).includes('node-1') && (await cell.routesOf('eb')).includes('node-2'))) await sleep(100);
        assert.deepEqual([await cell.routesOf('ea'), await cell.routesOf('eb')], [['node-1'], ['node-2']], 'etcd routes alice to node-1 and bob to node-2 before the outage');

        const talk = async (from: typeof alice, label: string): Promise<void> => {
          for (let i = 0; !stop; i++) {
            const id = `${label}-${i}`;
            try {
              acked.set(id, { ...(await from.send(conv, id, id, 30_000)), by: label });
            } catch (e) {
              failed.push(`${id}: ${(e as Error).message}${e instanceof SendFailed ? ` (retries ${e.retries.slice(-5).join(', ')})` : ''}`);
            }
            await sleep(25);
          }
        };
        // Baseline: before the outage, a user who connects on node-3 is reachable from node-1.
        const dave = cell.client(2, 'ed', 'phone', { attemptTimeoutMs: 3_000 });
        await dave.ready();
        const ad = await alice.openDirect('ed');
        await alice.send(ad, 'ea-to-ed', 'hello dave', 30_000);
        const adOwner = await cell.ownerOf(ad);
        await waitUntil(() => dave.messages(ad).some((m) => m.clientMsgId === 'ea-to-ed'), 10_000, () => `before the outage: dave (node-3) did not get alice's message from node-1 live (conversation owned by ${adOwner})`);

        const loops = [talk(alice, 'ea'), talk(bob, 'eb')];
        await waitUntil(() => acked.size >= 20, 20_000, () => `warm-up: ${acked.size} acks, failures ${show(failed.slice(0, 3))}`);

        const { downAt, upAt } = await cell.restartEtcd({ downMs: OUTAGE_MS, signal: 'SIGTERM' });
        await sleep(3_000);
        stop = true;
        await Promise.all(loops);

        const during = [...acked.values()].filter((a) => a.ackedAt > downAt && a.ackedAt < upAt);
        const heldDuring = (c: typeof alice, other: string): number => c.messages(conv).filter((m) => m.sender === other && acked.get(m.clientMsgId) && acked.get(m.clientMsgId)!.ackedAt > downAt && acked.get(m.clientMsgId)!.ackedAt < upAt).length;
        t.diagnostic(`etcd down ${upAt - downAt} ms; acked during the outage: alice ${during.filter((a) => a.by === 'ea').length}, bob ${during.filter((a) => a.by === 'eb').length}; total ${acked.size}`);
        assert.deepEqual(failed, [], 'every send was acked in the end');
        assert.ok(
          during.filter((a) => a.by === 'ea').length > 0 && during.filter((a) => a.by === 'eb').length > 0,
          `both directions acked while etcd was down (${upAt - downAt} ms): alice ${during.filter((a) => a.by === 'ea').length}, bob ${during.filter((a) => a.by === 'eb').length}; retries during the outage: ${show([...acked.values()].filter((a) => a.ackedAt > downAt).flatMap((a) => a.retries).slice(0, 10))}`,
        );
        await waitUntil(
          () => heldDuring(bob, 'ea') === during.filter((a) => a.by === 'ea').length && heldDuring(alice, 'eb') === during.filter((a) => a.by === 'eb').length,
          10_000,
          () => `messages acked during the outage were delivered live: bob holds ${heldDuring(bob, 'ea')} of alice's ${during.filter((a) => a.by === 'ea').length}, alice ${heldDuring(alice, 'eb')} of bob's ${during.filter((a) => a.by === 'eb').length}`,
        );
        assert.deepEqual([alice.connects, bob.connects], [1, 1], `alice and bob kept their sockets through the outage (nodes seen: ${show([alice.nodesSeen, bob.nodesSeen])})`);

        await Promise.all([alice.resync(), bob.resync()]);
        const ack = new Map([...acked].map(([id, a]) => [id, { seq: a.seq, messageId: a.messageId }]));
        const problems = [
          ...auditConversation(alice.messages(conv), ack, 'held by alice'),
          ...auditConversation(bob.messages(conv), ack, 'held by bob'),
          ...auditConversation((await storedMessages(cell, 2, 'ea')).get(conv) ?? [], ack, 'stored'),
        ];
        assert.deepEqual(problems, [], 'every acked message once, gapless, on both sides and in the store');

        // After etcd is back: a user who connects now, on node-3, is reachable from node-1 and node-2.
        await cell.waitSettled(30_000);
        carol = cell.client(2, 'ec', 'phone', { attemptTimeoutMs: 3_000 });
        await carol.ready();
        assert.equal(carol.node, 'node-3');
        const routeDeadline = Date.now() + 10_000;
        while (Date.now() < routeDeadline && !(await cell.routesOf('ec')).includes('node-3')) await sleep(100);
        const routes = await cell.routesOf('ec');
        assert.deepEqual(routes, ['node-3'], 'the new user is routed in etcd after the restart');
        for (const from of [alice, bob]) {
          const c = await from.openDirect('ec');
          const s = await from.send(c, `${from.user}-to-ec`, 'hello carol', 30_000);
          const owner = await cell.ownerOf(c);
          await waitUntil(
            () => carol!.messages(c).some((m) => m.clientMsgId === `${from.user}-to-ec`),
            10_000,
            () => `carol (node-3, connected after etcd came back, routed in etcd to ${show(routes)}) did not get ${from.user}'s message from ${from.node} (seq ${s.seq}, conversation owned by ${owner}) live; she holds ${show(carol!.messages(c))}`,
          );
        }
      } finally {
        stop = true; // the talk loops end; explain closes the clients
      }
    }));

  it('while etcd is down, connections past the route backlog bound are closed with 4004 (retryable), and get in once etcd is back', { timeout: 60_000 }, async () => {
    const N = ROUTE_BACKLOG + 10;
    await cell.etcdDown('SIGTERM');
    let codes: number[];
    try {
      // All on node-1: its route writes wait for etcd, so its backlog grows by one per socket.
      const clients = await Promise.all(Array.from({ length: N }, (_, i) => cell.connect(0, `burst${i}`, 'phone')));
      await sleep(500);
      codes = await Promise.all(clients.map((c) => c.waitClose(50).catch(() => 0)));
      for (const c of clients) c.close();
    } finally {
      await cell.etcdUp();
    }
    const refused = codes.filter((c) => c === 4004).length;
    assert.ok(refused >= N - ROUTE_BACKLOG - 1 && refused <= N - ROUTE_BACKLOG + 1, `about ${N - ROUTE_BACKLOG} of ${N} refused with 4004, got close codes ${show(codes)}`);
    assert.ok(codes.every((c) => c === 0 || c === 4004), `only 4004 closes: ${show(codes)}`);
    // Once etcd answers, the backlog drains and a refused user gets in and is routed.
    await cell.waitSettled(30_000);
    const who = `burst${codes.indexOf(4004)}`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const c = await cell.connect(0, who, 'phone');
      const code = await c.waitClose(1_000).catch(() => 0);
      if (code === 0) {
        c.close();
        break;
      }
      assert.equal(code, 4004);
      if (Date.now() > deadline) assert.fail(`${who} still refused 15 s after etcd came back`);
      await sleep(500);
    }
  });
});
