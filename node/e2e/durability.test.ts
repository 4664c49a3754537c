/**
 * Crash safety of the delivery contract: a node SIGKILLed between the durable write
 * and the ack, then the same client_msg_id resent, stores exactly one message; a
 * restarted node continues the seq without a gap; acked messages survive SIGKILL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { messagesOf, show, syncAll, TestNode, openDirect } from './harness.js';

describe('durability', () => {
  it('a node killed between write and ack stores the message once when it is resent', async () => {
    const first = await TestNode.start({ env: { SWITCHBOARD_TEST_FAULT: 'kill_after_commit:doomed-1' } });
    let second: TestNode | null = null;
    try {
      const alice = await first.connect('alice', 'phone');
      const conv = await openDirect(alice, 'bob');
      const ok = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'fine-1', body: 'before' } } });
      assert.equal(ok.kind.case, 'sendAck');
      alice.send({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'doomed-1', body: 'in flight' } } });
      const exit = (await first.exited) as { signal: string | null };
      assert.equal(exit.signal, 'SIGKILL', 'the node died after the commit');
      await alice.waitClose();
      assert.equal(alice.frames.filter((f) => f.kind.case === 'sendAck').length, 1, 'the doomed send was never acked');

      second = await first.restart({ env: {} });
      const again = await second.connect('alice', 'phone');
      const ack = await again.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'doomed-1', body: 'in flight' } } });
      assert.equal(ack.kind.case, 'sendAck', show(ack));
      if (ack.kind.case === 'sendAck') {
        assert.equal(ack.kind.value.duplicate, true, 'the resend is recognised');
        assert.equal(Number(ack.kind.value.seq), 2);
      }
      const next = await again.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'after-1', body: 'after' } } });
      assert.equal(next.kind.case === 'sendAck' && Number(next.kind.value.seq), 3, 'the seq continues without a gap or reuse');
      const bob = await second.connect('bob', 'phone');
      await syncAll(bob);
      assert.deepEqual(messagesOf(bob, conv).map((m) => [m.seq, m.body]), [[1, 'before'], [2, 'in flight'], [3, 'after']]);
      const h = await second.api('GET', `/v1/conversations/${conv}/messages?limit=10`);
      assert.deepEqual(h.body.messages.map((m: { client_msg_id: string }) => m.client_msg_id), ['after-1', 'doomed-1', 'fine-1'], 'exactly one stored copy');
      again.close();
      bob.close();
    } finally {
      await first.kill().catch(() => {});
      await second?.stop();
      first.cleanup();
    }
  });

  it('every acked message survives SIGKILL under traffic, with no gap', async () => {
    const node = await TestNode.start({ config: { limits: { sendRatePerSec: 10_000, sendBurst: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 } } });
    let again: TestNode | null = null;
    try {
      const alice = await node.connect('alice', 'phone');
      const conv = await openDirect(alice, 'bob');
      const acked = new Map<string, number>();
      let i = 0;
      const pump = (async () => {
        while (alice.closeCode === null && i < 5000) {
          const id = `k-${i++}`;
          alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: id, body: id } } }, 30_000).then(
            (f) => {
              if (f.kind.case === 'sendAck') acked.set(id, Number(f.kind.value.seq));
            },
            () => {},
          );
          if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      })();
      while (acked.size < 200) await new Promise((r) => setTimeout(r, 5));
      await node.kill('SIGKILL');
      await pump;
      again = await node.restart();
      const bob = await again.connect('bob', 'phone');
      await syncAll(bob, new Map(), 1000);
      const stored = messagesOf(bob, conv);
      assert.deepEqual(stored.map((m) => m.seq), Array.from({ length: stored.length }, (_, k) => k + 1), 'gapless 1..n');
      const bodies = new Map(stored.map((m) => [m.body, m.seq]));
      for (const [id, seq] of acked) assert.equal(bodies.get(id), seq, `acked ${id} is stored at its acked seq`);
      assert.equal(new Set(stored.map((m) => m.body)).size, stored.length, 'no duplicates');
      bob.close();
    } finally {
      await again?.stop();
      node.cleanup();
    }
  });
});
