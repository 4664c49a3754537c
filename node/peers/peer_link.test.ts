import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { LinkFrameSchema, type LinkFrame } from '../../protocol/gen/cluster_pb.js';
import { freePort } from '../../ops/etcd/etcd.js';
import { PeerLink, type LinkState, type PeerLinkOptions } from './peer_link.js';
import { PeerDirectory, PeerServer } from './peer_server.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const deliver = (i: number): LinkFrame =>
  create(LinkFrameSchema, { kind: { case: 'deliver', value: { users: [`u${i}`], message: { conversation: 'c', seq: BigInt(i), body: 'x'.repeat(100) } } } });

async function server(port = 0) {
  const directory = new PeerDirectory();
  const srv = new PeerServer({ bind: `127.0.0.1:${port}`, directory });
  await srv.start();
  cleanup.push(() => srv.stop(100));
  return { directory, srv };
}

async function link(opts: Partial<PeerLinkOptions> & Pick<PeerLinkOptions, 'self' | 'peer' | 'dial'>, got: LinkFrame[] = []) {
  const l = new PeerLink({ onFrames: (fs) => got.push(...fs), heartbeatMs: 100, deadAfterMs: 400, backoffMaxMs: 200, ...opts });
  await l.start();
  cleanup.push(() => l.stop(100));
  return { l, got };
}

const until = async (check: () => boolean, ms = 5_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('two nodes over loopback: one stream, batched frames both ways', async () => {
  const a = await server();
  const b = await server();
  const onB = await link({ self: 'b', peer: 'a', dial: null, directory: b.directory });
  const onA = await link({ self: 'a', peer: 'b', dial: `127.0.0.1:${b.srv.port}`, directory: a.directory });
  await until(() => onA.l.linkState === 'up' && onB.l.linkState === 'up');
  for (let i = 0; i < 2_000; i++) assert.equal(onA.l.send(deliver(i)), 'ok');
  await until(() => onB.got.length === 2_000);
  assert.deepEqual(onB.got.slice(0, 3).map((f) => (f.kind.case === 'deliver' ? Number(f.kind.value.message!.seq) : -1)), [0, 1, 2]);
  const s = onA.l.stats();
  assert.ok(s.batchesSent <= 10, `2000 frames in ${s.batchesSent} batches`);
  // The acceptor answers on the same stream.
  onB.l.send(deliver(7));
  await until(() => onA.got.length === 1);
  assert.equal(a.srv.refused + b.srv.refused, 0);
});

test('frames of every size arrive intact and in order (batches spanning slabs, frames bigger than a slab)', async () => {
  const b = await server();
  const onB = await link({ self: 'b', peer: 'a', dial: null, directory: b.directory });
  const onA = await link({ self: 'a', peer: 'b', dial: `127.0.0.1:${b.srv.port}`, maxQueuedBytes: 64 * 1024 * 1024 });
  await until(() => onA.l.linkState === 'up');
  const sent: LinkFrame[] = [];
  for (let i = 0; i < 3_000; i++) {
    const body = i % 500 === 7 ? 'é'.repeat(150_000) : 'x'.repeat((i * 37) % 900);
    const f =
      i % 3 === 0
        ? create(LinkFrameSchema, { kind: { case: 'forwardSend', value: { callId: BigInt(i), origin: { node: 'a', user: `u${i}`, device: 'd' }, send: { conversation: 'c', clientMsgId: `m${i}`, body, meta: { k: 'v' } }, t0Ms: -BigInt(i) } } })
        : create(LinkFrameSchema, { kind: { case: 'deliver', value: { users: [`u${i}`, 'ü'], message: { conversation: 'c', seq: BigInt(i) * 0x1_0000_0001n, body } } } });
    assert.equal(onA.l.send(f), 'ok');
    sent.push(f);
    if (i % 400 === 0) await new Promise((r) => setImmediate(r));
  }
  await until(() => onB.got.length === sent.length, 10_000);
  assert.deepStrictEqual(onB.got, sent);
  assert.ok(onA.l.stats().batchesSent < 300, `${onA.l.stats().batchesSent} batches`);
});

test('a killed peer is detected, frames queue meanwhile, and the link comes back when it returns', async () => {
  const port = await freePort();
  const b = await server(port);
  const onB = await link({ self: 'b', peer: 'a', dial: null, directory: b.directory });
  const onA = await link({ self: 'a', peer: 'b', dial: `127.0.0.1:${port}` });
  const states: LinkState[] = [];
  onA.l.onState((s) => states.push(s));
  await until(() => onA.l.linkState === 'up');
  b.srv.kill();
  await until(() => onA.l.linkState !== 'up', 1_000);
  for (let i = 0; i < 10; i++) onA.l.send(deliver(i));
  // The peer's server comes back on the same port (its link object survived).
  const srv2 = new PeerServer({ bind: `127.0.0.1:${port}`, directory: b.directory });
  await srv2.start();
  cleanup.push(() => srv2.stop(100));
  await until(() => onA.l.linkState === 'up' && onB.got.length === 10);
  assert.ok(states.includes('down') && states.at(-1) === 'up', states.join());
  assert.equal(onA.l.stats().connects, 2);
});

test('a frozen peer (connected, silent) is declared dead by the heartbeat and redialled', async () => {
  const b = await server();
  const onB = await link({ self: 'b', peer: 'a', dial: null, directory: b.directory });
  const onA = await link({ self: 'a', peer: 'b', dial: `127.0.0.1:${b.srv.port}` });
  await until(() => onA.l.linkState === 'up');
  onB.l.mute(); // stops writing, heartbeats included; TCP stays open
  const t0 = Date.now();
  await until(() => onA.l.linkState !== 'up', 2_000);
  const took = Date.now() - t0;
  assert.ok(took >= 300 && took < 1_000, `declared dead after ${took} ms (deadAfterMs 400)`);
  onB.l.mute(false);
  await until(() => onA.l.linkState === 'up');
});

test('the outbound queue is bounded: past maxQueuedBytes, send answers overloaded and counts', async () => {
  const port = await freePort(); // nobody listens: the link never comes up
  const { l } = await link({ self: 'a', peer: 'b', dial: `127.0.0.1:${port}`, maxQueuedBytes: 10_000 });
  let ok = 0;
  let refused = 0;
  for (let i = 0; i < 200; i++) {
    if (l.send(deliver(i)) === 'ok') ok++;
    else refused++;
  }
  const s = l.stats();
  assert.ok(ok > 50 && ok < 100, `${ok} frames fit in 10 kB`);
  assert.equal(s.dropped, refused);
  assert.ok(s.queuedBytes <= 10_000);
});
