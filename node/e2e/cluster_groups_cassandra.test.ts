/**
 * Groups, presence and typing across cluster nodes (issue 6, "it all works in the
 * cluster"), on a 3-node cell (etcd, Cassandra, haproxy; cluster_harness.ts):
 *   - a group whose members are spread over the nodes: one message reaches every
 *     online member exactly once wherever it is connected, the owner sends one
 *     Deliver per node (not per member), aggregated receipts converge;
 *   - presence of a user connected to another node: online, offline with last seen
 *     after the debounce, no flap on a quick reconnect through another node, a
 *     hidden last seen;
 *   - typing relayed across nodes;
 *   - a node drained with SIGTERM hands its shards over at once (not after its
 *     lease TTL) and no acked message is lost (last: it takes a node away).
 * "cassandra" in the file name makes `npm test` start its shared Cassandra.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getTestCassandra, type TestCassandra } from '../store/cassandra_test_env.js';
import type { ServerFrame, UserPresence } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { auditConversation, ClusterCell, storedMessages, type SendOutcome } from './cluster_harness.js';
import { show, sleep } from './harness.js';
import { directConversationId } from '../core/ids.js';

const DEBOUNCE = 1500;
const INTERVAL = 300;
const NODES = 3;

let cassandra: TestCassandra;
let cell: ClusterCell;

before(async () => {
  cassandra = await getTestCassandra();
  cell = await ClusterCell.start({
    nodes: NODES,
    cassandra: cassandra.contactPoint,
    config: { limits: { presenceOfflineDebounceMs: DEBOUNCE, presenceIntervalMs: INTERVAL, groupReceiptIntervalMs: 100, typingIntervalMs: 0 } },
  });
});

after(async () => {
  await cell?.stop();
  await cassandra?.release();
});

const usersOf = (f: ServerFrame): UserPresence[] => (f.kind.case === 'presence' ? f.kind.value.users : []);
const presenceFrames = (c: TestClient, from = 0): ServerFrame[] => c.frames.slice(from).filter((f) => f.kind.case === 'presence' && f.reqId === 0);
function waitPresence(c: TestClient, user: string, pred: (p: UserPresence) => boolean, timeoutMs = 15_000): Promise<ServerFrame> {
  return c.waitFor((f) => f.kind.case === 'presence' && f.reqId === 0 && usersOf(f).some((p) => p.user === user && pred(p)), timeoutMs);
}

const online = (node: number, user: string, device?: string): Promise<TestClient> => cell.online(node, user, device);

/** Retry an op while the cell answers with a retryable error (a shard settling). */
async function callOk(c: TestClient, init: Parameters<TestClient['call']>[0], want: string): Promise<ServerFrame> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const f = await c.call(init).catch(async (e: Error) => {
      const stats = await Promise.all(Array.from({ length: NODES }, (_, i) => cell.adminCluster(i).catch(() => null)));
      throw new Error(`${e.message}\n${stats.map((s) => JSON.stringify(s)).join('\n')}`);
    });
    if (f.kind.case === want) return f;
    if (f.kind.case === 'error' && f.kind.value.retryable && Date.now() < deadline) {
      await sleep(Math.max(50, f.kind.value.retryAfterMs));
      continue;
    }
    assert.fail(`expected ${want}, got ${f.kind.case} ${show(f.kind.value)}`);
  }
}

async function routed(users: string[]): Promise<void> {
  // Every node's route cache must know where each member is before fan-out is tested.
  const deadline = Date.now() + 10_000;
  for (const u of users) {
    while ((await cell.routesOf(u)).length === 0) {
      if (Date.now() > deadline) assert.fail(`no route for ${u} in etcd`);
      await sleep(50);
    }
  }
  await sleep(300); // watch propagation to every node's cache
}

describe('groups across nodes', () => {
  it('one message reaches every online member once, wherever connected; receipts converge', async () => {
    const MEMBERS = 30;
    const names = Array.from({ length: MEMBERS }, (_, i) => `gm${i}`);
    const clients = await Promise.all(names.map((u, i) => online(i % NODES, u)));
    await routed(names);
    const admin = clients[0];
    const created = await callOk(admin, { kind: { case: 'createGroup', value: { subject: 'spread', members: names.slice(1) } } }, 'groupInfo');
    const conv = created.kind.case === 'groupInfo' ? created.kind.value.conversation : '';
    const statsBefore = await Promise.all(Array.from({ length: NODES }, (_, i) => cell.adminCluster(i)));
    const ack = await callOk(admin, { kind: { case: 'send', value: { conversation: conv, clientMsgId: 'hello-all', body: 'hello all' } } }, 'sendAck');
    const seq = ack.kind.case === 'sendAck' ? Number(ack.kind.value.seq) : 0;
    // Every other member gets it live, exactly once.
    await Promise.all(
      clients.slice(1).map((c, i) =>
        c.waitFor((f) => f.kind.case === 'message' && f.kind.value.conversation === conv && Number(f.kind.value.seq) === seq, 15_000).catch(() => {
          throw new Error(`${names[i + 1]} (node ${(i + 1) % NODES}) did not get seq ${seq}`);
        }),
      ),
    );
    await sleep(300);
    for (const [i, c] of clients.entries()) {
      const got = c.frames.filter((f) => f.kind.case === 'message' && f.kind.value.conversation === conv && Number(f.kind.value.seq) === seq);
      assert.equal(got.length, i === 0 ? 0 : 1, `${names[i]} got the message ${got.length} times`);
    }
    // Fan-out cost: at most one Deliver frame per other node for this message.
    const statsAfter = await Promise.all(Array.from({ length: NODES }, (_, i) => cell.adminCluster(i)));
    const sent = (s: unknown): number => (s as { fanout: { framesSent: number } }).fanout.framesSent;
    const delta = statsAfter.reduce<number>((n, s, i) => n + sent(s) - sent(statsBefore[i]), 0);
    assert.ok(delta <= NODES - 1, `cross-node frames for one group message: ${delta} (at most ${NODES - 1}: one per node, not per member)`);

    // Aggregated receipts converge: everyone acks delivered, half read.
    for (const [i, c] of clients.entries()) {
      if (i === 0) continue;
      c.send({ kind: { case: 'ack', value: { conversation: conv, seq: BigInt(seq) } } });
      if (i % 2 === 0) c.send({ kind: { case: 'read', value: { conversation: conv, seq: BigInt(seq) } } });
    }
    const readers = clients.filter((_, i) => i > 0 && i % 2 === 0).length;
    const deadline = Date.now() + 15_000;
    let last = '';
    for (;;) {
      const detail = await callOk(admin, { kind: { case: 'memberReceipts', value: { conversation: conv, seq: BigInt(seq) } } }, 'memberReceipts');
      if (detail.kind.case === 'memberReceipts') {
        const d = detail.kind.value;
        last = `delivered ${d.delivered.length}/${MEMBERS - 1}, read ${d.read.length}/${readers}`;
        if (d.delivered.length === MEMBERS - 1 && d.read.length === readers) break;
      }
      if (Date.now() > deadline) assert.fail(`member receipts did not converge: ${last}`);
      await sleep(200);
    }
    // The sender's aggregate push (sent by the owner, wherever the sender is) reaches it.
    await admin
      .waitFor(
        (f) => f.kind.case === 'groupReceipts' && f.kind.value.conversation === conv && f.kind.value.counts.some((c) => Number(c.seq) === seq && c.delivered === MEMBERS - 1 && c.read === readers),
        10_000,
      )
      .catch(async (e: Error) => {
        const stats = await Promise.all(Array.from({ length: NODES }, (_, i) => cell.adminCluster(i)));
        throw new Error(`${e.message}\nowner of ${conv}: ${await cell.ownerOf(conv)}; admin on ${cell.nodeId(0)}\n${stats.map((s) => JSON.stringify({ ...(s as object), links: undefined })).join('\n')}`);
      });
    for (const c of clients) c.close();
  });
});

/**
 * A watcher on node 0 subscribed to `user` (seen offline first), then `user` connected
 * on `node` and seen online by the watcher.
 */
async function watchOnline(watcher: string, user: string, node: number): Promise<{ w: TestClient; u: TestClient }> {
  const w = await online(0, watcher);
  const f = await callOk(w, { kind: { case: 'presenceSubscribe', value: { users: [user] } } }, 'presence');
  assert.equal(usersOf(f)[0]?.online, false, `${user} starts offline`);
  const u = await online(node, user);
  await waitPresence(w, user, (p) => p.online);
  return { w, u };
}

describe('presence and typing across nodes', () => {
  it('a user on another node: online, then offline with last seen after the debounce', async () => {
    const { w, u: alice } = await watchOnline('xwatch1', 'xalice', 1);
    const closedAt = Date.now();
    alice.close();
    await alice.waitClose();
    const off = await waitPresence(w, 'xalice', (p) => !p.online);
    const p = usersOf(off).find((x) => x.user === 'xalice')!;
    // The watcher's node learns of the close through etcd (ms), so last seen is close to it.
    assert.ok(Math.abs(Number(p.lastSeenMs) - closedAt) < 2000, `last seen ${Number(p.lastSeenMs)} vs close ${closedAt}`);
    w.close();
  });

  it('a quick reconnect through another node is not an offline flap', async () => {
    const { w, u: b1 } = await watchOnline('xwatch2', 'xbob', 1);
    const mark = w.frames.length;
    b1.terminate();
    await b1.waitClose();
    const b2 = await online(2, 'xbob');
    await sleep(DEBOUNCE + 3 * INTERVAL + 800);
    assert.deepEqual(presenceFrames(w, mark).map(usersOf), [], 'no presence frame for a reconnect within the debounce');
    b2.close();
    await waitPresence(w, 'xbob', (p) => !p.online);
    w.close();
  });

  it('hiding last seen on one node reaches a watcher on another', async () => {
    const { w, u: h } = await watchOnline('xwatch3', 'xhider', 1);
    await callOk(h, { kind: { case: 'presenceSettings', value: { hideLastSeen: true } } }, 'presence');
    await waitPresence(w, 'xhider', (p) => p.lastSeenHidden);
    h.close();
    await h.waitClose();
    const off = await waitPresence(w, 'xhider', (p) => !p.online);
    const p = usersOf(off).find((x) => x.user === 'xhider')!;
    assert.deepEqual([p.lastSeenHidden, Number(p.lastSeenMs)], [true, 0], 'offline, last seen hidden');
    w.close();
  });

  it('typing reaches a member on another node', async () => {
    const a = await online(0, 'xtyper');
    const b = await online(2, 'xreader');
    await routed(['xtyper', 'xreader']);
    const od = await callOk(a, { kind: { case: 'openDirect', value: { peer: 'xreader' } } }, 'directOpened');
    const conv = od.kind.case === 'directOpened' ? od.kind.value.conversation : '';
    a.send({ kind: { case: 'typing', value: { conversation: conv } } });
    const t = await b.waitFor((f) => f.kind.case === 'typing', 10_000);
    assert.equal(t.kind.case === 'typing' ? t.kind.value.user : '', 'xtyper');
    a.close();
    b.close();
  });
});

describe('drain in a cell', () => {
  it('a SIGTERMed owner hands its shards over without waiting for its lease; nothing acked is lost', async () => {
    // A conversation owned by node 2, talked in from node 0.
    let conv = '';
    let peer = '';
    for (let i = 0; i < 500 && !conv; i++) {
      const cand = directConversationId('drainer', `drainpeer${i}`);
      if ((await cell.ownerOf(cand)) === cell.nodeId(2)) [conv, peer] = [cand, `drainpeer${i}`];
    }
    assert.ok(conv, 'found a direct conversation owned by node 2');
    const sender = cell.client([0, 1], 'drainer', 'phone');
    assert.equal(await sender.openDirect(peer), conv);
    const acked = new Map<string, SendOutcome>();
    let stop = false;
    let n = 0;
    const pump = (async () => {
      while (!stop) {
        const id = `dr-${n++}`;
        acked.set(id, await sender.send(conv, id, id, 45_000));
      }
    })();
    await sleep(500);
    const before = acked.size;
    const stopped = cell.node(2).stop();
    const moved = await cell.waitOwnerChange(conv, cell.nodeId(2), 20_000);
    await stopped;
    await sleep(1000);
    stop = true;
    await pump;
    assert.ok(acked.size > before, 'sends kept being acked across the drain');
    // Released on purpose: well under the lease TTL (a crash would take TTL + sweep).
    console.log(`# drain hand-over: owner moved ${moved.afterMs} ms after SIGTERM; ${acked.size - before} sends acked meanwhile`);
    assert.ok(moved.afterMs < cell.leaseTtlSec * 1000, `owner moved after ${moved.afterMs} ms (lease TTL ${cell.leaseTtlSec} s)`);
    const stored = (await storedMessages(cell, 0, peer)).get(conv) ?? [];
    const problems = auditConversation(stored, acked, `drained conversation ${conv}`);
    assert.deepEqual(problems, [], problems.join('\n'));
    sender.close();
  });
});
