import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { healthy, startEtcd } from './etcd.js';

test('etcd starts on free loopback ports, survives kill + restart with its data', async () => {
  const etcd = await startEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    assert.match(etcd.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    await client.put('k').value('v');
    await etcd.kill();
    assert.equal(await healthy(etcd.endpoint), false);
    await etcd.restart();
    assert.equal(await client.get('k').string(), 'v');
  } finally {
    client.close();
    await etcd.stop();
  }
  assert.equal(await healthy(etcd.endpoint), false);
});
