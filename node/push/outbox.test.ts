/**
 * The push outbox engine on the real SQLite message and push stores, with a scripted
 * provider (the engine's decisions in isolation; the providers' wire formats against
 * the fake servers are in node/e2e/push*.test.ts): who is pushed, collapsing, retries
 * and Retry-After, unregistered tokens, a provider that is down, recovery from the
 * owed rows after a crash without sending twice, and fencing by the ownership epoch.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../store/sqlite_store.js';
import type { StoredMessage } from '../store/types.js';
import { SqlitePushStore } from './sqlite_push_store.js';
import { PushOutbox, collapseIdOf } from './outbox.js';
import type { OutboxOptions } from './outbox_deps.js';
import type { PushOutcome, PushProvider, PushRequest } from './provider.js';
import type { PushRegistration } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-push-outbox-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const OPTS: OutboxOptions = {
  ackWaitMs: 300,
  collapseWindowMs: 0,
  ttlMs: 3_600_000,
  retryBaseMs: 20,
  retryMaxMs: 200,
  maxAttempts: 50,
  providerConcurrency: 10,
  providerRatePerSec: 10_000,
  endpointConcurrency: 10,
  endpointRatePerSec: 10_000,
  rescanMs: 60_000,
};

class ScriptedProvider implements PushProvider {
  readonly platform = 'apns' as const;
  readonly requests: Array<PushRequest & { at: number }> = [];
  /** Answers to give, in order; then 'sent'. */
  script: PushOutcome[] = [];
  async send(req: PushRequest): Promise<PushOutcome> {
    this.requests.push({ ...req, at: Date.now() });
    return this.script.shift() ?? { kind: 'sent', status: 200 };
  }
  async close(): Promise<void> {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean | Promise<boolean>, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function world(opts: Partial<OutboxOptions> = {}) {
  const k = n++;
  const messages = new SqliteStore(join(dir, `m${k}.sqlite`));
  const pushFile = join(dir, `p${k}.sqlite`);
  const store = new SqlitePushStore(pushFile);
  const provider = new ScriptedProvider();
  const online = new Set<string>();
  let epoch: number | null = 1;
  const conv = `d-${k}`;
  await messages.commit([{ kind: 'conversation', conversation: { id: conv, kind: 'direct', members: [{ user: 'alice', role: 'member' }, { user: 'bob', role: 'member' }], createdAt: 1, subject: '' } }]);
  const open = (claimer: string) =>
    new PushOutbox(
      {
        store,
        messages,
        providers: (p) => (p === 'apns' ? provider : null),
        online: (u, d) => online.has(`${u}/${d}`),
        ownership: { shardOf: () => 0, epochOf: () => epoch },
        claimer,
      },
      { ...OPTS, ...opts },
    );
  let seq = 0;
  const w = {
    messages,
    store,
    provider,
    online,
    conv,
    outbox: open('node-1:a'),
    open,
    setEpoch: (e: number | null) => (epoch = e),
    /** Commit a message from alice (write-ahead owed row, commit, then the live path unless `crash`). */
    async send(body = 'hi', crash = false): Promise<StoredMessage> {
      const m: StoredMessage = { conversation: conv, seq: ++seq, messageId: `m-${k}-${seq}`, sender: 'alice', senderDevice: 'phone', clientMsgId: `c${seq}`, body, meta: {}, serverTs: Date.now() };
      await w.outbox.owe([m]);
      await messages.commit([{ kind: 'message', message: m }]);
      if (!crash) w.outbox.committed(m, ['alice', 'bob']);
      return m;
    },
    async register(user: string, device: string, over: Partial<PushRegistration> = {}) {
      const r: PushRegistration = { user, device, platform: 'apns', token: `tok-${user}-${device}`, appId: 'com.example', mode: 'wake', updatedAt: Date.now(), ...over };
      assert.equal(await store.register(r), 'ok');
      return r;
    },
    async close() {
      await w.outbox.close();
      await store.close();
      await messages.close();
    },
  };
  return w;
}

describe('push outbox', () => {
  it('an offline device gets one content-free push; the owed row is settled and the send recorded', async () => {
    const w = await world();
    await w.register('bob', 'phone');
    await w.register('alice', 'tablet');
    const m = await w.send('secret text');
    await until(() => w.provider.requests.length === 1, 5_000, 'one push');
    const r = w.provider.requests[0];
    assert.equal(r.device.user, 'bob');
    assert.equal(r.device.token, 'tok-bob-phone');
    assert.equal(r.seq, m.seq);
    assert.equal(r.preview, null, 'wake mode carries no content');
    assert.equal(r.collapseId, collapseIdOf(w.conv));
    assert.ok(r.collapseId.length <= 64);
    assert.equal(r.unread, 1);
    await until(async () => (await w.store.owed(0, 10)).length === 0, 5_000, 'settled');
    assert.equal(await w.store.lastSent('bob', 'phone', w.conv), m.seq);
    await sleep(100);
    assert.equal(w.provider.requests.length, 1, 'nothing to the sender\'s own tablet');
    await w.close();
  });

  it('preview mode carries sender and body', async () => {
    const w = await world();
    await w.register('bob', 'phone', { mode: 'preview' });
    await w.send('see you at 8');
    await until(() => w.provider.requests.length === 1);
    assert.deepEqual(w.provider.requests[0].preview, { sender: 'alice', body: 'see you at 8' });
    await w.close();
  });

  it('an online device that acks within ackWaitMs gets no push; one that does not gets it after the wait', async () => {
    const w = await world();
    await w.register('bob', 'phone');
    w.online.add('bob/phone');
    const m1 = await w.send();
    await w.messages.commit([{ kind: 'cursor', cursor: { conversation: w.conv, user: 'bob', device: 'phone', delivered: m1.seq, read: 0 } }]);
    await sleep(OPTS.ackWaitMs + 200);
    assert.equal(w.provider.requests.length, 0, 'acked: no push');
    const t0 = Date.now();
    await w.send();
    await until(() => w.provider.requests.length === 1);
    assert.ok(w.provider.requests[0].at - t0 >= OPTS.ackWaitMs - 5, 'pushed only after the ack wait');
    await w.close();
  });

  it('a muted conversation gets no push', async () => {
    const w = await world();
    await w.register('bob', 'phone');
    await w.store.setMute('bob', w.conv, Date.now() + 60_000);
    await w.send();
    await sleep(300);
    assert.equal(w.provider.requests.length, 0);
    assert.equal((await w.store.owed(0, 10)).length, 0, 'settled with nothing to send');
    await w.close();
  });

  it('20 messages in 2 s: 2 pushes, the second with the newest seq and the unread count', async () => {
    // A window well above the burst: on a loaded box 20 commits can take much longer than 2 s.
    const w = await world({ collapseWindowMs: 12_000 });
    await w.register('bob', 'phone');
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      await w.send(`m${i}`);
      await sleep(100);
    }
    assert.ok(Date.now() - t0 < 12_000, `the burst took ${Date.now() - t0} ms, longer than the window`);
    await until(() => w.provider.requests.length === 2, 20_000, 'the collapsed push');
    await sleep(500);
    assert.equal(w.provider.requests.length, 2);
    assert.deepEqual(w.provider.requests.map((r) => [r.seq, r.unread]), [[1, 1], [20, 20]]);
    assert.equal(new Set(w.provider.requests.map((r) => r.collapseId)).size, 1);
    await until(async () => (await w.store.owed(0, 100)).length === 0, 5_000, 'all 20 settled');
    await w.close();
  });

  it('unregistered: the token is removed, refused on re-registration, never used again', async () => {
    const w = await world();
    const reg = await w.register('bob', 'phone');
    w.provider.script = [{ kind: 'unregistered', reason: 'Unregistered', status: 410 }];
    await w.send();
    await until(async () => (await w.store.devicesOf(['bob'])).length === 0, 5_000, 'registration removed');
    assert.equal(await w.store.register(reg), 'dead_token');
    await w.send();
    await sleep(300);
    assert.equal(w.provider.requests.length, 1, 'the dead token got no second push');
    await w.close();
  });

  it('retry with Retry-After waits at least that long; a provider that is down is retried until it is back', async () => {
    const w = await world();
    await w.register('bob', 'phone');
    w.provider.script = [{ kind: 'retry', reason: 'TooManyRequests', afterMs: 700, status: 429 }];
    await w.send();
    await until(() => w.provider.requests.length === 2, 5_000, 'the retry');
    const gap = w.provider.requests[1].at - w.provider.requests[0].at;
    assert.ok(gap >= 690, `retried after ${gap} ms, Retry-After was 700 ms`);
    w.provider.script = Array.from({ length: 6 }, () => ({ kind: 'retry' as const, reason: 'connect ECONNREFUSED', afterMs: null, status: 0 }));
    await w.send();
    await until(() => w.provider.requests.length === 9, 10_000, 'retries then a send');
    await until(async () => (await w.store.lastSent('bob', 'phone', w.conv)) === 2, 5_000, 'sent once back');
    await w.close();
  });

  it('after a crash the next run sends what was owed, and nothing twice', async () => {
    const w = await world();
    await w.register('bob', 'phone');
    await w.register('bob', 'laptop');
    // Message 1 pushed to both devices, but the process dies before its row is settled.
    const m1 = await w.send();
    await until(() => w.provider.requests.length === 2);
    await w.store.addOwed([{ shard: 0, conversation: w.conv, seq: m1.seq, messageId: m1.messageId, sender: 'alice', senderDevice: 'phone', owedAt: Date.now() }]);
    // Message 2 committed, but the process dies before the live path ran.
    await w.send('x', true);
    // A row whose commit never happened (the seq holds nothing): dropped after the grace.
    await w.store.addOwed([{ shard: 0, conversation: w.conv, seq: 99, messageId: 'never', sender: 'alice', senderDevice: 'phone', owedAt: Date.now() - 120_000 }]);
    await w.outbox.close();
    w.provider.requests.length = 0;
    w.outbox = w.open('node-1:b');
    await w.outbox.acquire(0);
    await until(() => w.provider.requests.length === 2, 5_000, 'the owed pushes of message 2');
    await sleep(300);
    assert.deepEqual(w.provider.requests.map((r) => `${r.device.device}:${r.seq}`).sort(), ['laptop:2', 'phone:2']);
    await until(async () => (await w.store.owed(0, 10)).length === 0, 5_000, 'everything settled');
    // A third run finds nothing owed.
    await w.outbox.close();
    w.outbox = w.open('node-1:c');
    await w.outbox.acquire(0);
    await sleep(300);
    assert.equal(w.provider.requests.length, 2);
    await w.close();
  });

  it('a claim left by a dead run is taken over and sent (at least once); a sent one is not', async () => {
    const w = await world();
    await w.register('bob', 'phone');
    const m = await w.send('x', true);
    await w.store.claimSend({ user: 'bob', device: 'phone', conversation: w.conv, seq: m.seq }, 'node-1:dead');
    await w.outbox.acquire(0);
    await until(() => w.provider.requests.length === 1);
    await w.close();
  });

  it('fenced: a node that no longer owns the shard sends nothing', async () => {
    const w = await world({ ackWaitMs: 200 });
    await w.register('bob', 'phone');
    w.online.add('bob/phone'); // held for the ack wait
    await w.send();
    w.setEpoch(2); // lost and re-taken under a newer epoch: the old plan is void
    await sleep(500);
    assert.equal(w.provider.requests.length, 0);
    assert.equal((await w.store.owed(0, 10)).length, 1, 'still owed, for the owner to resume');
    await w.outbox.acquire(0);
    await until(() => w.provider.requests.length === 1, 5_000, 'resumed under the new epoch');
    await w.close();
  });
});
