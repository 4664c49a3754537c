/**
 * Push notifications in a 3-node cell (etcd, Cassandra, haproxy: cluster_harness.ts)
 * against the fake FCM (token + send endpoints, node/push/fakes/fcm_fake.ts) on
 * loopback: each pushed message is pushed by one node only (the owner of its
 * conversation's shard, as /metrics shows per node); a device connected to another
 * node counts as online (the owner reads the cell's routes); an owner frozen past its
 * lease does not send what its successor sent; and after the owner is SIGKILLed
 * with pushes owed its successor sends them, none twice for the same (device,
 * conversation, seq). FCM rather than APNs: every node signs its own provider token
 * and the fake APNs (like APNs on one connection) refuses a second token within 20 min.
 * The file name holds "cassandra" so `npm test` starts its shared Cassandra for it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getTestCassandra, type TestCassandra } from '../store/cassandra_test_env.js';
import { ClusterCell, waitUntil } from './cluster_harness.js';
import { show, sleep } from './harness.js';
import { FakeFcm } from '../push/fakes/fcm_fake.js';
import { serviceAccountFixture } from '../push/fakes/keys.js';
import type { FakeRecord } from '../push/fakes/fake_server.js';

const LEASE_TTL_SEC = 3;

describe('push notifications in a 3-node cell', () => {
  let cass: TestCassandra;
  let cell: ClusterCell;
  let fcm: FakeFcm;
  const sa = serviceAccountFixture('http://127.0.0.1:1/token');
  let n = 0;

  before(async () => {
    cass = await getTestCassandra();
    fcm = await FakeFcm.start({ projectId: sa.projectId, clientEmail: sa.clientEmail, publicKey: sa.publicKey });
    cell = await ClusterCell.start({
      nodes: 3,
      cassandra: cass.contactPoint,
      leaseTtlSec: LEASE_TTL_SEC,
      config: {
        push: {
          ackWaitMs: 1_000,
          collapseWindowMs: 0,
          retryBaseMs: 200,
          retryMaxMs: 1_000,
          rescanMs: 1_000,
          fcm: { enabled: true, endpoint: fcm.url, serviceAccountJson: sa.json, tokenUri: fcm.tokenUri },
        },
      },
    });
  });
  after(async () => {
    await cell?.stop();
    await fcm?.close();
    await cass?.release();
  });

  /** A fresh pair with an FCM-registered offline bob; the conversation id and bob's token. */
  interface Pair {
    alice: string;
    conv: string;
    token: string;
  }

  async function pair(via: number): Promise<Pair> {
    const i = ++n;
    const alice = `alice-${i}`;
    const bob = `bob-${i}`;
    const token = `fcm-token-${i}-${'x'.repeat(120)}`;
    const d = await cell.api(via, 'POST', '/v1/conversations/direct', { users: [alice, bob] });
    assert.equal(d.status, 200, show(d.body));
    const r = await cell.api(via, 'PUT', `/v1/users/${bob}/devices/phone/push`, { platform: 'fcm', token });
    assert.equal(r.status, 200, show(r.body));
    return { alice, conv: d.body.conversation as string, token };
  }

  async function send(via: number, alice: string, conv: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const r = await cell.api(via, 'POST', '/v1/messages', { conversation: conv, sender: alice, client_msg_id: `m-${conv}`, body: 'hello' });
      if (r.status === 201 || r.status === 200) return r.body.seq as number;
      if (r.status !== 503 || attempt > 40) throw new Error(`send: ${r.status} ${show(r.body)}`);
      await sleep(250); // the shard is moving: retry with the same client_msg_id
    }
  }

  const sendsTo = (token: string): FakeRecord[] => fcm.records.filter((r) => r.path !== '/token' && JSON.stringify(r.body).includes(token));

  async function sentByNode(i: number): Promise<number> {
    const text = await (await fetch(`${cell.httpUrl(i)}/metrics`)).text();
    const m = /^switchboard_push_sent_total\{provider="fcm"\} (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  it('each pushed message is pushed by one node only: the owner of its conversation', async () => {
    const before = await Promise.all([0, 1, 2].map(sentByNode));
    const pairs: Pair[] = [];
    for (let k = 0; k < 12; k++) pairs.push(await pair(k % 3));
    const owners = await Promise.all(pairs.map((p) => cell.ownerOf(p.conv)));
    // Sent through a node that is (mostly) not the owner: the op is forwarded, the owner commits and pushes.
    for (const [k, p] of pairs.entries()) await send((k + 1) % 3, p.alice, p.conv);
    await waitUntil(() => pairs.every((p) => sendsTo(p.token).length >= 1), 20_000, () => show(pairs.map((p) => sendsTo(p.token).length)));
    await sleep(2_000);
    for (const p of pairs) assert.equal(sendsTo(p.token).length, 1, `one push for ${p.conv}`);
    const after = await Promise.all([0, 1, 2].map(sentByNode));
    for (let i = 0; i < 3; i++) {
      const owned = owners.filter((o) => o === cell.nodeId(i)).length;
      assert.equal(after[i] - before[i], owned, `${cell.nodeId(i)} owns ${owned} of the conversations and sent ${after[i] - before[i]} pushes`);
    }
  });

  it('a device connected to another node than the owner counts as online: no push while it acks, a push once it stops', async () => {
    const p = await pair(0);
    const owner = await cell.ownerOf(p.conv);
    // bob's socket on a node that does not own the conversation
    const at = (cell.indexOf(owner!) + 1) % 3;
    const bob = `bob-${n}`;
    const c = cell.track(await cell.connect(at, bob, 'phone'));
    await c.call({ kind: { case: 'sync', value: {} } });
    c.onFrame = (f) => {
      if (f.kind.case === 'message') c.send({ kind: { case: 'ack', value: { conversation: f.kind.value.conversation, seq: f.kind.value.seq } } });
    };
    await sleep(500); // the route reaches the owner through etcd
    await send(at, p.alice, p.conv);
    await sleep(2_500);
    assert.equal(sendsTo(p.token).length, 0, 'online on another node and acked: no push');
    c.onFrame = undefined;
    const r = await cell.api(at, 'POST', '/v1/messages', { conversation: p.conv, sender: p.alice, client_msg_id: `m2-${p.conv}`, body: 'still there?' });
    assert.equal(r.status, 201, show(r.body));
    await waitUntil(() => sendsTo(p.token).length === 1, 10_000, () => 'the push after the ack wait');
    c.close();
  });

  it('an owner frozen (SIGSTOP) past its lease with a push owed: its successor sends it, and the thawed owner does not send it again', async () => {
    const candidates: Pair[] = [];
    for (let k = 0; k < 12; k++) candidates.push(await pair(k % 3));
    const owners = await Promise.all(candidates.map((p) => cell.ownerOf(p.conv)));
    const victim = owners[0]!;
    const p = candidates[0];
    const vi = cell.indexOf(victim);
    const other = (vi + 1) % 3;
    await fcm.setDown(true);
    const seq = await send(other, p.alice, p.conv);
    await sleep(500); // the owner has planned it and is retrying against the dead provider
    cell.pause(vi);
    try {
      await cell.waitOwnerChange(p.conv, victim, 30_000);
      await fcm.setDown(false);
      await waitUntil(() => sendsTo(p.token).some((r) => r.status === 200), 30_000, () => `the successor's push: ${show(sendsTo(p.token).map((r) => r.status))}`);
    } finally {
      cell.resume(vi);
    }
    await sleep(4_000); // the thawed owner's retry timers fire now
    const ok = sendsTo(p.token).filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `${ok.length} accepted pushes`);
    assert.equal(Number((ok[0].body as { message: { data: Record<string, string> } }).message.data.seq), seq);
  });

  it('the owner SIGKILLed with pushes owed: its successor sends them, none twice', async () => {
    // Conversations owned by one node; one push goes out before the crash, three are owed.
    const candidates: Pair[] = [];
    for (let k = 0; k < 24; k++) candidates.push(await pair(k % 3));
    const owners = await Promise.all(candidates.map((p) => cell.ownerOf(p.conv)));
    // The node owning the most of them (shards may have moved in the earlier cases).
    const counts = new Map<string, number>();
    for (const o of owners) if (o) counts.set(o, (counts.get(o) ?? 0) + 1);
    const victim = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    const mine = candidates.filter((_, k) => owners[k] === victim);
    assert.ok(mine.length >= 4, `${victim} owns ${mine.length} of 24 conversations`);
    const vi = cell.indexOf(victim);
    const other = (vi + 1) % 3;
    const [sentBefore, ...owed] = mine.slice(0, 4);
    await send(other, sentBefore.alice, sentBefore.conv);
    await waitUntil(() => sendsTo(sentBefore.token).length === 1, 15_000, () => 'the push before the crash');
    await fcm.setDown(true);
    const seqs: number[] = [];
    for (const p of owed) seqs.push(await send(other, p.alice, p.conv));
    await sleep(500);
    await cell.kill(vi);
    await fcm.setDown(false);
    await cell.waitOwnerChange(owed[0].conv, victim, 30_000);
    await waitUntil(() => owed.every((p) => sendsTo(p.token).some((r) => r.status === 200)), 30_000, () => `owed pushes: ${show(owed.map((p) => sendsTo(p.token).map((r) => r.status)))}`);
    await sleep(3_000);
    for (const [k, p] of owed.entries()) {
      const ok = sendsTo(p.token).filter((r) => r.status === 200);
      assert.equal(ok.length, 1, `${p.conv}: ${ok.length} accepted pushes`);
      const data = (ok[0].body as { message: { data: Record<string, string> } }).message.data;
      assert.equal(Number(data.seq), seqs[k]);
    }
    assert.equal(sendsTo(sentBefore.token).length, 1, 'the push sent before the crash is not sent again by the successor');
  });
});
