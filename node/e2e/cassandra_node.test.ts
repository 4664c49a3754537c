/**
 * A real node on the Cassandra store (store.kind = 'cassandra'), over real sockets:
 * the delivery contract holds, the seq continues across a node restart (reloaded from
 * the store), and with Cassandra killed mid-traffic senders get retryable errors, never
 * acks, and after its restart every acked message is present exactly once, gapless.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES } from '../../protocol/codes.js';
import { getTestCassandra, startPrivateCassandra, testKeyspace, type TestCassandra, type PrivateCassandra } from '../store/cassandra_test_env.js';
import { messagesOf, show, sleep, syncAll, TestNode, openDirect } from './harness.js';

function cassandraConfig(contactPoint: string, keyspace: string) {
  return {
    store: {
      kind: 'cassandra',
      cassandra: { contactPoints: [contactPoint], localDataCenter: 'datacenter1', keyspace, consistency: 'one', migrateOnStart: true },
    },
    limits: { sendRatePerSec: 10_000, sendBurst: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 },
  };
}

describe('node on Cassandra', () => {
  let cass: TestCassandra;
  before(async () => {
    cass = await getTestCassandra();
  });
  after(async () => {
    await cass.release();
  });

  it('delivers, syncs and continues the seq across a node restart', async () => {
    const node = await TestNode.start({ config: cassandraConfig(cass.contactPoint, testKeyspace('node')) });
    let again: TestNode | null = null;
    try {
      const a = await node.connect('ca', 'phone');
      const b = await node.connect('cb', 'phone');
      const conv = await openDirect(a, 'cb');
      await syncAll(b);
      for (let i = 1; i <= 5; i++) {
        const f = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `c${i}`, body: `m${i}` } } });
        assert.equal(f.kind.case === 'sendAck' && Number(f.kind.value.seq), i, show(f));
      }
      await b.waitFor(() => messagesOf(b, conv).length === 5);
      await node.kill('SIGKILL');
      again = await node.restart();
      const a2 = await again.connect('ca', 'phone');
      const dup = await a2.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'c5', body: 'm5' } } });
      assert.equal(dup.kind.case === 'sendAck' && dup.kind.value.duplicate, true, 'dedup survives the restart');
      const next = await a2.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'c6', body: 'm6' } } });
      assert.equal(next.kind.case === 'sendAck' && Number(next.kind.value.seq), 6, 'the seq is reloaded from the store');
      const fresh = await again.connect('cb', 'tablet');
      await syncAll(fresh, new Map(), 2);
      assert.deepEqual(messagesOf(fresh, conv).map((m) => m.body), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
      a2.close();
      fresh.close();
    } finally {
      await node.kill().catch(() => {});
      await again?.stop();
      node.cleanup();
    }
  });

  it('Cassandra killed under live traffic: retryable errors, never acks; after its restart every acked message exactly once', async () => {
    const own: PrivateCassandra = await startPrivateCassandra();
    const node = await TestNode.start({ config: cassandraConfig(own.contactPoint, testKeyspace('kill')) });
    try {
      const a = await node.connect('ka', 'phone');
      const conv = await openDirect(a, 'kb');
      const acked = new Map<string, number>();
      const errors = new Map<string, number>();
      let down = false;
      let ackedWhileDown = 0;
      let n = 0;
      let stop = false;
      const pump = (async () => {
        while (!stop) {
          const id = `k${n++}`;
          const wasDown = down;
          a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: id, body: id } } }, 30_000).then(
            (f) => {
              if (f.kind.case === 'sendAck') {
                acked.set(id, Number(f.kind.value.seq));
                if (wasDown && down) ackedWhileDown++;
              } else if (f.kind.case === 'error') errors.set(f.kind.value.code, (errors.get(f.kind.value.code) ?? 0) + 1);
            },
            () => {},
          );
          await sleep(4);
        }
      })();
      while (acked.size < 150) await sleep(10);
      await own.kill();
      down = true;
      await sleep(3000);
      const errorsWhileDown = [...errors.values()].reduce((x, y) => x + y, 0);
      down = false;
      await own.restart();
      await sleep(2000);
      stop = true;
      await pump;
      await sleep(1000);
      assert.ok(errorsWhileDown > 0, 'senders were told while Cassandra was down');
      for (const code of errors.keys()) assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES]?.retryable, true, `${code} is retryable`);
      assert.equal(ackedWhileDown, 0, 'no send started while Cassandra was down was acked while it was down');
      // After the restart: every acked message is present exactly once, gapless.
      const b = await node.connect('kb', 'phone');
      await syncAll(b, new Map(), 1000);
      const stored = messagesOf(b, conv);
      assert.deepEqual(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'gapless');
      assert.equal(new Set(stored.map((m) => m.body)).size, stored.length, 'no duplicates');
      const at = new Map(stored.map((m) => [m.body, m.seq]));
      for (const [id, seq] of acked) assert.equal(at.get(id), seq, `acked ${id} present at ${seq}`);
      a.close();
      b.close();
    } finally {
      await node.stop();
      node.cleanup();
      await own.destroy();
    }
  });
});
