import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BatchingOutbox, type ShardPort } from './outbox.js';
import type { HostToShard } from '../../shards/messages.js';

describe('BatchingOutbox', () => {
  it('transfers exactly the frame bytes, also when given a view into a larger buffer', async () => {
    const posted: Array<{ m: HostToShard; transfer: ArrayBuffer[] }> = [];
    const port: ShardPort = { post: (m, transfer = []) => posted.push({ m, transfer }) };
    const outbox = new BatchingOutbox(() => port);
    // A bytes field decoded from a link batch is a Buffer view: slice() on it is not a copy.
    const batch = Buffer.from([9, 9, 9, 1, 2, 3, 9, 9]);
    const view = batch.subarray(3, 6);
    outbox.pushEncoded([{ shard: 0, conn: 1, user: 'u', device: 'd' }], view);
    outbox.deliverEncoded([{ shard: 0, conn: 2, user: 'v', device: 'd' }], { conversation: 'c', seq: 1 }, view);
    await new Promise((r) => setImmediate(r));
    assert.equal(posted.length, 1, 'one postMessage per shard per tick');
    assert.equal(posted[0].transfer.length, 2);
    for (const buf of posted[0].transfer) assert.deepEqual([...new Uint8Array(buf)], [1, 2, 3]);
    assert.deepEqual([...batch], [9, 9, 9, 1, 2, 3, 9, 9], 'the source buffer is untouched');
  });
});
