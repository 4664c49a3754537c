/** Dynamic children: startChild / terminateChild / restartChild / deleteChild at runtime. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWorld } from './fake_child.js';
import { ManualClock } from './manual_clock.js';
import { Supervisor } from './supervisor.js';
import {
  ChildRunningError,
  ChildSpecError,
  ChildStartError,
  DuplicateChildError,
  SupervisorNotRunningError,
  UnknownChildError,
} from './errors.js';

async function running(world: FakeWorld): Promise<Supervisor> {
  const sup = new Supervisor({ name: 'links', clock: new ManualClock(), log: () => {}, children: [world.spec('base')] });
  await sup.start();
  return sup;
}

test('startChild appends and starts; it is then supervised like the rest', async () => {
  const world = new FakeWorld();
  const sup = await running(world);
  const status = await sup.startChild(world.spec('peer-1', { restart: 'transient' }));
  assert.equal(status.state, 'running');
  assert.equal(status.pid, world.current('peer-1').pid);
  assert.deepEqual(sup.whichChildren().map((c) => c.id), ['base', 'peer-1']);
  world.current('peer-1').crash();
  await sup.idle();
  assert.equal(world.starts('peer-1'), 2);
  world.current('peer-1').exitNormally();
  await sup.idle();
  assert.equal(sup.whichChildren().find((c) => c.id === 'peer-1')?.state, 'stopped');
  await sup.stop();
  assert.deepEqual(world.of('stop'), ['base']);
});

test('startChild rejects a bad spec, a duplicate id, a failed start', async () => {
  const world = new FakeWorld();
  const sup = await running(world);
  await assert.rejects(sup.startChild({ id: 'x', start: world.start('x'), restart: 'nope' as never }), (e: unknown) => e instanceof ChildSpecError && e.field === 'restart');
  await assert.rejects(sup.startChild(world.spec('base')), DuplicateChildError);
  await assert.rejects(sup.startChild(world.spec('bad', {}, { failStarts: 1 })), (e: unknown) => e instanceof ChildStartError && e.childId === 'bad');
  assert.deepEqual(sup.whichChildren().map((c) => c.id), ['base'], 'a child that failed to start is not kept');
});

test('terminateChild stops without restarting; restartChild brings it back; deleteChild forgets it', async () => {
  const world = new FakeWorld();
  const sup = await running(world);
  await sup.startChild(world.spec('peer'));
  await sup.terminateChild('peer');
  await sup.idle();
  assert.equal(world.starts('peer'), 1);
  assert.equal(sup.whichChildren().find((c) => c.id === 'peer')?.state, 'stopped');
  await sup.restartChild('peer');
  assert.equal(world.starts('peer'), 2);
  await assert.rejects(sup.deleteChild('peer'), ChildRunningError);
  await assert.rejects(sup.restartChild('peer'), ChildRunningError);
  await sup.terminateChild('peer');
  await sup.deleteChild('peer');
  assert.deepEqual(sup.whichChildren().map((c) => c.id), ['base']);
  await assert.rejects(sup.terminateChild('peer'), UnknownChildError);
});

test('terminating a temporary child removes it', async () => {
  const world = new FakeWorld();
  const sup = await running(world);
  await sup.startChild(world.spec('once', { restart: 'temporary' }));
  await sup.terminateChild('once');
  assert.deepEqual(sup.whichChildren().map((c) => c.id), ['base']);
});

test('many dynamic children, stopped in reverse order of addition', async () => {
  const world = new FakeWorld();
  const sup = await running(world);
  const ids = Array.from({ length: 50 }, (_, i) => `peer-${i}`);
  for (const id of ids) await sup.startChild(world.spec(id));
  world.events.length = 0;
  await sup.stop();
  assert.deepEqual(world.of('stop'), [...ids].reverse().concat('base'));
});

test('dynamic operations on a supervisor that is not running are refused', async () => {
  const world = new FakeWorld();
  const sup = new Supervisor({ name: 'idle', clock: new ManualClock(), log: () => {} });
  await assert.rejects(sup.startChild(world.spec('x')), SupervisorNotRunningError);
  await sup.start();
  await sup.stop();
  await assert.rejects(sup.startChild(world.spec('x')), (e: unknown) => e instanceof SupervisorNotRunningError && /is stopped/.test(e.message));
});
