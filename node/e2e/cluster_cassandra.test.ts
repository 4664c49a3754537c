/**
 * A 3-node cell (etcd, Cassandra, haproxy; node/e2e/cluster_harness.ts) checked the
 * way a user would:
 *   a. 1:1 chat between users on different nodes, both ways, with delivered / read
 *      receipts reaching the sender across nodes; a group spanning the nodes; a user
 *      connected through haproxy;
 *   b. the node owning the conversations SIGKILLed under traffic: every acked message
 *      is stored exactly once, seqs gapless, and each recipient ends up holding every
 *      acked message exactly once, in seq order;
 *   c. a shard owner SIGSTOPped past its lease while a sender keeps going through
 *      another node, then SIGCONTed: no duplicate, no reused seq, and sends work
 *      afterwards, also on the resumed node.
 * The file name holds "cassandra" so `npm test` starts its one shared Cassandra for it
 * (ops/test_runner.ts). The etcd restart case is in cluster_cassandra_etcd.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getTestCassandra, type TestCassandra } from '../store/cassandra_test_env.js';
import { ReceiptKind } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { auditConversation, ClusterCell, ResilientClient, SendFailed, type SendOutcome, storedMessages, waitUntil } from './cluster_harness.js';
import { show, sleep } from './harness.js';

const LEASE_TTL_SEC = 3;

/** A sender that keeps sending (one message in flight, retried until acked) until stopped. */
class Pump {
  readonly acked = new Map<string, SendOutcome>();
  readonly failed: Array<{ id: string; error: string }> = [];
  private stopped = false;
  private loop: Promise<void> | null = null;
  sent = 0;

  constructor(
    readonly client: ResilientClient,
    readonly conversation: string,
    readonly idPrefix: string,
    readonly gapMs = 5,
  ) {}

  start(): this {
    this.loop = (async () => {
      while (!this.stopped) {
        const id = `${this.idPrefix}-${this.sent++}`;
        try {
          this.acked.set(id, await this.client.send(this.conversation, id, id, 45_000));
        } catch (e) {
          this.failed.push({ id, error: (e as Error).message + (e instanceof SendFailed ? ` (retries: ${e.retries.slice(-5).join(', ')})` : '') });
        }
        await sleep(this.gapMs);
      }
    })();
    return this;
  }

  /** Stop starting new sends; wait for the one in flight to be acked or to give up. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  ackedAfter(t: number): number {
    return [...this.acked.values()].filter((a) => a.ackedAt > t).length;
  }

  retries(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.acked.values()) for (const r of a.retries) out[r.split(':')[0]] = (out[r.split(':')[0]] ?? 0) + 1;
    return out;
  }
}

/** Every acked message, held once by the recipient at its acked seq, in seq order, with no gap. */
function auditRecipient(r: ResilientClient, conv: string, acked: Map<string, { seq: number; messageId?: string }>, label: string): string[] {
  const problems = auditConversation(r.messages(conv), acked, `${label} (as held by ${r.user}/${r.device} after resync)`);
  if (r.conflicts.length) problems.push(`${label}: ${r.user} was sent two different messages at one seq (a reused seq): ${r.conflicts.slice(0, 5).join('; ')}`);
  return problems;
}

describe('cluster: 3 nodes, etcd, Cassandra, haproxy', { timeout: 300_000 }, () => {
  let cass: TestCassandra;
  let cell: ClusterCell;

  before(async () => {
    cass = await getTestCassandra();
    cell = await ClusterCell.start({ nodes: 3, cassandra: cass.contactPoint, leaseTtlSec: LEASE_TTL_SEC, shardCount: 16 });
  }, { timeout: 120_000 });

  after(async () => {
    await cell?.stop();
    await cass?.release();
  });

  it('1:1 between users on different nodes: both directions, delivered and read receipts reach the sender', { timeout: 60_000 }, () =>
    cell.explain(async () => {
      const alice = cell.client(0, 'alice', 'phone');
      const bob = cell.client(1, 'bob', 'phone');
      await Promise.all([alice.ready(), bob.ready()]);
      assert.equal(alice.node, 'node-1', 'alice connected straight to node-1');
      assert.equal(bob.node, 'node-2', 'bob connected straight to node-2');
      const conv = await alice.openDirect('bob');
      assert.equal(await bob.openDirect('alice'), conv, 'open_direct gives both sides the same conversation, from any node');
      const owner = await cell.ownerOf(conv);
      assert.ok(owner, `the shard of ${conv} (shard ${cell.shardOf(conv)}) has an owner in etcd`);

      // alice -> bob
      const a1 = await alice.send(conv, 'a-1', 'hi bob');
      assert.equal(a1.seq, 1, 'first message of the conversation gets seq 1');
      await waitUntil(() => bob.messages(conv).some((m) => m.clientMsgId === 'a-1'), 10_000, () => `bob (node-2) never got alice's a-1 (seq 1, owner ${owner}); bob holds ${show(bob.messages(conv))}`);
      const got = bob.messages(conv)[0];
      assert.deepEqual({ seq: got.seq, sender: got.sender, body: got.body, id: got.messageId }, { seq: 1, sender: 'alice', body: 'hi bob', id: a1.messageId }, 'bob got exactly what alice sent');

      // bob -> alice
      const b1 = await bob.send(conv, 'b-1', 'hi alice');
      assert.equal(b1.seq, 2, 'the reply takes the next seq');
      await waitUntil(() => alice.messages(conv).some((m) => m.clientMsgId === 'b-1'), 10_000, () => `alice (node-1) never got bob's b-1 (seq 2); alice holds ${show(alice.messages(conv))}`);

      // Receipts cross nodes: bob acks (delivered) then reads alice's message.
      bob.current!.send({ kind: { case: 'ack', value: { conversation: conv, seq: 1n } } });
      await waitUntil(
        () => alice.receipts.some((r) => r.conversation === conv && r.user === 'bob' && r.kind === ReceiptKind.DELIVERED && r.seq >= 1),
        10_000,
        () => `alice (node-1) did not get bob's delivered receipt for seq 1; her receipts: ${show(alice.receipts)}`,
      );
      bob.current!.send({ kind: { case: 'read', value: { conversation: conv, seq: 2n } } });
      await waitUntil(
        () => alice.receipts.some((r) => r.conversation === conv && r.user === 'bob' && r.kind === ReceiptKind.READ && r.seq >= 2),
        10_000,
        () => `alice (node-1) did not get bob's read receipt up to seq 2; her receipts: ${show(alice.receipts)}`,
      );
      alice.current!.send({ kind: { case: 'read', value: { conversation: conv, seq: 2n } } });
      await waitUntil(
        () => bob.receipts.some((r) => r.conversation === conv && r.user === 'alice' && r.kind === ReceiptKind.READ && r.seq >= 2),
        10_000,
        () => `bob (node-2) did not get alice's read receipt up to seq 2; his receipts: ${show(bob.receipts)}`,
      );

      // Both talk at once: one order, the same on both sides.
      await Promise.all([
        (async () => {
          for (let i = 2; i <= 6; i++) await alice.send(conv, `a-${i}`);
        })(),
        (async () => {
          for (let i = 2; i <= 6; i++) await bob.send(conv, `b-${i}`);
        })(),
      ]);
      // The sending connection gets the send_ack, not a copy: each holds the other's messages live.
      const ids = (c: ResilientClient): string[] => c.messages(conv).map((m) => m.clientMsgId);
      await waitUntil(
        () => [2, 3, 4, 5, 6].every((i) => ids(alice).includes(`b-${i}`) && ids(bob).includes(`a-${i}`)),
        10_000,
        () => `expected alice to get b-2..b-6 live and bob a-2..a-6; alice holds ${show(ids(alice))}, bob ${show(ids(bob))}`,
      );
      await Promise.all([alice.resync(), bob.resync()]); // their own sends come back through sync
      const order = (c: ResilientClient): string[] => c.messages(conv).map((m) => `${m.seq}:${m.clientMsgId}`);
      assert.deepEqual(order(bob), order(alice), 'alice and bob see the same messages at the same seqs');
      assert.deepEqual(alice.messages(conv).map((m) => m.seq), Array.from({ length: 12 }, (_, i) => i + 1), 'seqs 1..12, gapless');
      assert.deepEqual([...alice.conflicts, ...bob.conflicts], [], 'no seq carried two different messages');

      // History from the node that does not own the shard.
      const nonOwner = [alice, bob].find((c) => c.node !== owner) ?? bob;
      const h = await nonOwner.call({ kind: { case: 'history', value: { conversation: conv, beforeSeq: 0n, limit: 50 } } });
      assert.equal(h.kind.case, 'historyPage', `history on ${nonOwner.node} (owner ${owner}): ${show(h)}`);
      const hs = h.kind.case === 'historyPage' ? h.kind.value.messages.map((m) => Number(m.seq)) : [];
      assert.deepEqual(hs, Array.from({ length: 12 }, (_, i) => 12 - i), `history on ${nonOwner.node} lists seqs 12..1 newest first`);
    }));

  it('a user connected through haproxy talks with users on each node; a group spanning the three nodes', { timeout: 60_000 }, () =>
    cell.explain(async () => {
      const carol = cell.client('haproxy', 'carol', 'phone');
      const on = [0, 1, 2].map((i) => cell.client(i, `u${i + 1}`, 'phone'));
      await Promise.all([carol.ready(), ...on.map((c) => c.ready())]);
      assert.deepEqual(on.map((c) => c.node), ['node-1', 'node-2', 'node-3']);
      for (const peer of on) {
        const conv = await carol.openDirect(peer.user);
        const s = await carol.send(conv, `c-to-${peer.user}`);
        await waitUntil(() => peer.messages(conv).some((m) => m.clientMsgId === `c-to-${peer.user}`), 10_000, () => `${peer.user} on ${peer.node} never got carol's message (carol on ${carol.node} via haproxy, seq ${s.seq}, owner ${'?'})`);
        await peer.send(conv, `${peer.user}-to-c`);
        await waitUntil(() => carol.messages(conv).some((m) => m.clientMsgId === `${peer.user}-to-c`), 10_000, () => `carol (on ${carol.node} via haproxy) never got ${peer.user}'s reply from ${peer.node}`);
      }

      // A group: admin on node-1, members on node-2, node-3 and behind haproxy.
      const created = await on[0].call({ kind: { case: 'createGroup', value: { subject: 'cross', members: ['u2', 'u3', 'carol'] } } });
      assert.equal(created.kind.case, 'groupInfo', show(created));
      const g = created.kind.case === 'groupInfo' ? created.kind.value.conversation : '';
      const everyone = [...on, carol];
      // The creator's connection gets group_info, not a copy; the other members get the system message live.
      await waitUntil(() => everyone.slice(1).every((c) => c.messages(g).some((m) => m.meta.system === 'group_created')), 10_000, () => `not every member got the group_created message live: ${everyone.slice(1).map((c) => `${c.user}@${c.node}: ${c.messages(g).length}`).join(', ')}`);
      for (const [k, c] of everyone.entries()) await c.send(g, `g-${k}`);
      await waitUntil(
        () => everyone.every((c) => c.messages(g).filter((m) => m.clientMsgId.startsWith('g-')).length >= everyone.length - 1),
        10_000,
        () => `group messages did not reach every other member: ${everyone.map((c) => `${c.user}@${c.node} holds ${show(c.messages(g).map((m) => m.clientMsgId))}`).join('; ')}`,
      );
      await Promise.all(everyone.map((c) => c.resync()));
      const views = everyone.map((c) => c.messages(g).map((m) => `${m.seq}:${m.clientMsgId}`));
      for (const v of views) assert.deepEqual(v, views[0], 'every member sees the group in one order');
      assert.deepEqual(views[0].map((x) => Number(x.split(':')[0])), [1, 2, 3, 4, 5], 'group seqs 1..5 (creation + 4 messages)');
    }));

  it('the node owning the conversations SIGKILLed under traffic: every acked message stored exactly once, gapless; recipients get each once', { timeout: 150_000 }, async (t) => {
    let victim = -1;
    try {
      await cell.explain(async () => {
        const tag = `k${randomBytes(2).toString('hex')}`;
        const PAIRS = 4;
        const senders = Array.from({ length: PAIRS }, (_, k) => cell.client('haproxy', `${tag}s${k}`, 'phone', { attemptTimeoutMs: 3_000 }));
        const recipients = Array.from({ length: PAIRS }, (_, k) => cell.client('haproxy', `${tag}r${k}`, 'phone', { autoAck: true, attemptTimeoutMs: 3_000 }));
        const pumps: Pump[] = [];
        try {
          await Promise.all([...senders, ...recipients].map((c) => c.ready()));
          const convs = await Promise.all(senders.map((s, k) => s.openDirect(recipients[k].user)));
          const owners = await Promise.all(convs.map((c) => cell.ownerOf(c)));
          assert.ok(owners.every((o) => o), `every conversation's shard has an owner: ${show(owners)}`);
          // The victim owns the most of these conversations.
          const count = new Map<string, number>();
          for (const o of owners) count.set(o!, (count.get(o!) ?? 0) + 1);
          const victimId = [...count].sort((x, y) => y[1] - x[1])[0][0];
          victim = cell.indexOf(victimId);
          const clientsOnVictim = [...senders, ...recipients].filter((c) => c.node === victimId).map((c) => c.user);

          for (const [k, s] of senders.entries()) pumps.push(new Pump(s, convs[k], `${tag}-${k}`).start());
          await waitUntil(() => pumps.every((p) => p.acked.size >= 20), 30_000, () => `warm-up: acks per sender ${show(pumps.map((p) => p.acked.size))}, failures ${show(pumps.flatMap((p) => p.failed).slice(0, 3))}`);

          const killedAt = Date.now();
          await cell.kill(victim);
          const survivors = [0, 1, 2].filter((i) => i !== victim).map((i) => cell.nodeId(i));
          const settled = await cell.waitSettled(LEASE_TTL_SEC * 1000 + 20_000, survivors);
          const takeoverMs = Date.now() - killedAt;
          const ackedAtKill = pumps.map((p) => [...p.acked.values()].filter((a) => a.ackedAt <= killedAt).length);
          await sleep(3_000); // traffic on the survivors
          await Promise.all(pumps.map((p) => p.stop()));

          const failures = pumps.flatMap((p) => p.failed);
          assert.deepEqual(failures, [], `every send was acked in the end (retrying with the same client_msg_id); ${failures.length} gave up`);
          for (const [k, p] of pumps.entries())
            assert.ok(p.ackedAfter(killedAt) > 0, `sender ${k} got acks after ${victimId} was killed (acked ${p.acked.size}, ${ackedAtKill[k]} before the kill)`);

          const problems: string[] = [];
          for (const [k, r] of recipients.entries()) {
            await r.resync();
            const acked = new Map([...pumps[k].acked].map(([id, a]) => [id, { seq: a.seq, messageId: a.messageId }]));
            problems.push(...auditRecipient(r, convs[k], acked, `pair ${k} (${convs[k]}, owner was ${owners[k]})`));
            const stored = (await storedMessages(cell, 'haproxy', r.user)).get(convs[k]) ?? [];
            problems.push(...auditConversation(stored, acked, `pair ${k} stored (${convs[k]})`));
            if (stored.length !== pumps[k].acked.size)
              problems.push(`pair ${k}: ${stored.length} messages stored, ${pumps[k].acked.size} acked (every send was retried until acked, so they must match)`);
          }
          t.diagnostic(`killed ${victimId} (owner of ${count.get(victimId)}/${PAIRS} conversations, clients on it ${clientsOnVictim.length}); settled ${takeoverMs} ms later; acked ${pumps.map((p) => p.acked.size).join('/')}; retries ${show(pumps.map((p) => p.retries()))}`);
          assert.deepEqual(problems, [], `after killing ${victimId} (owner of ${count.get(victimId)} of ${PAIRS} conversations; clients on it: ${show(clientsOnVictim)}; cell settled on ${show(settled.members)} ${takeoverMs} ms after the kill; retries: ${show(pumps.map((p) => p.retries()))})`);
        } finally {
          await Promise.all(pumps.map((p) => p.stop()));
        }
      });
    } finally {
      // The next test wants three nodes again.
      if (victim >= 0 && !cell.isUp(victim)) {
        await cell.restart(victim);
        await cell.waitSettled(30_000);
      }
    }
  });

  it('a shard owner SIGSTOPped past its lease, then resumed: no duplicate, no reused seq; sends work afterwards, also on the resumed node', { timeout: 150_000 }, async (t) => {
    try {
      await cell.explain(async () => {
        const tag = `p${randomBytes(2).toString('hex')}`;
        const sUser = `${tag}-alice`;
        const rUser = `${tag}-bob`;
        // Find a conversation, then place the sender on a non-owner and the recipient on the third node.
        const probe = cell.client('haproxy', sUser, 'probe');
        const conv = await probe.openDirect(rUser);
        probe.close();
        const ownerId = await cell.ownerOf(conv);
        assert.ok(ownerId, `the shard of ${conv} has an owner`);
        const A = cell.indexOf(ownerId!);
        const [B, C] = [0, 1, 2].filter((i) => i !== A);
        const sender = cell.client([B, C], sUser, 'phone', { attemptTimeoutMs: 3_000 });
        const recipient = cell.client([C, B], rUser, 'phone', { autoAck: true, attemptTimeoutMs: 3_000 });
        let stale: TestClient | null = null;
        const staleAcks = new Map<string, { seq: number; messageId: string; duplicate: boolean; at: number }>();
        const staleErrors: string[] = [];
        const staleIds: string[] = [];
        let pump: Pump | null = null;
        let staleTimer: NodeJS.Timeout | null = null;
        try {
          await Promise.all([sender.ready(), recipient.ready()]);
          // A second device of the sender, straight on the owner: its frames are queued in the
          // socket while the owner is frozen and processed when it resumes (stale node, stale view).
          stale = cell.track(await cell.connect(A, sUser, 'tablet'));
          stale.onFrame = (f) => {
            if (f.kind.case === 'sendAck') staleAcks.set(f.kind.value.clientMsgId, { seq: Number(f.kind.value.seq), messageId: f.kind.value.messageId, duplicate: f.kind.value.duplicate, at: Date.now() });
            else if (f.kind.case === 'error') staleErrors.push(`${f.kind.value.clientMsgId}: ${f.kind.value.code}`);
          };
          let staleN = 0;
          staleTimer = setInterval(() => {
            const id = `${tag}-stale-${staleN++}`;
            staleIds.push(id);
            try {
              stale!.send({ kind: { case: 'send', value: { conversation: conv, clientMsgId: id, body: id } } });
            } catch {
              // socket gone
            }
          }, 20);

          pump = new Pump(sender, conv, `${tag}-main`).start();
          await waitUntil(() => pump!.acked.size >= 20 && staleAcks.size >= 10, 30_000, () => `warm-up: ${pump!.acked.size} acks through ${cell.nodeId(B)}, ${staleAcks.size} on ${ownerId}; failures ${show(pump!.failed.slice(0, 3))}, stale errors ${show(staleErrors.slice(0, 3))}`);
          const before = await cell.ownerRecord(conv);

          const pausedAt = Date.now();
          cell.pause(A);
          await sleep(1_000);
          clearInterval(staleTimer); // ~50 sends queued in the frozen node's socket
          staleTimer = null;
          const moved = await cell.waitOwnerChange(conv, ownerId!, LEASE_TTL_SEC * 1000 + 20_000);
          const movedAfterPauseMs = Date.now() - pausedAt;
          assert.ok(moved.token > before!.token, `the new owner's fencing token (${moved.token}) is above the old one (${before!.token})`);
          const ackedBeforeMove = pump.acked.size;
          await sleep(2_000);
          assert.ok(pump.acked.size > ackedBeforeMove, `sends through ${cell.nodeId(B)} are acked again after the shard moved to ${moved.node} (${movedAfterPauseMs} ms after the pause): ${ackedBeforeMove} -> ${pump.acked.size}; failures ${show(pump.failed.slice(0, 3))}`);

          const resumedAt = Date.now();
          cell.resume(A);
          await sleep(4_000); // the resumed node processes what was queued, finds itself fenced, rejoins
          await pump.stop();
          await cell.waitSettled(30_000);
          await sleep(1_000);
          const staleAckedAfterResume = [...staleAcks.values()].filter((a) => a.at >= resumedAt).length;

          // The stale device's unacked sends: resent (same ids) from another connection of the same user.
          const resender = cell.client('haproxy', sUser, 'tablet2', { attemptTimeoutMs: 3_000 });
          const resent = new Map<string, SendOutcome>();
          for (const id of staleIds) if (!staleAcks.has(id)) resent.set(id, await resender.send(conv, id, id, 45_000));
          // Resending what the frozen owner acked must answer the first ack again (dedup).
          const dedupProblems: string[] = [];
          for (const [id, a] of staleAcks) {
            const again = await sender.send(conv, id, id, 30_000);
            if (again.seq !== a.seq || !again.duplicate)
              dedupProblems.push(`resending ${id} (acked at seq ${a.seq} by ${ownerId} ${a.at < pausedAt ? 'before the pause' : 'after the resume'}) should answer seq ${a.seq} duplicate=true, got seq ${again.seq} duplicate=${again.duplicate}`);
          }

          // Sends on the resumed node.
          const onResumed = cell.client(A, sUser, 'desk', { attemptTimeoutMs: 3_000 });
          const afterResume: Array<[string, SendOutcome]> = [];
          await onResumed.ready();
          assert.equal(onResumed.node, ownerId, `connected to the resumed node ${ownerId}`);
          for (let i = 0; i < 5; i++) afterResume.push([`${tag}-resumed-${i}`, await onResumed.send(conv, `${tag}-resumed-${i}`, `after ${i}`, 30_000)]);
          await waitUntil(() => afterResume.every(([id]) => recipient.messages(conv).some((m) => m.clientMsgId === id)), 15_000, () => `the recipient (on ${recipient.node}) did not get the messages sent on the resumed ${ownerId}: holds ${show(recipient.messages(conv).slice(-8).map((m) => m.clientMsgId))}`);

          const failures = pump.failed;
          assert.deepEqual(failures, [], `every send through ${cell.nodeId(B)} was acked in the end`);
          const acked = new Map<string, { seq: number; messageId?: string }>();
          for (const [id, a] of pump.acked) acked.set(id, a);
          for (const [id, a] of staleAcks) acked.set(id, a);
          for (const [id, a] of resent) acked.set(id, a);
          for (const [id, a] of afterResume) acked.set(id, a);
          const stored = (await storedMessages(cell, 'haproxy', rUser)).get(conv) ?? [];
          await recipient.resync();
          const problems = [...auditConversation(stored, acked, `stored ${conv}`), ...auditRecipient(recipient, conv, acked, conv)];
          if (dedupProblems.length) problems.push(`${dedupProblems.length} resend(s) were not deduplicated: ${dedupProblems.slice(0, 5).join('; ')}`);
          const expectedIds = new Set([...pump.acked.keys(), ...staleIds, ...afterResume.map(([id]) => id)]);
          const storedIds = new Set(stored.map((m) => m.clientMsgId));
          const extra = [...storedIds].filter((id) => !expectedIds.has(id));
          if (extra.length) problems.push(`stored messages nobody sent: ${show(extra.slice(0, 5))}`);
          if (stored.length !== expectedIds.size) problems.push(`expected ${expectedIds.size} stored messages (one per client_msg_id sent), found ${stored.length}`);
          t.diagnostic(
            `paused ${ownerId} ${resumedAt - pausedAt} ms; shard moved to ${moved.node} ${movedAfterPauseMs} ms after the pause (token ${before!.token} -> ${moved.token}); ` +
              `stale device: ${staleIds.length} sent, ${staleAcks.size} acked (${staleAckedAfterResume} after the resume), errors ${show(staleErrors.slice(0, 5))}; main: ${pump.acked.size} acked, retries ${show(pump.retries())}`,
          );
          assert.deepEqual(
            problems,
            [],
            `owner ${ownerId} paused at ${new Date(pausedAt).toISOString()} for ${resumedAt - pausedAt} ms; shard moved to ${moved.node} ${movedAfterPauseMs} ms after the pause (token ${before!.token} -> ${moved.token}); ` +
              `stale device: ${staleIds.length} sent, ${staleAcks.size} acked by ${ownerId} (${staleAckedAfterResume} of them after the resume), errors ${show(staleErrors.slice(0, 5))}; main retries ${show(pump.retries())}`,
          );
        } finally {
          if (staleTimer) clearInterval(staleTimer);
          await pump?.stop();
        }
      });
    } finally {
      for (const i of [...cell.paused]) cell.resume(i);
    }
  });
});
