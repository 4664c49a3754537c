import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignShards, hash32, planOwnership, shardOf, type ShardOwner } from './shard_map.js';

test('shardOf is stable and spreads conversations evenly', () => {
  assert.equal(hash32('hello'), hash32('hello'));
  assert.equal(shardOf('d_abc'), shardOf('d_abc'));
  const counts = new Array(256).fill(0);
  for (let i = 0; i < 256_00; i++) counts[shardOf(`conv-${i}`)]++;
  assert.ok(Math.min(...counts) > 50 && Math.max(...counts) < 160, `${Math.min(...counts)}..${Math.max(...counts)}`);
});

test('rendezvous: balanced, and a join or leave moves only the shards it must', () => {
  const three = assignShards(256, ['a', 'b', 'c']);
  const per = (xs: (string | null)[]) => Object.fromEntries(['a', 'b', 'c', 'd'].map((n) => [n, xs.filter((x) => x === n).length]));
  for (const n of Object.values(per(three)).slice(0, 3)) assert.ok(n > 60 && n < 110, JSON.stringify(per(three)));
  const four = assignShards(256, ['a', 'b', 'c', 'd']);
  for (let s = 0; s < 256; s++) if (three[s] !== four[s]) assert.equal(four[s], 'd', 'a join only moves shards to the new node');
  const two = assignShards(256, ['a', 'c']);
  for (let s = 0; s < 256; s++) if (three[s] !== 'b') assert.equal(two[s], three[s], 'a leave only moves the leaver\'s shards');
});

test('planOwnership claims free desired shards and releases undesired ones, never steals', () => {
  const owners = new Map<number, ShardOwner>();
  const live = ['a', 'b'];
  const want = assignShards(8, live);
  const first = planOwnership('a', 8, live, owners);
  assert.deepEqual(first.claim, want.flatMap((n, s) => (n === 'a' ? [s] : [])));
  assert.deepEqual(first.release, []);
  // b owns everything (it was alone): a claims nothing b holds; b releases a's share.
  for (let s = 0; s < 8; s++) owners.set(s, { node: 'b', token: 10 + s });
  assert.deepEqual(planOwnership('a', 8, live, owners).claim, []);
  assert.deepEqual(planOwnership('b', 8, live, owners).release, first.claim);
  assert.deepEqual(planOwnership('c', 8, live, owners), { claim: [], release: [] }, 'not live: do nothing');
});
