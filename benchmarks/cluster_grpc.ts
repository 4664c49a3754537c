/**
 * Forwarded frames per second over one cluster gRPC link (loopback, one process):
 * batched (frames share LinkBatch messages, the default) vs one frame per message
 * (maxBatchBytes 1, i.e. every frame its own gRPC message).
 *
 *   node --import tsx benchmarks/cluster_grpc.ts [--frames 200000] [--body 200]
 */
import { parseArgs } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { LinkFrameSchema } from '../protocol/gen/cluster_pb.js';
import { PeerLink } from '../node/peers/peer_link.js';
import { PeerDirectory, PeerServer } from '../node/peers/peer_server.js';

const { values } = parseArgs({ options: { frames: { type: 'string', default: '200000' }, body: { type: 'string', default: '200' } } });
const total = Number(values.frames);
const frame = create(LinkFrameSchema, {
  kind: { case: 'forwardSend', value: { callId: 1n, origin: { node: 'a', user: 'alice', device: 'phone' }, send: { conversation: 'd_0123456789abcdefghijkl', clientMsgId: 'c3b5a1d2-0000-4000-8000-000000000000', body: 'x'.repeat(Number(values.body)) }, conversationShard: 17, ownerToken: 42n } },
});

async function run(label: string, maxBatchBytes: number): Promise<void> {
  const directory = new PeerDirectory();
  const server = new PeerServer({ bind: '127.0.0.1:0', directory });
  await server.start();
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const b = new PeerLink({ self: 'b', peer: 'a', dial: null, directory, onFrames: (fs) => { got += fs.length; if (got >= total) done(); } });
  await b.start();
  const a = new PeerLink({ self: 'a', peer: 'b', dial: `127.0.0.1:${server.port}`, onFrames: () => undefined, maxBatchBytes, maxQueuedBytes: 64 * 1024 * 1024 });
  await a.start();
  while (a.linkState !== 'up') await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  let sent = 0;
  // Produce in bursts of 1000 per event-loop turn, backing off while the queue is full.
  while (sent < total) {
    for (let i = 0; i < 1000 && sent < total; i++) {
      if (a.send(frame) === 'ok') sent++;
      else break;
    }
    await new Promise((r) => setImmediate(r));
  }
  await finished;
  const s = (performance.now() - t0) / 1000;
  const st = a.stats();
  console.log(`${label.padEnd(22)} ${Math.round(total / s).toLocaleString('en-US').padStart(10)} frames/s  ${st.batchesSent} gRPC messages (${(total / st.batchesSent).toFixed(1)} frames each), ${s.toFixed(2)} s, overloaded ${st.dropped}`);
  await a.stop(100);
  await b.stop(100);
  await server.stop(100);
}

console.log(`cluster_grpc: ${total} ForwardSend frames (${values.body}-byte body) over one loopback link`);
await run('batched (64 KiB)', 65_536);
await run('one frame / message', 1);
