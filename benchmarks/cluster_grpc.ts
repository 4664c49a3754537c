/**
 * Forwarded frames per second over one cluster gRPC link (loopback, one process):
 * batched (frames share LinkBatch messages, the default) vs one frame per message
 * (maxBatchBytes 1: the same PeerLink code path, but every frame is its own gRPC
 * message). Then per-frame latency at a fixed, moderate rate for both.
 *
 *   node --import tsx benchmarks/cluster_grpc.ts [--frames 200000] [--body 200]
 *        [--rounds 3] [--batch 65536] [--rate 20000] [--seconds 3]
 *
 * Throughput: a warm-up pass of each mode (JIT, connection), then `--rounds`
 * alternating rounds of `--frames` each; the median round of each mode is reported
 * and the ratio is median/median; so is process CPU time per frame (both ends run in
 * this process), which other load on the machine disturbs less. The producer sends in bursts of 1000 per event-loop
 * turn and backs off while the queue answers overloaded (64 MiB queue).
 * Latency: frames sent open loop at `--rate` for `--seconds`; a frame's latency is from
 * its *scheduled* send time to its arrival in the receiver's onFrames (decoded), so a
 * stalled sender is not hidden (no coordinated omission); the sender wakes every
 * millisecond, so that figure includes up to 1 ms of waiting for the tick. Also shown:
 * from the send() call to arrival.
 */
import { parseArgs } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { LinkFrameSchema, type ForwardSend, type LinkFrame } from '../protocol/gen/cluster_pb.js';
import { PeerLink } from '../node/peers/peer_link.js';
import { PeerDirectory, PeerServer } from '../node/peers/peer_server.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '200000' },
    body: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '65536' },
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '3' },
  },
});
const total = Number(values.frames);
const batchBytes = Number(values.batch);
const makeFrame = (): LinkFrame =>
  create(LinkFrameSchema, {
    kind: { case: 'forwardSend', value: { callId: 1n, origin: { node: 'a', user: 'alice', device: 'phone' }, send: { conversation: 'd_0123456789abcdefghijkl', clientMsgId: 'c3b5a1d2-0000-4000-8000-000000000000', body: 'x'.repeat(Number(values.body)) }, conversationShard: 17, ownerToken: 42n } },
  });

interface Pair {
  a: PeerLink;
  onFrames: (fs: LinkFrame[]) => void;
  close(): Promise<void>;
}

/** One link a -> b over a loopback PeerServer; `onFrames` is b's receiver (settable). */
async function pair(maxBatchBytes: number): Promise<Pair> {
  const directory = new PeerDirectory();
  const server = new PeerServer({ bind: '127.0.0.1:0', directory });
  await server.start();
  const p: Pair = {
    a: null as unknown as PeerLink,
    onFrames: () => undefined,
    close: async () => {
      await p.a.stop(100);
      await b.stop(100);
      await server.stop(100);
    },
  };
  const b = new PeerLink({ self: 'b', peer: 'a', dial: null, directory, onFrames: (fs) => p.onFrames(fs) });
  await b.start();
  p.a = new PeerLink({ self: 'a', peer: 'b', dial: `127.0.0.1:${server.port}`, onFrames: () => undefined, maxBatchBytes, maxQueuedBytes: 64 * 1024 * 1024 });
  await p.a.start();
  while (p.a.linkState !== 'up') await new Promise((r) => setTimeout(r, 5));
  return p;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Frames/s of pushing `n` frames through the link (from first send to last arrival). */
async function throughput(p: Pair, n: number): Promise<{ fps: number; cpuUs: number; batches: number; overloaded: number; s: number }> {
  const frame = makeFrame();
  const before = p.a.stats();
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  p.onFrames = (fs) => {
    got += fs.length;
    if (got >= n) done();
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let sent = 0;
  while (sent < n) {
    for (let i = 0; i < 1000 && sent < n; i++) {
      if (p.a.send(frame) === 'ok') sent++;
      else break;
    }
    await turn();
  }
  await finished;
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const st = p.a.stats();
  return { fps: n / s, cpuUs: (c.user + c.system) / n, batches: st.batchesSent - before.batchesSent, overloaded: st.dropped - before.dropped, s };
}

/** Open loop at `rate` frames/s for `seconds`: per-frame latency percentiles (ms). */
interface Lat {
  p50: number;
  p99: number;
  max: number;
}
async function latency(p: Pair, rate: number, seconds: number): Promise<{ scheduled: Lat; call: Lat; n: number; batches: number }> {
  const n = Math.round(rate * seconds);
  const scheduled = new Float64Array(n);
  const called = new Float64Array(n);
  const lat = new Float64Array(n);
  const latCall = new Float64Array(n);
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  p.onFrames = (fs) => {
    const now = performance.now();
    for (const f of fs) {
      const id = Number((f.kind.value as ForwardSend).callId);
      latCall[got] = now - called[id];
      lat[got++] = now - scheduled[id];
    }
    if (got >= n) done();
  };
  const frame = makeFrame();
  const fwd = frame.kind.value as ForwardSend;
  const before = p.a.stats().batchesSent;
  const t0 = performance.now();
  let sent = 0;
  while (sent < n) {
    const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate));
    const now = performance.now();
    for (; sent < due; sent++) {
      scheduled[sent] = t0 + (sent * 1000) / rate;
      called[sent] = now;
      fwd.callId = BigInt(sent);
      if (p.a.send(frame) !== 'ok') throw new Error('queue full at a moderate rate');
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await finished;
  const pct = (xs: Float64Array): Lat => {
    xs.sort();
    return { p50: xs[Math.floor(0.5 * n)], p99: xs[Math.min(n - 1, Math.floor(0.99 * n))], max: xs[n - 1] };
  };
  return { scheduled: pct(lat), call: pct(latCall), n, batches: p.a.stats().batchesSent - before };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

console.log(`cluster_grpc: ${fmt(total)} ForwardSend frames (${values.body}-byte body) per round over one loopback link, ${values.rounds} rounds; load ${(await import('node:os')).loadavg()[0].toFixed(2)}`);
const batched = await pair(batchBytes);
const single = await pair(1);
await throughput(batched, Math.min(total, 100_000)); // warm-up (JIT, buffers)
await throughput(single, Math.min(total, 20_000));
const runs: Record<'batched' | 'single', number[]> = { batched: [], single: [] };
const cpu: Record<'batched' | 'single', number[]> = { batched: [], single: [] };
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [label, p] of [['batched', batched], ['single', single]] as const) {
    const t = await throughput(p, total);
    runs[label].push(t.fps);
    cpu[label].push(t.cpuUs);
    console.log(`  round ${r + 1} ${label === 'batched' ? `batched (${batchBytes} B)` : 'one frame / message'}: ${fmt(t.fps).padStart(9)} frames/s, ${t.cpuUs.toFixed(2)} µs CPU/frame (both ends), ${t.batches} gRPC messages (${(total / t.batches).toFixed(1)} frames each), ${t.s.toFixed(2)} s, overloaded ${t.overloaded}`);
  }
}
const b = median(runs.batched);
const s = median(runs.single);
const cb = median(cpu.batched);
const cs = median(cpu.single);
console.log(`throughput (median of ${values.rounds}): batched ${fmt(b)} frames/s, one frame / message ${fmt(s)} frames/s: ${(b / s).toFixed(1)}x`);
console.log(`CPU per frame, both ends (median): batched ${cb.toFixed(2)} µs, one frame / message ${cs.toFixed(2)} µs: ${(cs / cb).toFixed(1)}x`);
for (const [label, p] of [['batched', batched], ['one frame / message', single]] as const) {
  const l = await latency(p, Number(values.rate), Number(values.seconds));
  const show = (x: Lat): string => `p50 ${x.p50.toFixed(2)} / p99 ${x.p99.toFixed(2)} / max ${x.max.toFixed(2)} ms`;
  console.log(`latency at ${fmt(Number(values.rate))} frames/s, ${label}: from scheduled time ${show(l.scheduled)}; from the send() call ${show(l.call)} (${fmt(l.n)} frames in ${fmt(l.batches)} gRPC messages)`);
}
await batched.close();
await single.close();
