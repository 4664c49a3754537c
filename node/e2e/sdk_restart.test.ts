/**
 * The SDK (protocol/sdk) against a real node that is SIGKILLed and restarted in the
 * middle of a conversation: alice and bob keep typing through the outage (their
 * outboxes hold the sends), alice's app is also restarted from its state file while
 * the node is down. Afterwards both hold the same messages in the same order, every
 * message exactly once (as the server stores it), each sender's in the order typed,
 * also across a graceful drain (goaway, 4001) and restart,
 * and no message was shown (emitted) twice. alice speaks JSON, bob protobuf.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { TestNode, sleep } from './harness.js';
import { SwitchboardClient, type WebSocketCtor } from '../../protocol/sdk/index.js';
import { FileStorage } from '../../protocol/sdk/storage_file.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function until(what: string, fn: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('SDK across a SIGKILLed node: nothing lost, nothing shown twice, the same order in both clients', { timeout: 180_000 }, async () => {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-sdk-'));
  let node = await TestNode.start({ config: { listen: { port } } });
  const shown = new Map<string, number>(); // `${who}:${seq}` → times emitted
  // alice speaks JSON, bob protobuf: both encodings through the same SDK.
  const make = (user: string): SwitchboardClient => {
    const c = new SwitchboardClient({
      url: node.url,
      encoding: user === 'bob' ? 'proto' : 'json',
      auth: { token: () => node.token(user, 'phone') },
      WebSocket: WebSocket as unknown as WebSocketCtor,
      storage: new FileStorage(path.join(dir, `${user}.json`)),
      // Short waits keep the test quick; the policy (full jitter, cap) is the default's.
      backoff: { baseMs: 100, capMs: 1000 },
    });
    c.on('message', (m) => shown.set(`${user}:${m.seq}`, (shown.get(`${user}:${m.seq}`) ?? 0) + 1));
    return c;
  };
  let alice = make('alice');
  const bob = make('bob');
  try {
    await alice.start();
    await bob.start();
    await until('both online', () => alice.status === 'online' && bob.status === 'online');
    const conv = await alice.openDirect('bob');
    const typed = { alice: [] as string[], bob: [] as string[] };
    const say = (who: 'alice' | 'bob', n: number): void => {
      const body = `${who} ${n}`;
      typed[who].push(body);
      (who === 'alice' ? alice : bob).send(conv, body);
    };

    for (let i = 0; i < 15; i++) {
      say('alice', i);
      say('bob', i);
      await sleep(10);
    }
    // SIGKILL while sends are in flight; keep typing while the node is down.
    await node.kill('SIGKILL');
    for (let i = 15; i < 25; i++) {
      say('alice', i);
      say('bob', i);
    }
    // alice's app restarts too (from its state file) before the node is back.
    await alice.close();
    alice = make('alice');
    await alice.start();
    for (let i = 25; i < 30; i++) say('alice', i);
    node = await node.restart();
    for (let i = 25; i < 30; i++) say('bob', i);

    // Then a graceful drain (SIGTERM: goaway with a reconnect delay, close 4001) and a
    // restart, with sends queued across it.
    await until('the first batch acked', () => alice.pending(conv).length === 0 && bob.pending(conv).length === 0);
    const closes: number[] = [];
    const off = bob.on('status', (st) => st.closeCode !== undefined && closes.push(st.closeCode));
    await node.stop();
    for (let i = 30; i < 35; i++) {
      say('alice', i);
      say('bob', i);
    }
    node = await node.restart();
    off();
    assert.equal(closes[0], 4001, 'the drain closed with going_away after its goaway');

    const total = typed.alice.length + typed.bob.length;
    await until('every message acked and held by both', () =>
      alice.pending(conv).length === 0 && bob.pending(conv).length === 0 && alice.messages(conv).length === total && bob.messages(conv).length === total,
    );
    await sleep(300);

    const view = (c: SwitchboardClient): string[] => c.messages(conv).map((m) => `${m.seq}:${m.body}`);
    assert.deepEqual(view(alice), view(bob), 'the same messages at the same seqs in both clients');
    const seqs = alice.messages(conv).map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i + 1), 'seqs 1..N without a hole');
    assert.equal(total, 70);
    const bodies = alice.messages(conv).map((m) => m.body);
    assert.equal(new Set(bodies).size, total, 'every body exactly once');
    for (const who of ['alice', 'bob'] as const) {
      assert.deepEqual(
        bodies.filter((b) => b.startsWith(`${who} `)),
        typed[who],
        `${who}'s messages in the order typed`,
      );
    }
    const twice = [...shown].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no message emitted twice by a client');

    // History pages backwards from a seq (exclusive), newest first.
    const older = await bob.history(conv, 11, 5);
    assert.deepEqual(older.messages.map((m) => m.seq), [10, 9, 8, 7, 6]);
    assert.equal(older.hasMore, true);

    // What the server stores is the same: one row per message.
    const reader = await node.connect('bob', 'audit');
    const f = await reader.call({ kind: { case: 'history', value: { conversation: conv, limit: 200 } } });
    assert.equal(f.kind.case, 'historyPage');
    if (f.kind.case === 'historyPage') assert.deepEqual(f.kind.value.messages.map((m) => `${Number(m.seq)}:${m.body}`).reverse(), view(bob));
    reader.close();
    console.log(`# ${total} messages across a SIGKILL, an app restart and a drain: ${shown.size} shown once each, 0 twice, 0 lost`);
  } finally {
    await alice.close();
    await bob.close();
    await node.stop();
    node.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
