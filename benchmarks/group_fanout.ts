/**
 * 1024-member group fan-out on one node: deliveries per second and the time until
 * the LAST member has each message (p50 / p99 / max).
 *
 *   node --import tsx benchmarks/group_fanout.ts [--members 1024] [--messages 200]
 *
 * Starts a real node (node/e2e/harness.ts), connects every member over the binary
 * encoding from this process, syncs them, creates the group, then sends messages one
 * after another (each waits until every member has the previous one, so the figure
 * is per-message latency, not queueing under overload).
 */
import WebSocket from 'ws';
import { fromBinary } from '@bufbuild/protobuf';
import { ServerFrameSchema } from '../protocol/gen/client_pb.js';
import { syncAll, TestNode } from '../node/e2e/harness.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MEMBERS = arg('members', 1024);
const MESSAGES = arg('messages', 200);

const node = await TestNode.start({ config: { limits: { sendRatePerSec: 10_000, sendBurst: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 } } });
try {
  const users = Array.from({ length: MEMBERS - 1 }, (_, i) => `bm${i}`);
  const admin = await node.connect('badmin', 'phone', { encoding: 'proto' });
  await syncAll(admin);
  // Members: TestClients for the handshake and sync; then a raw listener that only
  // decodes the seq, so the client side does not dominate the measurement.
  const arrivals = new Map<number, number>(); // seq -> members that have it
  const done = new Map<number, () => void>();
  for (let i = 0; i < users.length; i += 128) {
    const batch = await Promise.all(users.slice(i, i + 128).map((u) => node.connect(u, 'phone', { encoding: 'proto' })));
    await Promise.all(batch.map((c) => syncAll(c)));
    for (const c of batch) {
      (c.ws as WebSocket).removeAllListeners('message');
      (c.ws as WebSocket).on('message', (data: Buffer) => {
        const f = fromBinary(ServerFrameSchema, new Uint8Array(data));
        if (f.kind.case !== 'message') return;
        const seq = Number(f.kind.value.seq);
        const n = (arrivals.get(seq) ?? 0) + 1;
        arrivals.set(seq, n);
        if (n === users.length) done.get(seq)?.();
      });
    }
  }
  const created = await admin.call({ kind: { case: 'createGroup', value: { subject: 'bench', members: users } } });
  if (created.kind.case !== 'groupInfo') throw new Error(`create_group failed: ${created.kind.case}`);
  const conv = created.kind.value.conversation;
  await new Promise<void>((r) => (arrivals.get(1) === users.length ? r() : done.set(1, r)));

  const lat: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < MESSAGES; k++) {
    const seq = k + 2;
    const all = new Promise<void>((r) => done.set(seq, r));
    const start = performance.now();
    admin.send({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `b-${k}`, body: `fan-out ${k}` } } });
    await all;
    lat.push(performance.now() - start);
  }
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  const deliveries = MESSAGES * users.length;
  console.log(`group fan-out: ${MEMBERS} members (${users.length} receiving), ${MESSAGES} messages, one node, 2 cores`);
  console.log(`  deliveries/s          ${Math.round(deliveries / elapsed)}`);
  console.log(`  last member has it    p50 ${q(0.5).toFixed(1)} ms   p99 ${q(0.99).toFixed(1)} ms   max ${lat[lat.length - 1].toFixed(1)} ms`);
  for (const c of [admin]) c.terminate();
} finally {
  await node.stop();
  node.cleanup();
}
process.exit(0);
