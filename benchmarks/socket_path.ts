/**
 * The socket side of one durable message, piece by piece, old way against new, in one
 * process (issue 14 items 2 and 3): less disturbed by other load than the whole-node
 * benches, because both ways run alternately in the same process and the figure is
 * the ratio of CPU time.
 *
 *   node --import tsx benchmarks/socket_path.ts [--n 20000] [--rounds 5] [--per-tick 16]
 *
 * codec:   the three frames a message touches (send decoded in the shard, send_ack
 *          encoded in the shard, the message push encoded in the host): protobuf-es
 *          (fromBinary / toBinary) vs the compiled codecs (protocol/compiled/client_frames.ts).
 * channel: ops shard -> host and their replies back, to a worker thread and back:
 *          one structured-clone postMessage per op and per reply vs records packed per
 *          tick (shards/channel_codec.ts), `--per-tick` ops per tick. Counted: this
 *          process's CPU (both threads) per op, round trip.
 * layout:  JS heap per idle connection's state, after a forced GC, for 100,000 of them:
 *          the shard's session (the old object literal with two Maps and two bucket
 *          objects, reproduced here, vs shards/session.ts's class after a sync answered)
 *          and the host registry's entry (a Map per user, reproduced, vs
 *          node/core/registry.ts). Not RSS (conn-memory measures that, noisily on a
 *          loaded box): what the layout itself costs, exactly.
 * Median of `--rounds` alternating rounds; CPU time from process.cpuUsage().
 */
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema } from '../protocol/gen/client_pb.js';
import { clientFrameFromBytes, serverFrameBytes } from '../protocol/compiled/client_frames.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { newSession, onClientFrame, onResult } from '../shards/session.js';
import { ConnectionRegistry, type ConnRef } from '../node/core/registry.js';
import { defaultConfig } from '../node/config.js';
import { ChannelWriter, readOps, readReplies, type HotOp, type HotResult } from '../shards/channel_codec.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' }, 'per-tick': { type: 'string', default: '16' } } });
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
const PER_TICK = Number(values['per-tick']);

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const body = 'x'.repeat(100);

// ------------------------------------------------------------------ codec
const sendBytes = toBinary(ClientFrameSchema, create(ClientFrameSchema, { reqId: 7, kind: { case: 'send', value: { conversation: 'c-0123456789abcdef', clientMsgId: 'm-000000001', body, meta: {} } } }));
const ack = create(ServerFrameSchema, { reqId: 7, kind: { case: 'sendAck', value: { conversation: 'c-0123456789abcdef', clientMsgId: 'm-000000001', messageId: '01HZZZZZZZZZZZZZZZZZZZZZZZ', seq: 12345n, serverTs: 1_765_000_000_000n } } });
const push = create(ServerFrameSchema, { kind: { case: 'message', value: { conversation: 'c-0123456789abcdef', seq: 12345n, messageId: '01HZZZZZZZZZZZZZZZZZZZZZZZ', sender: 'alice', senderDevice: 'phone', clientMsgId: 'm-000000001', body, serverTs: 1_765_000_000_000n } } });

function codecRound(compiled: boolean): number {
  const t = cpuUs();
  let sink = 0;
  for (let i = 0; i < N; i++) {
    if (compiled) {
      sink += clientFrameFromBytes(sendBytes).reqId + serverFrameBytes(ack).length + serverFrameBytes(push).length;
    } else {
      sink += fromBinary(ClientFrameSchema, sendBytes).reqId + toBinary(ServerFrameSchema, ack).length + toBinary(ServerFrameSchema, push).length;
    }
  }
  if (sink < 0) console.log(sink);
  return (cpuUs() - t) / N;
}

// ------------------------------------------------------------------ layout
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const CONNS = 100_000;
const fmtN = '100,000';

/** Bytes of heap per item that `make` keeps, after a full GC. */
function heapPer(make: (i: number) => unknown): number {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const keep: unknown[] = new Array(CONNS);
  for (let i = 0; i < CONNS; i++) keep[i] = make(i);
  gc();
  gc();
  const per = (process.memoryUsage().heapUsed - before) / CONNS;
  if (keep.length !== CONNS) console.log(keep.length);
  return per;
}

function layout(): { oldSession: number; newSession: number; oldRegistry: number; newRegistry: number } {
  const limits = defaultConfig().limits;
  const now = Date.now();
  const sync = create(ClientFrameSchema, { reqId: 1, kind: { case: 'sync', value: {} } });
  // The session as it was before issue 14 (shards/session.ts at 1b0f86a), after its sync was answered.
  const oldSession = heapPer((i) => {
    const s = { conn: i, user: `u${i}`, device: 'phone', encoding: 'proto', expMs: now + 3_600_000, lastSeen: now, sendBucket: { tokens: limits.sendBurst, at: now }, frameBucket: { tokens: limits.frameBurst, at: now }, syncing: 0, chainOpen: false, synced: true, sentUpTo: new Map(), pending: new Map(), nextId: 2, inflightSends: 0, lastTypingAt: -Infinity };
    s.pending.set(1, { reqId: 1, op: 'sync', conversation: '', clientMsgId: '' });
    s.pending.delete(1);
    s.frameBucket.tokens -= 1;
    return s;
  });
  const newSessionB = heapPer((i) => {
    const s = newSession(i, `u${i}`, 'phone', 'proto', now + 3_600_000, limits, now);
    const eff = onClientFrame(s, sync, limits, now);
    if (eff.kind === 'forward') onResult(s, eff.id, { r: 'sync_page', page: { messages: [], conversations: [], hasMore: false, receipts: [] } });
    return s;
  });
  // The registry entry as it was (user -> Map of "shard:conn" -> ref), one connection per user.
  const oldReg = new Map<string, Map<string, ConnRef>>();
  const oldRegistry = heapPer((i) => {
    const ref = { shard: i & 1, conn: i, user: `u${i}`, device: 'phone' };
    const m = new Map<string, ConnRef>();
    m.set(`${ref.shard}:${ref.conn}`, ref);
    oldReg.set(ref.user, m);
    return null;
  });
  const reg = new ConnectionRegistry();
  const newRegistry = heapPer((i) => {
    reg.add({ shard: i & 1, conn: i, user: `u${i}`, device: 'phone' });
    return null;
  });
  if (oldReg.size + reg.size < 0) console.log(oldReg.size);
  return { oldSession, newSession: newSessionB, oldRegistry, newRegistry };
}

// ------------------------------------------------------------------ channel
// The worker (this file again, through the repo's TS worker boot) answers like the
// host: one reply per op; objects one by one, or packed per tick.
if (!isMainThread) {
  const w = new ChannelWriter();
  const reply = (conversation: string, clientMsgId: string, seq: number): HotResult => ({ r: 'send_ack', ack: { conversation, clientMsgId, messageId: '01HZZZZZZZZZZZZZZZZZZZZZZZ', seq, serverTs: 1_765_000_000_000, duplicate: false } });
  parentPort!.on('message', (m: { t: string; conn: number; reqId: number; op: HotOp; buf: ArrayBuffer }) => {
    if (m.t === 'req') parentPort!.postMessage({ t: 'reply', conn: m.conn, reqId: m.reqId, result: reply(m.op.conversation, (m.op as { clientMsgId: string }).clientMsgId, m.reqId) });
    else {
      readOps(m.buf, (conn, reqId, _u, _d, _t0, op) => w.reply(conn, reqId, reply(op.conversation, op.op === 'send' ? op.clientMsgId : '', reqId)));
      const buf = w.take()!;
      parentPort!.postMessage({ t: 'replies', buf }, [buf]);
    }
  });
}

async function channelRound(worker: Worker, packed: boolean): Promise<number> {
  const op: HotOp = { op: 'send', conversation: 'c-0123456789abcdef', clientMsgId: 'm-000000001', body, meta: {} };
  const w = new ChannelWriter();
  let answered = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const onMsg = (m: { t: string; buf?: ArrayBuffer }): void => {
    if (m.t === 'reply') answered++;
    else readReplies(m.buf!, () => answered++);
    if (answered >= N) done();
  };
  worker.on('message', onMsg);
  const t = cpuUs();
  for (let i = 0; i < N; i += PER_TICK) {
    for (let j = i; j < Math.min(N, i + PER_TICK); j++) {
      if (packed) w.op(1, j, 'alice', 'phone', 1_765_000_000_000, op);
      else worker.postMessage({ t: 'req', conn: 1, reqId: j, user: 'alice', device: 'phone', op, t0: 1_765_000_000_000 });
    }
    if (packed) {
      const buf = w.take()!;
      worker.postMessage({ t: 'ops', buf }, [buf]);
    }
    await new Promise((r) => setImmediate(r));
  }
  await finished;
  worker.off('message', onMsg);
  return (cpuUs() - t) / N;
}

if (isMainThread) {
  const worker = new Worker(new URL('../supervisor/ts_worker_boot.mjs', import.meta.url), { workerData: { __entry: import.meta.url } });
  await new Promise((r) => setTimeout(r, 500));
  codecRound(false);
  codecRound(true);
  await channelRound(worker, false);
  await channelRound(worker, true);
  const res = { pbes: [] as number[], compiled: [] as number[], objects: [] as number[], packed: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    res.pbes.push(codecRound(false));
    res.compiled.push(codecRound(true));
    res.objects.push(await channelRound(worker, false));
    res.packed.push(await channelRound(worker, true));
  }
  await worker.terminate();
  const f = (x: number): string => x.toFixed(2);
  const [load] = (await import('node:os')).loadavg();
  console.log(`socket_path: n ${N}, rounds ${ROUNDS}, ${PER_TICK} ops per tick, load ${load.toFixed(2)} (median of rounds, process CPU µs)`);
  console.log(`codec, 3 frames per message: protobuf-es ${f(median(res.pbes))} µs, compiled ${f(median(res.compiled))} µs (${f(median(res.pbes) / median(res.compiled))}x)`);
  const l = layout();
  console.log(`layout, JS heap per idle connection (${fmtN} of them): shard session ${f(l.oldSession)} -> ${f(l.newSession)} B (${f(l.oldSession / l.newSession)}x); host registry entry ${f(l.oldRegistry)} -> ${f(l.newRegistry)} B (${f(l.oldRegistry / l.newRegistry)}x)`);
  console.log(`channel, op + reply round trip: one postMessage each ${f(median(res.objects))} µs, packed per tick ${f(median(res.packed))} µs (${f(median(res.objects) / median(res.packed))}x)`);
}
