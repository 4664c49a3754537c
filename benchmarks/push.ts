/**
 * `npm run bench -- push`: pushes through the durable push outbox (node/push/outbox.ts)
 * to the fake APNs (HTTP/2 + TLS on loopback, node/push/fakes/apns_fake.ts) with the
 * real APNs client, on the real SQLite message and push stores (WAL, synchronous=FULL).
 *
 *   npm run bench -- push [--devices 2000] [--rate 1000] [--seconds 10] [--burst 5000]
 *
 * Two phases, each message to an offline device of its own conversation (one collapse
 * slot per message stream, collapseWindowMs 0, so each message is one push):
 *   burst    --burst messages committed at once (owed rows written ahead, committed
 *            in batches of 256 like the node's writer): pushes/s until the fake has all.
 *   rate     an open loop of --rate messages/s for --seconds: message -> push latency
 *            (the message's server timestamp, set at commit, to the fake receiving the
 *            request) p50 / p99 / max, and whether the outbox kept up.
 * Caps are lifted (providerRatePerSec 1e6) to measure the outbox, not the cap;
 * providerConcurrency stays at the default 100. Results: a table on stdout and
 * results/<timestamp>-push/result.json.
 *
 * `--node` measures through a real node instead (benchmarks/push_node.ts): send -> ack
 * with push off and on, and message -> push end to end (`--unregistered`: push on, no
 * recipient registered: what the write-ahead and planning cost alone).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkKnown, num, type Flags } from '../ops/lib/args.js';
import { finishRun, startRun } from './lib/run_output.js';
import { SqliteStore } from '../node/store/sqlite_store.js';
import type { StoredMessage, WriteOp } from '../node/store/types.js';
import { SqlitePushStore } from '../node/push/sqlite_push_store.js';
import { PushOutbox } from '../node/push/outbox.js';
import { ApnsProvider } from '../node/push/providers/apns.js';
import { loadApnsCredentials } from '../node/push/providers/credentials.js';
import { FakeApns } from '../node/push/fakes/apns_fake.js';
import { selfSignedCert } from '../node/push/fakes/tls.js';
import { apnsDeviceToken, apnsTestKey } from '../node/push/fakes/keys.js';
import { defaultConfig } from '../node/config.js';
import { runPushNodeBench } from './push_node.js';

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runPush(flags: Flags, argv: string[]): Promise<unknown> {
  checkKnown(flags, ['devices', 'rate', 'seconds', 'burst', 'smoke', 'out', 'node', 'pairs', 'unregistered']);
  const smoke = flags.has('smoke');
  if (flags.has('node')) return runNodeMode(flags, argv);
  const devices = num(flags, 'devices', smoke ? 200 : 2000);
  const rate = num(flags, 'rate', smoke ? 200 : 1000);
  const seconds = num(flags, 'seconds', smoke ? 2 : 10);
  const burst = num(flags, 'burst', smoke ? 500 : 5000);
  const { startedAt, machine } = startRun();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-bench-push-'));
  const tls = selfSignedCert();
  const key = apnsTestKey();
  const fake = await FakeApns.start({ cert: tls.cert, key: tls.key, teamId: key.teamId, keyId: key.keyId, publicKey: key.publicKey });
  const apnsCfg = { ...defaultConfig().push.apns, enabled: true, teamId: key.teamId, keyId: key.keyId, topic: 'com.example.bench', keyPem: key.pem };
  const provider = new ApnsProvider({ endpoint: fake.url, topic: apnsCfg.topic, credentials: loadApnsCredentials(apnsCfg), tokenRefreshMs: apnsCfg.tokenRefreshMs, timeoutMs: 10_000, ca: tls.cert });
  const messages = new SqliteStore(path.join(dir, 'messages.sqlite'));
  const store = new SqlitePushStore(path.join(dir, 'push.sqlite'));
  const p = defaultConfig().push;
  const outbox = new PushOutbox(
    { store, messages, providers: (pl) => (pl === 'apns' ? provider : null), online: () => false, ownership: { shardOf: () => 0, epochOf: () => 1 }, claimer: 'bench:1' },
    { ...p, collapseWindowMs: 0, providerRatePerSec: 1_000_000, endpointRatePerSec: 1_000_000, endpointConcurrency: p.providerConcurrency },
  );
  const convs: string[] = [];
  const setup: WriteOp[] = [];
  for (let i = 0; i < devices; i++) {
    const user = `u${i}`;
    const conv = `d-alice-${user}`;
    convs.push(conv);
    setup.push({ kind: 'conversation', conversation: { id: conv, kind: 'direct', members: [{ user: 'alice', role: 'member' }, { user, role: 'member' }], createdAt: Date.now(), subject: '' } });
    await store.register({ user, device: 'phone', platform: 'apns', token: apnsDeviceToken(), appId: '', mode: 'wake', updatedAt: Date.now() });
  }
  for (let i = 0; i < setup.length; i += 256) await messages.commit(setup.slice(i, i + 256));
  const seqs = new Map<string, number>();
  let n = 0;
  const make = (): StoredMessage => {
    const conversation = convs[n++ % convs.length];
    const seq = (seqs.get(conversation) ?? 0) + 1;
    seqs.set(conversation, seq);
    return { conversation, seq, messageId: `m${n}`, sender: 'alice', senderDevice: 'phone', clientMsgId: `c${n}`, body: 'x'.repeat(100), meta: {}, serverTs: Date.now() };
  };
  /** What the node's writer sink and fan-out do: owed rows, the commit, then the live path. */
  const commit = async (batch: StoredMessage[]) => {
    await outbox.owe(batch);
    const now = Date.now();
    for (const m of batch) m.serverTs = now;
    await messages.commit(batch.map((message) => ({ kind: 'message', message })));
    for (const m of batch) outbox.committed(m, ['alice', m.conversation.slice('d-alice-'.length)]);
  };
  const waitFor = async (count: number, ms: number) => {
    const end = Date.now() + ms;
    while (fake.delivered.length < count && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    return fake.delivered.length >= count;
  };

  // Phase 1: burst.
  const b0 = Date.now();
  const bMsgs = Array.from({ length: Math.min(burst, devices) }, make);
  for (let i = 0; i < bMsgs.length; i += 256) await commit(bMsgs.slice(i, i + 256));
  const bCommitted = Date.now();
  const bOk = await waitFor(bMsgs.length, 120_000);
  const bEnd = Date.now();
  const burstFig = { pushes: bMsgs.length, allDelivered: bOk, commitMs: bCommitted - b0, totalMs: bEnd - b0, pushesPerSec: Math.round((bMsgs.length / (bEnd - b0)) * 1000) };
  console.log(`burst: ${bMsgs.length} pushes in ${bEnd - b0} ms (${burstFig.pushesPerSec}/s; commits ${bCommitted - b0} ms)`);
  await new Promise((r) => setTimeout(r, 200));

  // Phase 2: open loop at --rate, latency from the message's commit timestamp to the fake.
  const before = fake.delivered.length;
  const sent: StoredMessage[] = [];
  const tick = 10;
  const r0 = Date.now();
  let due = 0;
  while (Date.now() - r0 < seconds * 1000) {
    due = Math.floor(((Date.now() - r0) / 1000) * rate);
    const batch: StoredMessage[] = [];
    while (sent.length + batch.length < due) batch.push(make());
    if (batch.length) {
      await commit(batch);
      sent.push(...batch);
    }
    await new Promise((r) => setTimeout(r, tick));
  }
  const rOk = await waitFor(before + sent.length, 60_000);
  const got = fake.delivered.slice(before);
  const sentAt = new Map(sent.map((m) => [`${m.conversation}/${m.seq}`, m.serverTs]));
  const lat: number[] = [];
  for (const r of got) {
    const body = r.body as { conversation?: string; seq?: number } | null;
    const t = body ? sentAt.get(`${body.conversation}/${body.seq}`) : undefined;
    if (t !== undefined) lat.push(r.at - t);
  }
  lat.sort((a, b) => a - b);
  const rateFig = { rate, seconds, messages: sent.length, pushes: got.length, allDelivered: rOk, pushesPerSec: Math.round((got.length / (Math.max(...got.map((r) => r.at)) - r0)) * 1000), p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: lat[lat.length - 1] };
  console.log(`rate ${rate}/s for ${seconds} s: ${got.length}/${sent.length} pushes, message->push p50 ${rateFig.p50Ms} ms, p99 ${rateFig.p99Ms} ms, max ${rateFig.maxMs} ms`);

  await outbox.close();
  await provider.close();
  await fake.close();
  await store.close();
  await messages.close();
  rmSync(dir, { recursive: true, force: true });
  const figures = { burst: burstFig, rate: rateFig, providerCalls: outbox.calls };
  finishRun({
    scenario: 'push',
    startedAt,
    machine,
    argv,
    flags,
    config: { devices, rate, seconds, burst, outbox: { collapseWindowMs: 0, providerConcurrency: p.providerConcurrency }, stores: 'SQLite WAL synchronous=FULL (messages, push)', provider: 'APNs client -> fake APNs (HTTP/2 + TLS, loopback)' },
    figures,
    tables: [
      {
        title: 'push outbox -> fake APNs',
        header: ['phase', 'messages', 'pushes', 'pushes/s', 'p50 ms', 'p99 ms', 'max ms'],
        rows: [
          ['burst', bMsgs.length, bMsgs.length, burstFig.pushesPerSec, '-', '-', '-'],
          [`rate ${rate}/s`, sent.length, got.length, rateFig.pushesPerSec, rateFig.p50Ms, rateFig.p99Ms, rateFig.maxMs],
        ],
      },
    ],
    charts: [],
    notes: [
      'Each push: the owed row (write-ahead), device and mute reads, the cursor read, a durable claim, the HTTP/2 request, the durable mark-sent; the owed row is settled in batches.',
      'Latency runs from the message commit (serverTs) to the fake receiving the request (same clock).',
    ],
  });
  return figures;
}

async function runNodeMode(flags: Flags, argv: string[]): Promise<unknown> {
  const { startedAt, machine } = startRun();
  const runs = await runPushNodeBench(flags);
  finishRun({
    scenario: 'push-node',
    startedAt,
    machine,
    argv,
    flags,
    config: { store: 'sqlite (embedded)', provider: 'APNs client -> fake APNs (HTTP/2 + TLS, loopback)', collapseWindowMs: 0, load: 'open loop over WebSocket (proto), every recipient offline' },
    figures: runs,
    tables: [
      {
        title: 'through a node: send -> ack with push off / on, message -> push',
        header: ['push', 'sent', 'acked', 'errors', 'ack p50 ms', 'ack p99 ms', 'pushes', 'push p50 ms', 'push p99 ms'],
        rows: runs.map((r) => [r.mode, r.sent, r.acked, r.errors, r.ackP50Ms, r.ackP99Ms, r.pushes, r.mode === 'on' ? r.pushP50Ms : '-', r.mode === 'on' ? r.pushP99Ms : '-']),
      },
    ],
    charts: [],
    notes: ['message -> push runs from the ack\'s server_ts (the message durable) to the fake receiving the request; the two runs use fresh nodes and the same load.'],
  });
  return runs;
}
