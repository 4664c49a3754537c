/**
 * `npm run bench -- push --node`: push notifications end to end through a real node
 * (SQLite, one process started like the e2e tests) to the fake APNs on loopback, and
 * what push costs the send path.
 *
 *   npm run bench -- push --node [--pairs 50] [--rate 200] [--seconds 10]
 *
 * Two runs on fresh nodes with the same open-loop load (--rate sends/s over --pairs
 * alice -> bob conversations, alice connected over WebSocket, every bob offline):
 *   off   no push provider enabled (the node writes no owed rows)
 *   on    APNs enabled, every bob registered (collapseWindowMs 0: every message a push)
 * Figures: send -> ack p50/p99 for both (the write-ahead owed rows are one more durable
 * write per store batch), and for `on` the pushes the fake accepted and message -> push
 * latency (the ack's server_ts to the fake receiving the request) p50/p99.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { num, type Flags } from '../ops/lib/args.js';
import { TestNode } from '../node/e2e/harness.js';
import { FakeApns } from '../node/push/fakes/apns_fake.js';
import { selfSignedCert } from '../node/push/fakes/tls.js';
import { apnsDeviceToken, apnsTestKey } from '../node/push/fakes/keys.js';
import type { TestClient } from '../protocol/client.js';

export interface NodeRun {
  mode: 'off' | 'on';
  sent: number;
  acked: number;
  errors: number;
  ackP50Ms: number;
  ackP99Ms: number;
  pushes: number;
  pushP50Ms: number;
  pushP99Ms: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runPushNodeBench(flags: Flags): Promise<NodeRun[]> {
  const smoke = flags.has('smoke');
  const pairs = num(flags, 'pairs', smoke ? 5 : 50);
  const rate = num(flags, 'rate', smoke ? 50 : 200);
  const seconds = num(flags, 'seconds', smoke ? 2 : 10);
  // --unregistered: push on, but no recipient registered (what the write-ahead and planning cost alone).
  const registered = !flags.has('unregistered');
  const tls = selfSignedCert();
  const key = apnsTestKey();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-bench-push-node-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, tls.cert);
  const runs: NodeRun[] = [];
  try {
    for (const mode of ['off', 'on'] as const) {
      // A fresh fake per run: each node signs its own provider token (the fake allows one per 20 min).
      const apns = await FakeApns.start({ cert: tls.cert, key: tls.key, teamId: key.teamId, keyId: key.keyId, publicKey: key.publicKey });
      const push =
        mode === 'on'
          ? { push: { collapseWindowMs: 0, apns: { enabled: true, endpoint: apns.url, teamId: key.teamId, keyId: key.keyId, topic: 'com.example.bench', keyPem: key.pem, caFile } } }
          : {};
      const limits = { limits: { sendRatePerSec: 10_000, sendBurst: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 } };
      const node = await TestNode.start({ config: { ...limits, ...push, shards: { count: 1 } } });
      const clients: TestClient[] = [];
      try {
        const convs: string[] = [];
        for (let i = 0; i < pairs; i++) {
          const r = await node.api('POST', '/v1/conversations/direct', { users: [`alice-${i}`, `bob-${i}`] });
          convs.push(r.body.conversation as string);
          if (mode === 'on' && registered) await node.api('PUT', `/v1/users/bob-${i}/devices/phone/push`, { platform: 'apns', token: apnsDeviceToken() });
          clients.push(await node.connect(`alice-${i}`, 'phone', { encoding: 'proto' }));
        }
        const sentAt = new Map<string, number>();
        const ackMs: number[] = [];
        const serverTs = new Map<string, number>();
        let errors = 0;
        clients.forEach((c, i) => {
          c.onFrame = (f) => {
            if (f.kind.case === 'sendAck') {
              const k = `${i}/${f.reqId}`;
              const t = sentAt.get(k);
              if (t !== undefined) ackMs.push(performance.now() - t);
              serverTs.set(`${f.kind.value.conversation}/${Number(f.kind.value.seq)}`, Number(f.kind.value.serverTs));
            } else if (f.kind.case === 'error') errors++;
          };
        });
        let sent = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < seconds * 1000) {
          const due = Math.floor(((performance.now() - t0) / 1000) * rate);
          while (sent < due) {
            const i = sent % pairs;
            const reqId = clients[i].send({ kind: { case: 'send', value: { conversation: convs[i], clientMsgId: `m${sent}`, body: 'x'.repeat(100) } } });
            sentAt.set(`${i}/${reqId}`, performance.now());
            sent++;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        const end = Date.now() + 15_000;
        while ((ackMs.length + errors < sent || (mode === 'on' && registered && apns.delivered.length < ackMs.length)) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        const pushMs: number[] = [];
        for (const r of apns.delivered) {
          const b = r.body as { conversation: string; seq: number };
          const t = serverTs.get(`${b.conversation}/${b.seq}`);
          if (t !== undefined) pushMs.push(r.at - t);
        }
        ackMs.sort((a, b) => a - b);
        pushMs.sort((a, b) => a - b);
        const run: NodeRun = { mode, sent, acked: ackMs.length, errors, ackP50Ms: round(pct(ackMs, 50)), ackP99Ms: round(pct(ackMs, 99)), pushes: apns.delivered.length, pushP50Ms: round(pct(pushMs, 50)), pushP99Ms: round(pct(pushMs, 99)) };
        console.log(`node, push ${mode}: ${run.acked}/${sent} acked (p50 ${run.ackP50Ms} ms, p99 ${run.ackP99Ms} ms), ${run.pushes} pushes (message->push p50 ${run.pushP50Ms} ms, p99 ${run.pushP99Ms} ms)`);
        runs.push(run);
      } finally {
        for (const c of clients) c.close();
        await node.stop();
        node.cleanup();
        await apns.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return runs;
}

function round(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 10) / 10 : n;
}
