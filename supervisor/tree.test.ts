import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWorld } from './fake_child.js';
import { ManualClock } from './manual_clock.js';
import { Supervisor } from './supervisor.js';
import { supervisorSpec } from './supervisor_child.js';
import { formatTree } from './tree.js';

test('the live tree as data and as text', async () => {
  const world = new FakeWorld();
  const sup = new Supervisor({
    name: 'host',
    clock: new ManualClock(),
    log: () => {},
    children: [
      world.spec('store'),
      supervisorSpec('shards', { strategy: 'one_for_all', children: [world.spec('shard-0'), world.spec('shard-1')] }),
      world.spec('admin', { restart: 'transient' }),
    ],
  });
  await sup.start();
  world.current('shard-1').crash(new Error('boom'));
  await sup.idle();
  const tree = sup.tree();
  assert.deepEqual(JSON.parse(JSON.stringify(tree)), tree, 'the tree is plain JSON data');
  assert.equal(
    formatTree(tree),
    [
      'host  one_for_one  running  restarts 0/3 per 5000ms',
      '├── store  worker  running  restarts=0  pid=1000',
      '├── shards  supervisor  running  restarts=0  one_for_all  (running)',
      '│   ├── shard-0  worker  running  restarts=1  pid=1004  last=shutdown',
      '│   └── shard-1  worker  running  restarts=1  pid=1005  last=error: boom',
      '└── admin  worker  running  restarts=0  transient  pid=1003',
    ].join('\n'),
  );
  await sup.stop();
  assert.match(formatTree(sup.tree()), /└── admin {2}worker {2}stopped/);
});
