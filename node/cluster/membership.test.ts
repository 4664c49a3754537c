import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdTestEnv } from '../etcd/etcd_test_env.js';
import { Membership, type MemberEvent } from './membership.js';
import { NodeLease } from '../etcd/node_lease.js';

const env = etcdTestEnv();

async function member(prefix: string, node: string) {
  const client = env.client();
  const lease = new NodeLease(client, { ttlSec: 2 });
  await lease.start();
  const m = new Membership({ client, lease, prefix, self: { node, peerAddr: `127.0.0.1:1`, httpUrl: 'http://127.0.0.1:2', startedAt: Date.now() } });
  await m.start();
  return { lease, m };
}

const until = async (check: () => boolean, ms = 8_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('members see each other; an expired lease means down; stop means down at once', async () => {
  const prefix = env.prefix();
  const a = await member(prefix, 'a');
  const b = await member(prefix, 'b');
  const c = await member(prefix, 'c');
  await until(() => a.m.members().length === 3);
  assert.deepEqual(a.m.members().map((x) => x.node), ['a', 'b', 'c']);
  const events: string[] = [];
  a.m.onChange((e: MemberEvent) => events.push(`${e.kind} ${e.member.node}`));

  const t0 = Date.now();
  b.lease.pauseKeepalive(); // b freezes
  await until(() => !a.m.isLive('b'));
  assert.ok(Date.now() - t0 < 2_000 + 1_500, 'down within TTL + 1.5 s');

  await c.m.stop();
  await until(() => !a.m.isLive('c'), 1_000);
  assert.deepEqual(events, ['down b', 'down c']);
  for (const n of [a, b]) {
    await n.m.stop();
    await n.lease.stop();
  }
  await c.lease.stop();
});

test('a node whose lease was lost registers again under a new lease', async () => {
  const prefix = env.prefix();
  const a = await member(prefix, 'a');
  const b = await member(prefix, 'b');
  await until(() => a.m.members().length === 2);
  const old = a.m.get('b')!.leaseId;
  const client = env.client();
  await client.leaseClient.leaseRevoke({ ID: b.lease.id! });
  await until(() => a.m.isLive('b') && a.m.get('b')!.leaseId !== old);
  for (const n of [a, b]) {
    await n.m.stop();
    await n.lease.stop();
  }
});
