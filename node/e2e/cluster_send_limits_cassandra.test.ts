/**
 * The per-user send bucket in a 2-node cell: a user with a device on each node gets
 * half the bucket on each (node/core/send_limits.ts), so the cell as a whole holds the
 * user to about one bucket, not one per node.
 *
 * Needs the shared test Cassandra (SB_CASSANDRA_CONTACT, or one started for the run).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerFrame, UserPresence } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { getTestCassandra, type TestCassandra } from '../store/cassandra_test_env.js';
import { ClusterCell } from './cluster_harness.js';
import { show, sleep } from './harness.js';

// Burst 10 at 1/s: split over 2 nodes, 5 per node refilling at one token per 2 s.
const USER = { userSendRatePerSec: 1, userSendBurst: 10 };

let cassandra: TestCassandra;
let cell: ClusterCell;

before(async () => {
  cassandra = await getTestCassandra();
  cell = await ClusterCell.start({ nodes: 2, cassandra: cassandra.contactPoint, config: { limits: USER } });
});

after(async () => {
  await cell?.stop();
  await cassandra?.release();
});

const online = (node: number, user: string, device?: string): Promise<TestClient> => cell.online(node, user, device);

/** An op answered with `want`, retried while the cell answers `unavailable` (a shard settling). */
async function callOk(c: TestClient, init: Parameters<TestClient['call']>[0], want: string): Promise<ServerFrame> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const f = await c.call(init);
    if (f.kind.case === want) return f;
    if (f.kind.case === 'error' && f.kind.value.code === 'unavailable' && Date.now() < deadline) {
      await sleep(Math.max(50, f.kind.value.retryAfterMs));
      continue;
    }
    assert.fail(`expected ${want}, got ${f.kind.case} ${show(f.kind.value)}`);
  }
}

/** Send `n` messages one after another; the replies (unavailable retried, rate_limited kept). */
async function sendMany(c: TestClient, conversation: string, prefix: string, n: number): Promise<ServerFrame[]> {
  const out: ServerFrame[] = [];
  for (let i = 0; i < n; i++) {
    const init = { kind: { case: 'send' as const, value: { conversation, clientMsgId: `${prefix}-${i}`, body: `${prefix}-${i}` } } };
    let f = await c.call(init);
    for (let k = 0; f.kind.case === 'error' && f.kind.value.code === 'unavailable' && k < 40; k++) {
      await sleep(Math.max(50, f.kind.value.retryAfterMs));
      f = await c.call(init);
    }
    out.push(f);
  }
  return out;
}

describe('per-user send limit across nodes', () => {
  it('a user with devices on two nodes gets half the bucket on each, one bucket in all', async () => {
    const bob = await online(0, 'csl-bob', 'phone');
    const watch = await callOk(bob, { kind: { case: 'presenceSubscribe', value: { users: ['csl-alice'] } } }, 'presence');
    assert.equal(watch.kind.case === 'presence' && watch.kind.value.users[0]?.online, false);
    const laptop = await online(1, 'csl-alice', 'laptop');
    // Node 1 sees alice online through her route on node 2: the same route mirror the
    // limiter counts her nodes from.
    await bob.waitFor((f) => f.kind.case === 'presence' && f.reqId === 0 && f.kind.value.users.some((p: UserPresence) => p.user === 'csl-alice' && p.online), 15_000);
    const phone = await online(0, 'csl-alice', 'phone');
    const f = await callOk(phone, { kind: { case: 'openDirect', value: { peer: 'csl-bob' } } }, 'directOpened');
    const conv = (f.kind.value as { conversation: string }).conversation;

    const fromPhone = await sendMany(phone, conv, 'p', 8);
    const fromLaptop = await sendMany(laptop, conv, 'l', 8);
    const acked = (fs: ServerFrame[]) => fs.filter((x) => x.kind.case === 'sendAck').length;
    const refusals = [...fromPhone, ...fromLaptop].filter((x) => x.kind.case === 'error').map((x) => x.kind.value as { code: string; message: string; retryAfterMs: number });
    const summary = show({ phone: fromPhone.map((x) => x.kind.case), laptop: fromLaptop.map((x) => x.kind.case), refusals });
    // One node alone would grant its device the whole burst of 10.
    assert.ok(acked(fromPhone) < 10 && acked(fromLaptop) < 10, summary);
    assert.ok(acked(fromPhone) + acked(fromLaptop) <= 12, `about one burst of 10 in the whole cell: ${summary}`);
    assert.ok(refusals.length >= 2, summary);
    for (const e of refusals) {
      assert.equal(e.code, 'rate_limited', summary);
      assert.match(e.message, /user/);
      // Half the rate on each node: the next token is up to 2 s away, which a single
      // bucket refilling at 1/s could never say.
      assert.ok(e.retryAfterMs > 1000 && e.retryAfterMs <= 2000, summary);
    }
    for (const c of [bob, phone, laptop]) c.close();
  });
});
