import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWorld } from './fake_child.js';
import { exitHostOnGiveUp, HOST_EXIT_CODES } from './host_exit.js';
import { ManualClock } from './manual_clock.js';
import { Supervisor } from './supervisor.js';

function top(world: FakeWorld) {
  return new Supervisor({ name: 'host', clock: new ManualClock(), log: () => {}, intensity: 0, children: [world.spec('a')] });
}

test('a top-level supervisor that gives up makes the host log one line and exit 1', async () => {
  const world = new FakeWorld();
  const sup = top(world);
  const lines: string[] = [];
  const codes: number[] = [];
  const watching = exitHostOnGiveUp(sup, { log: (l) => lines.push(l), exit: (c) => codes.push(c) });
  await sup.start();
  world.current('a').crash(new Error('fatal'));
  assert.equal(await watching, HOST_EXIT_CODES.failed);
  assert.deepEqual(codes, [1]);
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(line.kind, 'host_exit');
  assert.equal(line.reason.error.name, 'SupervisorGaveUpError');
  assert.equal(line.reason.error.cause.message, 'fatal');
  assert.equal(line.tree.state, 'failed');
});

test('a hung child exits the host with the hung code', async () => {
  const world = new FakeWorld();
  const sup = top(world);
  const codes: number[] = [];
  const watching = exitHostOnGiveUp(sup, { log: () => {}, exit: (c) => codes.push(c) });
  await sup.start();
  world.current('a').hang();
  assert.equal(await watching, HOST_EXIT_CODES.hung);
  assert.deepEqual(codes, [2]);
});

test('a clean stop does not exit the host', async () => {
  const world = new FakeWorld();
  const sup = top(world);
  const codes: number[] = [];
  const watching = exitHostOnGiveUp(sup, { log: () => {}, exit: (c) => codes.push(c) });
  await sup.start();
  await sup.stop();
  assert.equal(await watching, undefined);
  assert.deepEqual(codes, []);
});
