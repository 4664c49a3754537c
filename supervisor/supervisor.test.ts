/** Strategies, restart types against exit reasons, start order and reverse stop order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWorld } from './fake_child.js';
import { ManualClock } from './manual_clock.js';
import { Supervisor } from './supervisor.js';
import type { SupervisorOptions } from './supervisor_options.js';
import type { Strategy } from './strategy.js';
import { ChildStartError } from './errors.js';

function make(world: FakeWorld, options: Partial<SupervisorOptions> = {}): { sup: Supervisor; lines: string[] } {
  const lines: string[] = [];
  const sup = new Supervisor({
    name: 'root',
    clock: new ManualClock(),
    log: (line) => lines.push(line),
    intensity: 10,
    children: ['a', 'b', 'c', 'd'].map((id) => world.spec(id)),
    ...options,
  });
  return { sup, lines };
}

test('children start in list order and stop in reverse', async () => {
  const world = new FakeWorld();
  const { sup } = make(world);
  await sup.start();
  assert.equal(sup.state, 'running');
  assert.deepEqual(world.of('start'), ['a', 'b', 'c', 'd']);
  await sup.stop();
  assert.deepEqual(world.of('stop'), ['d', 'c', 'b', 'a']);
  assert.deepEqual(await sup.exited, { kind: 'shutdown' });
  assert.equal(sup.state, 'stopped');
});

async function restartedBy(strategy: Strategy, crashId: string): Promise<{ stopped: string[]; started: string[] }> {
  const world = new FakeWorld();
  const { sup } = make(world, { strategy });
  await sup.start();
  world.events.length = 0;
  world.current(crashId).crash();
  await sup.idle();
  assert.equal(sup.state, 'running');
  assert.ok(sup.whichChildren().every((c) => c.state === 'running'));
  return { stopped: world.of('stop'), started: world.of('start') };
}

test('one_for_one restarts only the crashed child', async () => {
  assert.deepEqual(await restartedBy('one_for_one', 'b'), { stopped: [], started: ['b'] });
});

test('one_for_all stops the others in reverse and restarts all in order', async () => {
  assert.deepEqual(await restartedBy('one_for_all', 'b'), { stopped: ['d', 'c', 'a'], started: ['a', 'b', 'c', 'd'] });
});

test('rest_for_one restarts the crashed child and the ones after it', async () => {
  assert.deepEqual(await restartedBy('rest_for_one', 'b'), { stopped: ['d', 'c'], started: ['b', 'c', 'd'] });
  assert.deepEqual(await restartedBy('rest_for_one', 'd'), { stopped: [], started: ['d'] });
});

test('restart counts are kept per child and shown by whichChildren', async () => {
  const world = new FakeWorld();
  const { sup } = make(world, { strategy: 'rest_for_one' });
  await sup.start();
  world.current('c').crash();
  await sup.idle();
  const counts = Object.fromEntries(sup.whichChildren().map((c) => [c.id, c.restarts]));
  assert.deepEqual(counts, { a: 0, b: 0, c: 1, d: 1 });
  assert.equal(sup.whichChildren().find((c) => c.id === 'c')?.lastExit, 'error: c crashed');
  assert.equal(sup.tree().recentRestarts, 1);
});

type Outcome = 'restarted' | 'kept' | 'deleted';

async function outcome(restart: 'permanent' | 'transient' | 'temporary', end: 'crash' | 'exitNormally'): Promise<Outcome> {
  const world = new FakeWorld();
  const { sup } = make(world, { children: [world.spec('x', { restart })] });
  await sup.start();
  world.current('x')[end]();
  await sup.idle();
  const status = sup.whichChildren().find((c) => c.id === 'x');
  if (status === undefined) return 'deleted';
  if (world.starts('x') === 2 && status.state === 'running') return 'restarted';
  assert.equal(status.state, 'stopped');
  return 'kept';
}

test('permanent children restart after any exit', async () => {
  assert.equal(await outcome('permanent', 'crash'), 'restarted');
  assert.equal(await outcome('permanent', 'exitNormally'), 'restarted');
});

test('transient children restart only after an abnormal exit', async () => {
  assert.equal(await outcome('transient', 'crash'), 'restarted');
  assert.equal(await outcome('transient', 'exitNormally'), 'kept');
});

test('temporary children never restart and are removed', async () => {
  assert.equal(await outcome('temporary', 'crash'), 'deleted');
  assert.equal(await outcome('temporary', 'exitNormally'), 'deleted');
});

test('a temporary sibling stopped by a one_for_all restart is not restarted', async () => {
  const world = new FakeWorld();
  const { sup } = make(world, {
    strategy: 'one_for_all',
    children: [world.spec('a'), world.spec('t', { restart: 'temporary' }), world.spec('c')],
  });
  await sup.start();
  world.current('a').crash();
  await sup.idle();
  assert.deepEqual(sup.whichChildren().map((c) => c.id), ['a', 'c']);
  assert.equal(world.starts('t'), 1);
});

test('children stopped on purpose stay stopped through a group restart', async () => {
  const world = new FakeWorld();
  const { sup } = make(world, { strategy: 'one_for_all' });
  await sup.start();
  await sup.terminateChild('c');
  world.current('a').crash();
  await sup.idle();
  assert.equal(sup.whichChildren().find((c) => c.id === 'c')?.state, 'stopped');
  assert.equal(world.starts('c'), 1);
  assert.equal(world.starts('d'), 2);
});

test('a crash report names supervisor, child, reason and restart count, as one JSON line', async () => {
  const world = new FakeWorld();
  const { sup, lines } = make(world);
  await sup.start();
  assert.equal(lines.length, 0, 'progress reports are not logged by default');
  world.current('b').crash(new Error('disk on fire'));
  await sup.idle();
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes('\n'));
  const report = JSON.parse(lines[0]);
  assert.equal(report.log, 'supervisor');
  assert.equal(report.kind, 'child_exited');
  assert.equal(report.supervisor, 'root');
  assert.equal(report.child, 'b');
  assert.equal(report.reason.kind, 'error');
  assert.equal(report.reason.error.message, 'disk on fire');
  assert.equal(report.restarts, 0);
  assert.equal(report.action, 'restart');
});

test('a child that fails to start stops the ones before it, in reverse, and start rejects naming it', async () => {
  const world = new FakeWorld();
  const { sup } = make(world, {
    children: [world.spec('a'), world.spec('b'), world.spec('c', {}, { failStarts: 1 }), world.spec('d')],
  });
  await assert.rejects(sup.start(), (error: unknown) => error instanceof ChildStartError && error.childId === 'c');
  assert.deepEqual(world.of('stop'), ['b', 'a']);
  assert.equal(world.starts('d'), 0);
  assert.equal(sup.state, 'failed');
  assert.equal((await sup.exited).kind, 'error');
});

test('a restart whose start fails is retried from that child', async () => {
  const world = new FakeWorld();
  const { sup } = make(world, { strategy: 'rest_for_one' });
  await sup.start();
  world.failNextStarts('c', 2);
  world.current('b').crash();
  await sup.idle();
  assert.equal(sup.state, 'running');
  assert.ok(sup.whichChildren().every((c) => c.state === 'running'));
  assert.equal(world.starts('b'), 2);
  assert.equal(world.starts('c'), 2);
  assert.equal(world.starts('d'), 2);
});

test('exits of children the supervisor is stopping are not treated as crashes', async () => {
  const world = new FakeWorld();
  const { sup, lines } = make(world, { strategy: 'one_for_all' });
  await sup.start();
  await sup.stop();
  await sup.idle();
  assert.equal(world.starts('a'), 1);
  assert.deepEqual(lines, []);
});

test('stop is idempotent and a stopped supervisor cannot start again', async () => {
  const world = new FakeWorld();
  const { sup } = make(world);
  await sup.start();
  await sup.stop();
  await sup.stop();
  assert.equal(world.of('stop').length, 4);
  await assert.rejects(sup.start(), /is stopped/);
});
