/**
 * Media in a 3-node cell (etcd, Cassandra, SeaweedFS as the shared S3 blob store;
 * cluster_harness.ts): the sender, the recipient and a non-member on different nodes.
 * A media slot, the send with media and the URL request are ops like any other
 * (forwarded to the conversation's owner); the bytes go to the owner's media listener
 * and are stored in the shared bucket; the recipient on another node downloads them
 * through a presigned GET; a non-member elsewhere is forbidden; the same bytes
 * uploaded through another node are stored once in the bucket.
 * "cassandra" in the file name makes `npm test` start its shared Cassandra.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getTestCassandra, type TestCassandra } from '../store/cassandra_test_env.js';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import { S3BlobStore } from '../media/blob_store_s3.js';
import { listKeys, pngBytes, sha256hex, tusUpload } from '../media/media_test_kit.js';
import { ClusterCell } from './cluster_harness.js';
import { show, sleep } from './harness.js';

let cassandra: TestCassandra;
let cell: ClusterCell;

before(async () => {
  cassandra = await getTestCassandra();
  cell = await ClusterCell.start({ nodes: 3, cassandra: cassandra.contactPoint });
});
after(async () => {
  await cell?.stop();
  await cassandra?.release();
});

/** Retry while the cell answers with a retryable error (a shard settling after start). */
async function callOk(c: TestClient, init: Parameters<TestClient['call']>[0], want: string): Promise<ServerFrame> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const f = await c.call(init);
    if (f.kind.case === want) return f;
    if (f.kind.case === 'error' && f.kind.value.retryable && Date.now() < deadline) {
      await sleep(Math.max(50, f.kind.value.retryAfterMs));
      continue;
    }
    return f;
  }
}

describe('media in a cell', () => {
  it('upload via the owner, the recipient on another node downloads identical bytes, a non-member is forbidden, dedup across nodes', async () => {
    const alice = await cell.online(0, 'cm-alice');
    const bob = await cell.online(1, 'cm-bob');
    const carol = await cell.online(2, 'cm-carol');
    try {
      const opened = await callOk(alice, { kind: { case: 'openDirect', value: { peer: 'cm-bob' } } }, 'directOpened');
      assert.equal(opened.kind.case, 'directOpened', show(opened));
      const conv = (opened.kind.value as { conversation: string }).conversation;
      const bytes = pngBytes(2_000_000, 640, 480);
      const slotFrame = await callOk(alice, { kind: { case: 'mediaSlot', value: { conversation: conv, size: BigInt(bytes.length), mime: 'image/png', sha256: sha256hex(bytes) } } }, 'mediaSlot');
      assert.equal(slotFrame.kind.case, 'mediaSlot', show(slotFrame));
      const slot = slotFrame.kind.value as { mediaId: string; uploadUrl: string };
      assert.equal((await tusUpload(slot.uploadUrl, bytes, 512 * 1024)).status, 204);
      const from = bob.frames.length;
      const ack = await callOk(alice, { kind: { case: 'send', value: { conversation: conv, clientMsgId: 'cm-1', body: 'photo', media: { mediaId: slot.mediaId } } } }, 'sendAck');
      assert.equal(ack.kind.case, 'sendAck', show(ack));
      const m = await bob.waitFor((f) => f.kind.case === 'message' && f.kind.value.clientMsgId === 'cm-1', 15_000, from);
      const media = (m.kind.value as { media?: { mediaId: string; sha256: string; width: number } }).media;
      assert.equal(media?.mediaId, slot.mediaId);
      assert.equal(media?.sha256, sha256hex(bytes));
      assert.equal(media?.width, 640);
      const u = await callOk(bob, { kind: { case: 'mediaUrl', value: { conversation: conv, mediaId: slot.mediaId } } }, 'mediaUrl');
      assert.equal(u.kind.case, 'mediaUrl', show(u));
      const url = (u.kind.value as { url: string }).url;
      assert.ok(url.startsWith(cell.seaweed.endpoint), `a presigned S3 URL: ${url}`);
      const r = await fetch(url);
      assert.equal(r.status, 200);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), bytes);
      const no = await carol.call({ kind: { case: 'mediaUrl', value: { conversation: conv, mediaId: slot.mediaId } } });
      assert.equal(no.kind.case === 'error' ? no.kind.value.code : show(no), 'forbidden');
      // The same bytes again, this time asked for through bob's node: one copy in the bucket.
      const again = await callOk(bob, { kind: { case: 'mediaSlot', value: { conversation: conv, size: BigInt(bytes.length), mime: 'image/png', sha256: '' } } }, 'mediaSlot');
      assert.equal((await tusUpload((again.kind.value as { uploadUrl: string }).uploadUrl, bytes)).status, 204);
      const s3 = new S3BlobStore({ endpoint: cell.seaweed.endpoint, region: cell.seaweed.region, bucket: cell.seaweed.bucket, accessKeyId: cell.seaweed.accessKeyId, secretAccessKey: cell.seaweed.secretAccessKey, forcePathStyle: true });
      try {
        const keys = (await listKeys(s3)).filter((k) => k.includes(sha256hex(bytes)));
        assert.equal(keys.length, 1, keys.join(', '));
      } finally {
        await s3.close();
      }
    } finally {
      for (const c of [alice, bob, carol]) c.close();
    }
  });
});
