/**
 * The SQLite store's thread (node/store/sqlite_worker_store.ts) dying in a running node:
 * it ends right after a commit is durable and before it is answered. The node does not
 * exit: the store child dies with its thread, its supervisor restarts it (and, rest_for_one,
 * the children after it: clients reconnect), the unanswered send is never acked, its
 * resend is recognised, the seq continues without a gap, and nothing acked is lost.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { messagesOf, show, syncAll, TestNode, openDirect } from './harness.js';

/** Connect, retrying while the restarted children come back up. */
async function connectAgain(node: TestNode, user: string): Promise<Awaited<ReturnType<TestNode['connect']>>> {
  for (let i = 0; ; i++) {
    try {
      return await node.connect(user, 'phone');
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

type Client = Awaited<ReturnType<TestNode['connect']>>;
type SendValue = { conversation: string; clientMsgId: string; body: string };

/**
 * Send as a client does while the store restarts: a retryable error (the old chat
 * service answering from the dead store, or a socket closed by the restart) is resent
 * with the same client_msg_id, on a new connection if needed.
 */
async function sendUntilAcked(node: TestNode, user: string, c: Client, value: SendValue): Promise<{ client: Client; frame: Awaited<ReturnType<Client['call']>> }> {
  let client = c;
  for (let i = 0; ; i++) {
    if (client.closeCode !== null) client = await connectAgain(node, user);
    const frame = await client.call({ kind: { case: 'send', value } }, 10_000).catch(() => null);
    if (frame?.kind.case === 'sendAck') return { client, frame };
    const retryable = frame === null || (frame.kind.case === 'error' && frame.kind.value.retryable);
    if (!retryable || i > 50) throw new Error(`send ${value.clientMsgId} not acked: ${frame ? show(frame) : 'no reply'}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('store worker crash', () => {
  it('is restarted by its supervisor; the unanswered send is stored once when resent; nothing acked is lost', async () => {
    const node = await TestNode.start({ env: { SWITCHBOARD_TEST_STORE_WORKER_FAULT: 'exit_after_commit:doomed-1' } });
    try {
      const alice = await node.connect('alice', 'phone');
      const conv = await openDirect(alice, 'bob');
      for (let i = 1; i <= 20; i++) {
        const ok = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `fine-${i}`, body: `before ${i}` } } });
        assert.equal(ok.kind.case, 'sendAck', show(ok));
      }
      const doomed = alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'doomed-1', body: 'in flight' } } }, 30_000).catch(() => null);
      await alice.waitClose();
      const reply = await doomed;
      assert.notEqual(reply?.kind.case, 'sendAck', 'the send whose commit was never answered is not acked');

      const resent = await sendUntilAcked(node, 'alice', await connectAgain(node, 'alice'), { conversation: conv, clientMsgId: 'doomed-1', body: 'in flight' });
      const again = resent.client;
      const ack = resent.frame;
      assert.equal(ack.kind.case, 'sendAck', show(ack));
      if (ack.kind.case === 'sendAck') {
        assert.equal(ack.kind.value.duplicate, true, 'the resend is recognised');
        assert.equal(Number(ack.kind.value.seq), 21);
      }
      const next = (await sendUntilAcked(node, 'alice', again, { conversation: conv, clientMsgId: 'after-1', body: 'after' })).frame;
      assert.equal(next.kind.case === 'sendAck' && Number(next.kind.value.seq), 22, 'the seq continues without a gap or reuse');
      const bob = await connectAgain(node, 'bob');
      await syncAll(bob);
      const stored = messagesOf(bob, conv);
      assert.deepEqual(stored.map((m) => m.seq), Array.from({ length: 22 }, (_, k) => k + 1), 'gapless, every acked message there');
      assert.deepEqual(stored.map((m) => m.body).slice(19), ['before 20', 'in flight', 'after'], 'exactly one stored copy of the resend');
      const st = await node.api('GET', '/admin/status');
      assert.equal(st.status, 200);
      const stillUp = await Promise.race([node.exited.then(() => false), new Promise((r) => setTimeout(() => r(true), 100))]);
      assert.equal(stillUp, true, 'the node process did not exit');
      again.close();
      bob.close();
    } finally {
      await node.stop();
      node.cleanup();
    }
  });
});
