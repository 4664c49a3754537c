import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitOrder } from './commit_order.js';

/** A check the test finishes by hand, so checks can finish in any order. */
function manualCheck() {
  let pass!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    pass = res;
    fail = rej;
  });
  return { pass, fail, guarded: async (write: () => Promise<void>) => {
    await done;
    await write();
  } };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Three commits started in order 0, 1, 2, each waiting on a check the test finishes. */
function threeCommits() {
  const order = new CommitOrder();
  const stored: number[] = [];
  const checks = [manualCheck(), manualCheck(), manualCheck()];
  const runs = checks.map((c, i) => order.run(c.guarded, async () => void stored.push(i)));
  return { order, stored, checks, runs };
}

test('commits reach the store in call order even when their checks finish in reverse', async () => {
  const { stored, checks, runs } = threeCommits();
  checks[2].pass();
  checks[1].pass();
  await tick();
  assert.deepEqual(stored, [], 'nothing may be stored before the first commit');
  checks[0].pass();
  await Promise.all(runs);
  assert.deepEqual(stored, [0, 1, 2]);
});

test('a failed check fails the commits in flight behind it without storing, and later ones go ahead', async () => {
  const { order, stored, checks, runs } = threeCommits();
  checks[1].pass();
  checks[2].pass();
  checks[0].fail(new Error('fenced'));
  const outcomes = await Promise.allSettled(runs);
  assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
  assert.equal((outcomes[0] as PromiseRejectedResult).reason.message, 'fenced');
  assert.match((outcomes[1] as PromiseRejectedResult).reason.message, /failed while this one waited/);
  assert.equal(stored.length, 0, 'no commit behind the failed one may store (its seqs would sit above a gap)');
  // Started after the failure: seqs reloaded from the store, so it must go ahead.
  await order.run(async (w) => w(), async () => void stored.push(3));
  assert.deepEqual(stored, [3]);
});

test('a store failure of an earlier commit fails the commits still waiting behind it', async () => {
  const order = new CommitOrder();
  const stored: number[] = [];
  let failStore!: (e: Error) => void;
  const first = order.run(async (w) => w(), () => new Promise<void>((_res, rej) => (failStore = rej)));
  const gate = manualCheck();
  const second = order.run(gate.guarded, async () => void stored.push(1));
  await tick();
  failStore(new Error('store down'));
  await assert.rejects(first, /store down/);
  gate.pass();
  await assert.rejects(second, /failed while this one waited/);
  assert.deepEqual(stored, []);
});
