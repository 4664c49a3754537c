/** The restart window at supervisor level, nested supervisors, failing upward, hung children. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWorld } from './fake_child.js';
import { ManualClock } from './manual_clock.js';
import { Supervisor } from './supervisor.js';
import { supervisorSpec } from './supervisor_child.js';
import { SupervisorGaveUpError } from './errors.js';
import type { SupervisorReport } from './reports.js';

test('past the window the supervisor stops its children in reverse and gives up', async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const lines: string[] = [];
  const sup = new Supervisor({
    name: 'root',
    clock,
    log: (l) => lines.push(l),
    intensity: 2,
    periodMs: 1000,
    children: [world.spec('a'), world.spec('b'), world.spec('c')],
  });
  await sup.start();
  world.current('b').crash();
  await sup.idle();
  clock.advance(100);
  world.current('b').crash();
  await sup.idle();
  assert.equal(sup.state, 'running');
  world.events.length = 0;
  clock.advance(100);
  world.current('b').crash(new Error('third strike'));
  await sup.idle();
  assert.equal(sup.state, 'failed');
  assert.deepEqual(world.of('stop'), ['c', 'a']);
  assert.deepEqual(world.of('start'), []);
  const reason = await sup.exited;
  assert.equal(reason.kind, 'error');
  assert.ok(reason.kind === 'error' && reason.error instanceof SupervisorGaveUpError);
  assert.equal(reason.error.why, 'intensity');
  assert.equal(reason.error.childId, 'b');
  const gaveUp = lines.map((l) => JSON.parse(l)).find((r) => r.kind === 'gave_up');
  assert.equal(gaveUp.child, 'b');
  assert.equal(gaveUp.restarts, 3);
  assert.equal(gaveUp.reason.error.message, 'third strike');
});

test('crashes spread out wider than the window never give up', async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const sup = new Supervisor({ name: 'root', clock, log: () => {}, intensity: 1, periodMs: 1000, children: [world.spec('a')] });
  await sup.start();
  for (let i = 0; i < 10; i++) {
    world.current('a').crash();
    await sup.idle();
    clock.advance(1000);
  }
  assert.equal(sup.state, 'running');
  assert.equal(world.starts('a'), 11);
});

test('a nested supervisor that gives up fails upward; the parent restarts it', async () => {
  const world = new FakeWorld();
  const clock = new ManualClock();
  const reports: SupervisorReport[] = [];
  const root = new Supervisor({
    name: 'root',
    clock,
    log: () => {},
    intensity: 5,
    children: [world.spec('store'), supervisorSpec('shards', { intensity: 1, children: [world.spec('s0'), world.spec('s1')] })],
  });
  root.onReport((r) => reports.push(r));
  await root.start();
  world.current('s0').crash();
  await root.idle();
  world.current('s0').crash();
  await root.idle();
  assert.equal(root.state, 'running');
  assert.equal(world.starts('s0'), 3, 'restarted once inside, then again with its supervisor');
  assert.equal(world.starts('s1'), 2);
  assert.equal(world.starts('store'), 1);
  const gaveUp = reports.find((r) => r.kind === 'gave_up');
  assert.equal(gaveUp?.supervisor, 'root/shards');
  const upward = reports.find((r) => r.kind === 'child_exited' && r.supervisor === 'root');
  assert.equal(upward?.kind === 'child_exited' && upward.child, 'shards');
  assert.equal(root.whichChildren().find((c) => c.id === 'shards')?.restarts, 1);
});

test('escalation reaches the top and surfaces through exited', async () => {
  const world = new FakeWorld();
  const root = new Supervisor({
    name: 'root',
    clock: new ManualClock(),
    log: () => {},
    intensity: 0,
    children: [
      world.spec('store'),
      supervisorSpec('mid', {
        intensity: 0,
        children: [supervisorSpec('leaf', { intensity: 0, children: [world.spec('w')] })],
      }),
    ],
  });
  await root.start();
  world.current('w').crash(new Error('deep'));
  await root.idle();
  assert.equal(root.state, 'failed');
  const reason = await root.exited;
  assert.ok(reason.kind === 'error' && reason.error instanceof SupervisorGaveUpError);
  assert.equal(reason.error.childId, 'mid');
  assert.deepEqual(world.of('stop'), ['store']);
});

test('a hung child escalates at once through every level, and is never killed', async () => {
  const world = new FakeWorld();
  const root = new Supervisor({
    name: 'root',
    clock: new ManualClock(),
    log: () => {},
    intensity: 100,
    children: [world.spec('store'), supervisorSpec('shards', { intensity: 100, children: [world.spec('s0'), world.spec('s1')] })],
  });
  await root.start();
  world.current('s0').hang();
  await root.idle();
  const reason = await root.exited;
  assert.equal(reason.kind, 'hung');
  assert.ok(reason.kind === 'hung' && reason.error instanceof SupervisorGaveUpError && reason.error.why === 'hung');
  assert.deepEqual(world.of('stop'), ['s1', 'store']);
  assert.deepEqual(world.of('kill'), []);
  assert.equal(world.starts('s0'), 1);
  const shards = root.tree().children.find((c) => c.id === 'shards');
  assert.equal(shards?.state, 'hung');
});

test('the nested tree is visible in tree() while running', async () => {
  const world = new FakeWorld();
  const root = new Supervisor({
    name: 'root',
    clock: new ManualClock(),
    log: () => {},
    children: [supervisorSpec('shards', { strategy: 'one_for_all', children: [world.spec('s0')] })],
  });
  await root.start();
  const shards = root.tree().children[0];
  assert.equal(shards.type, 'supervisor');
  assert.equal(shards.tree?.name, 'root/shards');
  assert.equal(shards.tree?.strategy, 'one_for_all');
  assert.deepEqual(shards.tree?.children.map((c) => [c.id, c.state, c.pid]), [['s0', 'running', world.current('s0').pid]]);
  await root.stop();
  assert.deepEqual(world.of('stop'), ['s0']);
});

test('a bad spec inside a nested supervisor is rejected when the tree is built', () => {
  const world = new FakeWorld();
  assert.throws(
    () => supervisorSpec('shards', { children: [world.spec('s0', { shutdown: -5 })] }),
    (e: unknown) => e instanceof Error && 'field' in e && e.field === 'shutdown',
  );
});
