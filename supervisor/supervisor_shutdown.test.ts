/** Per-child shutdown timeouts: ask, wait on the (manual) clock, then kill. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWorld } from './fake_child.js';
import { ManualClock } from './manual_clock.js';
import { shutdownChild } from './shutdown.js';
import { Supervisor } from './supervisor.js';
import type { SupervisorReport } from './reports.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a child that stops in time is not killed', async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const child = await world.start('a')({ supervisor: 's', childId: 'a', clock, report: () => {} });
  const outcome = await shutdownChild(child, 1000, clock);
  assert.equal(outcome.how, 'stopped');
  assert.equal(clock.pending(), 0, 'the timeout timer is cleared');
  assert.deepEqual(world.events, ['start:a', 'stop:a']);
});

test('a child that ignores stop is killed when its timeout passes, not before', async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const child = await world.start('a', { ignoreStop: true })({ supervisor: 's', childId: 'a', clock, report: () => {} });
  let done = false;
  const outcome = shutdownChild(child, 1000, clock).then((o) => {
    done = true;
    return o;
  });
  await settle();
  clock.advance(999);
  await settle();
  assert.equal(done, false);
  assert.deepEqual(world.of('kill'), []);
  clock.advance(1);
  assert.equal((await outcome).how, 'killed');
  assert.deepEqual(world.events, ['start:a', 'stop:a', 'kill:a']);
});

test("brutal_kill kills without asking; 'infinity' waits without a timer", async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const ctx = { supervisor: 's', childId: 'a', clock, report: () => {} };
  const a = await world.start('a')(ctx);
  assert.equal((await shutdownChild(a, 'brutal_kill', clock)).how, 'killed');
  assert.deepEqual(world.of('stop'), []);
  const b = await world.start('b', { ignoreStop: true })(ctx);
  const waiting = shutdownChild(b, 'infinity', clock);
  await settle();
  assert.equal(clock.pending(), 0);
  (b as import('./fake_child.js').FakeChild).exitNormally();
  assert.equal((await waiting).how, 'stopped');
});

test('supervisor stop: each child gets its own timeout, in reverse order, then a forced kill', async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const reports: SupervisorReport[] = [];
  const sup = new Supervisor({
    name: 'root',
    clock,
    log: () => {},
    children: [
      world.spec('a', { shutdown: 300 }, { ignoreStop: true }),
      world.spec('b', { shutdown: 100 }),
      world.spec('c', { shutdown: 200 }, { ignoreStop: true }),
    ],
  });
  sup.onReport((r) => reports.push(r));
  await sup.start();
  world.events.length = 0;
  const stopped = sup.stop();
  await settle();
  assert.deepEqual(world.events, ['stop:c']);
  clock.advance(200);
  await settle();
  assert.deepEqual(world.events, ['stop:c', 'kill:c', 'stop:b', 'stop:a']);
  clock.advance(299);
  await settle();
  assert.deepEqual(world.of('kill'), ['c']);
  clock.advance(1);
  await stopped;
  assert.deepEqual(world.events, ['stop:c', 'kill:c', 'stop:b', 'stop:a', 'kill:a']);
  const killed = reports.filter((r) => r.kind === 'shutdown_error').map((r) => (r.kind === 'shutdown_error' ? [r.child, r.how] : []));
  assert.deepEqual(killed, [
    ['c', 'killed'],
    ['a', 'killed'],
  ]);
});

test('a sibling stopped for a restart also gets its timeout and a kill', async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const sup = new Supervisor({
    name: 'root',
    clock,
    log: () => {},
    strategy: 'one_for_all',
    children: [world.spec('a'), world.spec('b', { shutdown: 50 }, { ignoreStop: true })],
  });
  await sup.start();
  world.events.length = 0;
  world.current('a').crash();
  await settle();
  assert.deepEqual(world.events, ['crash:a', 'stop:b']);
  clock.advance(50);
  await sup.idle();
  assert.deepEqual(world.events, ['crash:a', 'stop:b', 'kill:b', 'start:a', 'start:b']);
});

test('kill() kills every child at once and settles exited', async () => {
  const world = new FakeWorld();
  const sup = new Supervisor({
    name: 'root',
    clock: new ManualClock(),
    log: () => {},
    children: [world.spec('a', {}, { ignoreStop: true }), world.spec('b', {}, { ignoreStop: true })],
  });
  await sup.start();
  sup.kill();
  assert.deepEqual(await sup.exited, { kind: 'shutdown' });
  assert.deepEqual(world.of('kill'), ['b', 'a']);
  assert.equal(sup.state, 'stopped');
});
