/**
 * SwitchboardClient against a scripted server on a fake clock: the §6 algorithm step
 * by step (sync, dedup, acks after storage, gaps, resync), the outbox (FIFO per
 * conversation, same client_msg_id on every resend, retry_after_ms, no retry on
 * terminal codes, persisted before it is sent), reconnect policy (full jitter, goaway,
 * terminal closes) and ticks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptKind } from '../gen/client_pb.js';
import { SwitchboardClient } from './client.js';
import { FakeClock } from './fake_clock.js';
import { FakeServer, type FakeSocket, type ServerInit } from './fake_server.js';
import { MemoryStorage, type SdkStorage } from './storage.js';
import type { PersistedState, SdkEvents } from './types.js';

const C = 'd_conv';

function setup(o: { storage?: SdkStorage; token?: string | (() => Promise<string>); random?: () => number } = {}) {
  const clock = new FakeClock();
  const server = new FakeServer();
  const client = new SwitchboardClient({
    url: 'ws://sb.test/v1/ws',
    auth: { token: o.token ?? 'tok' },
    WebSocket: server.ctor,
    storage: o.storage ?? new MemoryStorage(),
    clock,
    random: o.random ?? (() => 0.5),
  });
  const statuses: string[] = [];
  client.on('status', (s) => statuses.push(s.status));
  return { clock, server, client, statuses };
}

const welcome = (clock: FakeClock): ServerInit => ({
  kind: { case: 'welcome', value: { user: 'alice', device: 'phone', node: 'n1', serverTs: BigInt(clock.now()), maxFrameBytes: 65536, heartbeatMs: 20_000, idleTimeoutMs: 60_000, maxSyncPage: 1000 } },
});

const msg = (seq: number, sender = 'bob', body = `m${seq}`, clientMsgId = `${sender}-${seq}`) => ({
  conversation: C,
  seq: BigInt(seq),
  messageId: `id-${seq}`,
  sender,
  senderDevice: 'x',
  clientMsgId,
  body,
  serverTs: 1000n + BigInt(seq),
});

/** Answer the socket's latest sync with one last page holding `messages`. */
function page(ws: FakeSocket, messages: ReturnType<typeof msg>[], last: number, extra: Partial<{ firstSeq: number; resync: boolean }> = {}): void {
  const req = ws.of('sync').at(-1)!;
  ws.push({
    reqId: req.reqId,
    kind: {
      case: 'syncPage',
      value: {
        messages,
        conversations: [{ conversation: C, lastSeq: BigInt(last), firstSeq: BigInt(extra.firstSeq ?? 1), nextCursor: BigInt(last), resyncRequired: extra.resync ?? false }],
        hasMore: false,
      },
    },
  });
}

/** Open the socket, welcome, answer the first sync; the client is then online. */
async function online(t: ReturnType<typeof setup>, messages: ReturnType<typeof msg>[] = [], last = messages.length, kind = 'direct'): Promise<FakeSocket> {
  await t.clock.advance(0);
  const ws = t.server.last;
  ws.open();
  ws.push(welcome(t.clock));
  await t.clock.advance(0);
  page(ws, messages, last);
  await t.clock.advance(0);
  // list_conversations after the first sync: answer it so the client knows the peer.
  const list = ws.of('listConversations').at(-1);
  if (list) ws.push({ reqId: list.reqId, kind: { case: 'conversations', value: { conversations: [{ conversation: C, kind, members: ['alice', 'bob'], lastSeq: BigInt(last) }] } } });
  await t.clock.advance(0);
  return ws;
}

test('connect: token in the Authorization header, JSON subprotocol; sync first, then online', async () => {
  const t = setup();
  await t.client.start();
  const ws = await online(t);
  assert.equal(ws.headers?.authorization, 'Bearer tok');
  assert.deepEqual(ws.protocols, ['switchboard.v1.json']);
  assert.equal(ws.sent[0].kind.case, 'sync', 'the first frame is a sync');
  assert.deepEqual(t.statuses, ['connecting', 'syncing', 'online']);
});

test('dedup by (conversation, seq): a push, a duplicate push and a page carrying the same seq show once; ack after storage', async () => {
  const t = setup();
  const shown: SdkEvents['message'][] = [];
  t.client.on('message', (m) => shown.push(m));
  await t.client.start();
  const ws = await online(t, [msg(1)]);
  ws.push({ kind: { case: 'message', value: msg(2) } });
  ws.push({ kind: { case: 'message', value: msg(2) } });
  await t.clock.advance(100);
  assert.deepEqual(shown.map((m) => m.seq), [1, 2]);
  assert.deepEqual(t.client.messages(C).map((m) => m.body), ['m1', 'm2']);
  assert.deepEqual(ws.of('ack').map((a) => Number(a.seq)), [1, 2], 'one ack per cursor move, never twice for the same seq');
});

test('a seq gap makes the client sync with its cursor; the page fills it', async () => {
  const t = setup();
  await t.client.start();
  const ws = await online(t, [msg(1)]);
  ws.push({ kind: { case: 'message', value: msg(3) } });
  await t.clock.advance(499);
  assert.equal(ws.of('sync').length, 1, 'waits briefly: the hole may be our own send in flight');
  await t.clock.advance(1);
  const s = ws.of('sync');
  assert.equal(s.length, 2);
  assert.deepEqual(s[1].cursors.map((c) => [c.conversation, Number(c.seq)]), [[C, 1]]);
  page(ws, [msg(2)], 3);
  await t.clock.advance(100);
  assert.deepEqual(t.client.messages(C).map((m) => m.seq), [1, 2, 3]);
  assert.equal(t.client.conversation(C)!.cursor, 3);
});

test('resync_required drops what is held and restarts at first_seq', async () => {
  const t = setup();
  const resynced: string[] = [];
  t.client.on('resync', (r) => resynced.push(r.conversation));
  await t.client.start();
  const ws = await online(t, [msg(1), msg(2)]);
  ws.drop(4000);
  await t.clock.advance(300);
  const ws2 = t.server.last;
  assert.notEqual(ws2, ws);
  ws2.open();
  ws2.push(welcome(t.clock));
  await t.clock.advance(0);
  page(ws2, [msg(10), msg(11)], 11, { firstSeq: 10, resync: true });
  await t.clock.advance(100);
  assert.deepEqual(resynced, [C]);
  assert.deepEqual(t.client.messages(C).map((m) => m.seq), [10, 11]);
  assert.equal(t.client.conversation(C)!.cursor, 11);
});

test('outbox: one FIFO per conversation, head only on the wire, same client_msg_id on resend after a timeout', async () => {
  const t = setup();
  await t.client.start();
  const ws = await online(t);
  const e1 = t.client.send(C, 'one');
  const e2 = t.client.send(C, 'two');
  t.client.send('d_other', 'elsewhere');
  await t.clock.advance(0);
  assert.deepEqual(ws.of('send').map((s) => s.body), ['one', 'elsewhere'], 'one in flight per conversation');
  await t.clock.advance(10_000);
  assert.deepEqual(ws.of('send').filter((s) => s.conversation === C).map((s) => s.clientMsgId), [e1.clientMsgId, e1.clientMsgId], 'resent after 10 s, same id');
  const first = ws.of('send')[0];
  ws.push({ reqId: first.reqId, kind: { case: 'sendAck', value: { conversation: C, clientMsgId: e1.clientMsgId, messageId: 'x1', seq: 1n, serverTs: 5n } } });
  await t.clock.advance(0);
  assert.equal(ws.of('send').at(-1)!.clientMsgId, e2.clientMsgId, 'the next one goes after the ack');
  assert.equal(t.client.tick(C, 1), 'sent');
  assert.deepEqual(t.client.pending(C).map((e) => e.body), ['two']);
});

test('outbox: rate_limited waits retry_after_ms; a terminal code is never retried and the queue moves on', async () => {
  const t = setup();
  const errors: SdkEvents['error'][] = [];
  t.client.on('error', (e) => errors.push(e));
  await t.client.start();
  const ws = await online(t);
  const e1 = t.client.send(C, 'one');
  const e2 = t.client.send(C, 'two');
  await t.clock.advance(0);
  let s = ws.of('send');
  ws.push({ reqId: s[0].reqId, kind: { case: 'error', value: { code: 'rate_limited', message: 'slow down', retryable: true, retryAfterMs: 700, conversation: C, clientMsgId: e1.clientMsgId } } });
  await t.clock.advance(699);
  assert.equal(ws.of('send').length, 1, 'not before retry_after_ms');
  await t.clock.advance(1);
  s = ws.of('send');
  assert.equal(s.length, 2);
  assert.equal(s[1].clientMsgId, e1.clientMsgId);
  ws.push({ reqId: s[1].reqId, kind: { case: 'error', value: { code: 'not_member', message: 'no', retryable: false, conversation: C, clientMsgId: e1.clientMsgId } } });
  await t.clock.advance(0);
  s = ws.of('send');
  assert.equal(s.at(-1)!.clientMsgId, e2.clientMsgId, 'the failed one is skipped');
  await t.clock.advance(30_000);
  assert.equal(ws.of('send').filter((x) => x.clientMsgId === e1.clientMsgId).length, 2, 'never resent after a terminal error');
  assert.equal(t.client.pending(C)[0].failed?.code, 'not_member');
  assert.deepEqual(errors.map((e) => [e.code, e.clientMsgId]), [['not_member', e1.clientMsgId]]);
});

test('outbox entries are stored before they are sent, and resent unchanged by the next run', async () => {
  let release: () => void = () => undefined;
  const saved: PersistedState[] = [];
  const slow: SdkStorage = {
    load: async () => undefined,
    save: (s) =>
      new Promise<void>((r) => {
        release = () => {
          saved.push(JSON.parse(JSON.stringify(s)) as PersistedState);
          r();
        };
      }),
  };
  const t = setup({ storage: slow });
  await t.client.start();
  await t.clock.advance(0);
  const ws = t.server.last;
  ws.open();
  ws.push(welcome(t.clock));
  await t.clock.advance(0);
  page(ws, [], 0);
  for (let i = 0; i < 5; i++) {
    release();
    await t.clock.advance(0);
  }
  const e = t.client.send(C, 'keep me');
  await t.clock.advance(0);
  assert.equal(ws.of('send').length, 0, 'not on the wire before storage has it');
  release();
  await t.clock.advance(0);
  assert.equal(ws.of('send').length, 1);
  assert.deepEqual(saved.at(-1)!.outbox.map((x) => x.clientMsgId), [e.clientMsgId]);

  // A new run (a reload) on that snapshot sends the same entry after its sync.
  const mem = new MemoryStorage();
  await mem.save(saved.at(-1)!);
  const t2 = setup({ storage: mem });
  await t2.client.start();
  const ws2 = await online(t2);
  assert.deepEqual(ws2.of('send').map((s) => [s.clientMsgId, s.body]), [[e.clientMsgId, 'keep me']]);
  const kinds = ws2.sent.map((f) => f.kind.case);
  assert.ok(kinds.indexOf('sync') < kinds.indexOf('send'), 'the outbox is resent after the sync (§6.1)');
});

test('a message of ours found in a sync page settles its outbox entry (the ack was lost)', async () => {
  const t = setup();
  await t.client.start();
  const ws = await online(t);
  const e = t.client.send(C, 'lost ack');
  await t.clock.advance(0);
  ws.drop(1006);
  await t.clock.advance(300);
  const ws2 = t.server.last;
  ws2.open();
  ws2.push(welcome(t.clock));
  await t.clock.advance(0);
  page(ws2, [msg(1, 'alice', 'lost ack', e.clientMsgId)], 1);
  await t.clock.advance(100);
  assert.equal(t.client.pending(C).length, 0);
  assert.equal(ws2.of('send').length, 0, 'not resent: the page proved it stored');
  assert.deepEqual(t.client.messages(C).map((m) => m.body), ['lost ack']);
});

test('reconnect: full-jitter backoff grows to the cap; goaway sets the delay; terminal codes stop', async () => {
  const t = setup({ random: () => 0.999999 });
  const retries: number[] = [];
  t.client.on('status', (s) => s.retryInMs !== undefined && retries.push(s.retryInMs));
  await t.client.start();
  await t.clock.advance(0);
  for (let i = 0; i < 8; i++) {
    t.server.last.drop(1006);
    await t.clock.advance(retries.at(-1)!);
  }
  assert.deepEqual(retries, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);

  const ws = t.server.last;
  ws.open();
  ws.push(welcome(t.clock));
  await t.clock.advance(0);
  ws.push({ kind: { case: 'goaway', value: { reconnectAfterMs: 3210, reason: 'node draining' } } });
  ws.drop(4001);
  await t.clock.advance(0);
  assert.equal(retries.at(-1), 3210, 'goaway.reconnect_after_ms, not the backoff');
  const n = t.server.sockets.length;
  await t.clock.advance(3209);
  assert.equal(t.server.sockets.length, n);
  await t.clock.advance(1);
  assert.equal(t.server.sockets.length, n + 1);

  t.server.last.drop(4403);
  await t.clock.advance(60_000);
  assert.equal(t.server.sockets.length, n + 1, 'no reconnect after 4403');
  assert.equal(t.client.status, 'stopped');
});

test('4401 with a fixed token is terminal; with a token function it fetches a new one and retries', async () => {
  const t = setup();
  await t.client.start();
  await t.clock.advance(0);
  t.server.last.drop(4401);
  await t.clock.advance(60_000);
  assert.equal(t.server.sockets.length, 1);
  assert.equal(t.client.status, 'stopped');

  let calls = 0;
  const t2 = setup({ token: async () => `tok-${++calls}` });
  await t2.client.start();
  await t2.clock.advance(0);
  t2.server.last.drop(4402);
  await t2.clock.advance(1000);
  assert.equal(t2.server.sockets.length, 2);
  assert.equal(t2.server.last.headers?.authorization, 'Bearer tok-2');
});

test('ticks: ✓ on send_ack, ✓✓ on the delivered watermark, blue on read (read implies delivered)', async () => {
  const t = setup();
  await t.client.start();
  const ws = await online(t);
  const e1 = t.client.send(C, 'a');
  await t.clock.advance(0);
  ws.push({ reqId: ws.of('send')[0].reqId, kind: { case: 'sendAck', value: { conversation: C, clientMsgId: e1.clientMsgId, messageId: 'x', seq: 1n, serverTs: 1n } } });
  const e2 = t.client.send(C, 'b');
  await t.clock.advance(0);
  ws.push({ reqId: ws.of('send')[1].reqId, kind: { case: 'sendAck', value: { conversation: C, clientMsgId: e2.clientMsgId, messageId: 'y', seq: 2n, serverTs: 2n } } });
  await t.clock.advance(0);
  assert.deepEqual([t.client.tick(C, 1), t.client.tick(C, 2)], ['sent', 'sent']);
  ws.push({ kind: { case: 'receipt', value: { conversation: C, user: 'bob', kind: ReceiptKind.DELIVERED, seq: 1n } } });
  await t.clock.advance(0);
  assert.deepEqual([t.client.tick(C, 1), t.client.tick(C, 2)], ['delivered', 'sent']);
  ws.push({ kind: { case: 'receipt', value: { conversation: C, user: 'bob', kind: ReceiptKind.READ, seq: 2n } } });
  await t.clock.advance(0);
  assert.deepEqual([t.client.tick(C, 1), t.client.tick(C, 2)], ['read', 'read']);
  ws.push({ kind: { case: 'receipt', value: { conversation: C, user: 'bob', kind: ReceiptKind.DELIVERED, seq: 1n } } });
  await t.clock.advance(0);
  assert.equal(t.client.tick(C, 2), 'read', 'watermarks never move back');
});

test('a silent socket is pinged after a heartbeat and dropped when the pong does not come', async () => {
  const t = setup();
  await t.client.start();
  const ws = await online(t);
  await t.clock.advance(20_000);
  assert.equal(ws.of('ping').length, 1);
  await t.clock.advance(10_000);
  assert.equal(t.client.status, 'offline');
});

test('a sync refused because a cursor is above the server\'s last seq (data lost): align with list_conversations, sync again', async () => {
  const t = setup();
  const resynced: string[] = [];
  t.client.on('resync', (r) => resynced.push(r.conversation));
  await t.client.start();
  const ws = await online(t, [msg(1), msg(2), msg(3)]);
  ws.drop(4000);
  await t.clock.advance(300);
  const ws2 = t.server.last;
  ws2.open();
  ws2.push(welcome(t.clock));
  await t.clock.advance(0);
  const s1 = ws2.of('sync')[0];
  assert.equal(Number(s1.cursors[0].seq), 3);
  ws2.push({ reqId: s1.reqId, kind: { case: 'error', value: { code: 'invalid_argument', message: `cursors: 3 for ${C} is above the conversation's last seq 1` } } });
  await t.clock.advance(0);
  const list = ws2.of('listConversations').at(-1)!;
  ws2.push({ reqId: list.reqId, kind: { case: 'conversations', value: { conversations: [{ conversation: C, kind: 'direct', members: ['alice', 'bob'], lastSeq: 1n }] } } });
  await t.clock.advance(0);
  const s2 = ws2.of('sync')[1];
  assert.equal(Number(s2.cursors[0].seq), 1, 'the cursor follows the server');
  page(ws2, [], 1);
  await t.clock.advance(100);
  assert.equal(t.client.status, 'online', 'no reconnect loop');
  assert.deepEqual(t.client.messages(C).map((m) => m.seq), [1]);
  assert.deepEqual(resynced, [C]);
});

test('group ticks come from group_receipts counts: ✓✓ when every other member has it, blue when all read', async () => {
  const t = setup();
  await t.client.start();
  const created = { ...msg(1, 'alice', '', 'sys-1'), meta: { system: 'group_created', by: 'alice', subject: 'crew' } };
  const ws = await online(t, [created], 1, 'group');
  const e = t.client.send(C, 'to the group');
  await t.clock.advance(0);
  ws.push({ reqId: ws.of('send')[0].reqId, kind: { case: 'sendAck', value: { conversation: C, clientMsgId: e.clientMsgId, messageId: 'g2', seq: 2n, serverTs: 2n } } });
  await t.clock.advance(0);
  assert.equal(t.client.conversation(C)!.subject, 'crew', 'the subject from the system message');
  const counts = (delivered: number, read: number): ServerInit => ({ kind: { case: 'groupReceipts', value: { conversation: C, members: 3, counts: [{ seq: 2n, delivered, read }] } } });
  assert.equal(t.client.tick(C, 2), 'sent');
  ws.push(counts(2, 1));
  await t.clock.advance(0);
  assert.equal(t.client.tick(C, 2), 'sent', '2 of 3 members is not delivered');
  ws.push(counts(3, 1));
  await t.clock.advance(0);
  assert.equal(t.client.tick(C, 2), 'delivered');
  ws.push(counts(3, 3));
  await t.clock.advance(0);
  assert.equal(t.client.tick(C, 2), 'read');
});

test('typing shows until until_ms, and ends at once when that user\'s message arrives', async () => {
  const t = setup();
  await t.client.start();
  const ws = await online(t, [msg(1)]);
  ws.push({ kind: { case: 'typing', value: { conversation: C, user: 'bob', untilMs: BigInt(t.clock.now() + 6000) } } });
  await t.clock.advance(0);
  assert.deepEqual(t.client.typingIn(C), ['bob']);
  await t.clock.advance(1000);
  ws.push({ kind: { case: 'message', value: msg(2) } });
  await t.clock.advance(0);
  assert.deepEqual(t.client.typingIn(C), [], 'his message ends it');
  ws.push({ kind: { case: 'typing', value: { conversation: C, user: 'bob', untilMs: BigInt(t.clock.now() + 6000) } } });
  await t.clock.advance(6001);
  assert.deepEqual(t.client.typingIn(C), [], 'expired');
});

test('reconnectNow skips the rest of the backoff (the browser says the network is back)', async () => {
  const t = setup({ random: () => 0.999999 });
  await t.client.start();
  await t.clock.advance(0);
  for (let i = 0; i < 5; i++) {
    t.server.last.drop(1006);
    await t.clock.advance(20_000);
  }
  t.server.last.drop(1006);
  await t.clock.advance(10);
  const n = t.server.sockets.length;
  t.client.reconnectNow();
  await t.clock.advance(0);
  assert.equal(t.server.sockets.length, n + 1, 'a new socket at once');
  t.client.reconnectNow();
  await t.clock.advance(0);
  assert.equal(t.server.sockets.length, n + 1, 'no second socket while one is opening');
});
