/**
 * Supervision of a real node: a shard thread crashing under live traffic restarts
 * alone and its clients resync without losing an acked message; a shard that crashes
 * at start makes the host give up and exit non-zero; SIGTERM drains with goaway.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient } from '../../protocol/client.js';
import { CLOSE_CODES } from '../../protocol/codes.js';
import { messagesOf, show, sleep, syncAll, TestNode } from './harness.js';

const FAST = { limits: { sendRatePerSec: 10_000, sendBurst: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 } };

function shardOf(c: TestClient): number {
  const w = c.frames.find((f) => f.kind.case === 'welcome');
  return w && w.kind.case === 'welcome' ? w.kind.value.shard : -1;
}

/** A sender that keeps sending, resends what was not acked after a reconnect, and records acks. */
class Sender {
  acked = new Map<string, number>();
  private n = 0;
  private unacked = new Set<string>();
  stopped = false;
  constructor(
    public client: TestClient,
    readonly conv: string,
    readonly name: string,
  ) {}

  async run(until: () => boolean): Promise<void> {
    while (!until()) {
      if (this.client.closeCode !== null) {
        await sleep(10);
        continue;
      }
      const id = `${this.name}-${this.n++}`;
      this.fire(id);
      await sleep(5);
    }
    this.stopped = true;
  }

  fire(id: string): void {
    this.unacked.add(id);
    this.client.call({ kind: { case: 'send', value: { conversation: this.conv, clientMsgId: id, body: id } } }, 15_000).then(
      (f) => {
        if (f.kind.case === 'sendAck') {
          this.acked.set(id, Number(f.kind.value.seq));
          this.unacked.delete(id);
        }
      },
      () => {},
    );
  }

  /** After a reconnect: resend everything not acked, with the same client_msg_id. */
  async resendAll(): Promise<void> {
    const ids = [...this.unacked];
    await Promise.all(
      ids.map(async (id) => {
        const f = await this.client.call({ kind: { case: 'send', value: { conversation: this.conv, clientMsgId: id, body: id } } }, 15_000);
        assert.equal(f.kind.case, 'sendAck', show(f));
        if (f.kind.case === 'sendAck') {
          this.acked.set(id, Number(f.kind.value.seq));
          this.unacked.delete(id);
        }
      }),
    );
  }
}

/** The whole stored history of a conversation, oldest first, paged through the HTTP API. */
async function fullHistory(node: TestNode, conv: string): Promise<Array<{ seq: number; client_msg_id: string }>> {
  const out: Array<{ seq: number; client_msg_id: string }> = [];
  let before = 0;
  for (;;) {
    const h = await node.api('GET', `/v1/conversations/${conv}/messages?limit=200${before ? `&before=${before}` : ''}`);
    out.push(...h.body.messages);
    if (!h.body.has_more || h.body.messages.length === 0) return out.reverse();
    before = h.body.messages[h.body.messages.length - 1].seq;
  }
}

describe('supervision', () => {
  it('a shard crash under live traffic restarts only that shard; its clients resync and nothing acked is lost', async () => {
    const node = await TestNode.start({ config: { shards: { count: 2 }, ...FAST }, env: { SWITCHBOARD_TEST_FAULT: 'crash_shard_on_body:CRASH' } });
    try {
      // Enough pairs that both shards hold clients (the kernel spreads connections).
      const pairs: Array<{ a: TestClient; b: TestClient; ua: string; ub: string; conv: string; sender: Sender }> = [];
      for (let i = 0; pairs.length < 12; i++) {
        const a = await node.connect(`sa${i}`, 'phone', { encoding: i % 2 ? 'proto' : 'json' });
        const b = await node.connect(`sb${i}`, 'phone');
        const f = await a.call({ kind: { case: 'openDirect', value: { peer: `sb${i}` } } });
        const conv = f.kind.case === 'directOpened' ? f.kind.value.conversation : '';
        await syncAll(b);
        pairs.push({ a, b, ua: `sa${i}`, ub: `sb${i}`, conv, sender: new Sender(a, conv, `s${i}`) });
      }
      const clients = pairs.flatMap((p) => [p.a, p.b]);
      const shards = new Set(clients.map(shardOf));
      assert.deepEqual([...shards].sort(), [0, 1], 'clients on both shards');
      let stop = false;
      const running = pairs.map((p) => p.sender.run(() => stop));
      await sleep(300);
      // Crash the shard holding pairs[0].a.
      const victimShard = shardOf(pairs[0].a);
      pairs[0].a.send({ kind: { case: 'send', value: { conversation: pairs[0].conv, clientMsgId: 'boom', body: 'CRASH' } } });
      const victims = clients.filter((c) => shardOf(c) === victimShard);
      const survivors = clients.filter((c) => shardOf(c) !== victimShard);
      for (const v of victims) assert.equal(await v.waitClose(10_000), CLOSE_CODES.server_restart.code, 'clients of the crashed shard are told to reconnect');
      assert.ok(survivors.length > 0);
      assert.ok(survivors.every((c) => c.closeCode === null), 'the other shard kept its connections');

      // Reconnect the victims (same user and device), resync from their cursors, resend.
      const cursorOf = (c: TestClient, conv: string) => Math.max(0, ...messagesOf(c, conv).map((m) => m.seq));
      for (const p of pairs) {
        for (const side of ['a', 'b'] as const) {
          const old = p[side];
          if (old.closeCode === null) continue;
          let fresh: TestClient | null = null;
          for (let attempt = 0; !fresh && attempt < 100; attempt++) {
            fresh = await node.connect(side === 'a' ? p.ua : p.ub, 'phone').catch(() => null);
            if (!fresh) await sleep(50);
          }
          assert.ok(fresh, 'reconnected');
          // Keep what the old socket received so the full view can be checked.
          fresh.frames.unshift(...old.frames.filter((f) => f.kind.case === 'message' || f.kind.case === 'syncPage'));
          await syncAll(fresh, new Map([[p.conv, cursorOf(old, p.conv)]]));
          p[side] = fresh;
          if (side === 'a') {
            p.sender.client = fresh;
            await p.sender.resendAll();
          }
        }
      }
      await sleep(300);
      stop = true;
      await Promise.all(running);
      await sleep(500);
      for (const p of pairs) await p.sender.resendAll();

      // Every acked message exactly once, in order, in the stored history and on the recipient.
      for (const p of pairs) {
        const stored = await fullHistory(node, p.conv);
        assert.deepEqual(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'gapless');
        assert.equal(new Set(stored.map((m) => m.client_msg_id)).size, stored.length, 'no duplicates');
        const bySeq = new Map(stored.map((m) => [m.client_msg_id, m.seq]));
        for (const [id, seq] of p.sender.acked) assert.equal(bySeq.get(id), seq, `acked ${id} stored once at ${seq}`);
        await syncAll(p.b, new Map([[p.conv, cursorOf(p.b, p.conv)]]));
        const seen = messagesOf(p.b, p.conv).map((m) => m.seq);
        assert.deepEqual([...new Set(seen)].sort((x, y) => x - y), stored.map((m) => m.seq), 'the recipient has them all');
      }
      const status = await node.api('GET', '/admin/status');
      assert.equal(status.status, 200);
      assert.match(status.body, /shard-0\s+worker\s+running/);
      assert.match(status.body, /restarts=1/);
      // Shards answer metric requests within a deadline; on a loaded machine retry.
      let metrics = '';
      for (let i = 0; i < 5 && !/shard_connections\{shard="1"\}/.test(metrics); i++) metrics = await fetch(`${node.httpUrl}/metrics`).then((r) => r.text());
      assert.match(metrics, /switchboard_child_restarts_total\{[^}]*child="shard-\d"[^}]*\} 1/);
      assert.match(metrics, /switchboard_shard_connections\{shard="0"\}/);
      assert.match(metrics, /switchboard_shard_connections\{shard="1"\}/);
      assert.match(metrics, /switchboard_send_ack_seconds_bucket/);
      for (const p of pairs) {
        p.a.close();
        p.b.close();
      }
    } finally {
      await node.stop();
      node.cleanup();
    }
  });

  it('a shard that crashes at start makes the host give up and exit non-zero with a crash report', async () => {
    await assert.rejects(
      TestNode.start({ config: { shards: { count: 2 } }, env: { SWITCHBOARD_TEST_FAULT: 'crash_shard_at_start' } }),
      (e: Error) => {
        assert.match(e.message, /exited with [1-9]/);
        assert.match(e.message, /gave_up|start_failed|failed to start/);
        return true;
      },
    );
  });

  it('SIGTERM under load: clients get goaway, acked messages are durable, the process exits in time', async () => {
    const node = await TestNode.start({ config: { shards: { count: 2 }, drain: { deadlineMs: 8000, goawayJitterMs: 500 }, ...FAST } });
    let again: TestNode | null = null;
    try {
      const a = await node.connect('ta', 'phone');
      const b = await node.connect('tb', 'phone');
      const f = await a.call({ kind: { case: 'openDirect', value: { peer: 'tb' } } });
      const conv = f.kind.case === 'directOpened' ? f.kind.value.conversation : '';
      await syncAll(b);
      const sender = new Sender(a, conv, 'term');
      let stop = false;
      const run = sender.run(() => stop || a.closeCode !== null);
      await sleep(300);
      const t0 = Date.now();
      node.proc.kill('SIGTERM');
      const exit = await node.exited;
      stop = true;
      await run;
      assert.equal(exit.code, 0, node.stderr.slice(-2000));
      assert.ok(Date.now() - t0 < 8000, 'exits within the deadline');
      for (const c of [a, b]) {
        const g = c.frames.find((x) => x.kind.case === 'goaway');
        assert.ok(g, 'goaway received');
        assert.ok(g.kind.case === 'goaway' && g.kind.value.reconnectAfterMs <= 500);
        assert.equal(c.closeCode, CLOSE_CODES.going_away.code);
      }
      assert.ok(sender.acked.size > 0);
      again = await node.restart();
      const stored = new Map<string, number>((await fullHistory(again, conv)).map((m) => [m.client_msg_id, m.seq]));
      for (const [id, seq] of sender.acked) assert.equal(stored.get(id), seq, `acked ${id} is durable`);
    } finally {
      await again?.stop();
      node.cleanup();
    }
  });

  it('POST /admin/drain (API key) drains like SIGTERM', async () => {
    const node = await TestNode.start({ config: { shards: { count: 2 }, drain: { deadlineMs: 8000, goawayJitterMs: 200 } } });
    try {
      const c = await node.connect('drain-a', 'phone');
      assert.equal((await node.api('POST', '/admin/drain', undefined, 'not-the-key')).status, 401);
      const r = await node.api('POST', '/admin/drain');
      assert.equal(r.status, 202);
      assert.equal(await c.waitClose(), CLOSE_CODES.going_away.code);
      assert.ok(c.frames.some((f) => f.kind.case === 'goaway'));
      assert.equal((await node.exited).code, 0);
    } finally {
      await node.stop();
      node.cleanup();
    }
  });
});
