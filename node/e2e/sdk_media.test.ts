/**
 * The SDK's attachments against a real node with its media listener (PROTOCOL.md §13):
 * alice sends a PNG (slot, tus upload with its SHA-256 declared, then a message that
 * carries the media_id through the outbox); bob gets the message with the server's
 * MediaRef (sniffed type, size, hash, pixel size) and downloads the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { TestNode, sleep } from './harness.js';
import { SwitchboardClient, UploadError, type WebSocketCtor } from '../../protocol/sdk/index.js';

// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

test('SDK media: upload, send through the outbox, receive the MediaRef, download the same bytes', { timeout: 60_000 }, async () => {
  const node = await TestNode.start();
  const make = (user: string): SwitchboardClient =>
    new SwitchboardClient({ url: node.url, user, auth: { token: () => node.token(user, 'phone') }, WebSocket: WebSocket as unknown as WebSocketCtor });
  const alice = make('alice');
  const bob = make('bob');
  try {
    await alice.start();
    await bob.start();
    while (alice.status !== 'online' || bob.status !== 'online') await sleep(50);
    const conv = await alice.openDirect('bob');
    const entry = await alice.sendMedia(conv, new Uint8Array(PNG), 'image/png', 'a photo');
    assert.equal(entry.media?.sha256, createHash('sha256').update(PNG).digest('hex'));
    while (bob.messages(conv).length === 0) await sleep(50);
    const got = bob.messages(conv)[0];
    assert.equal(got.body, 'a photo');
    assert.deepEqual(got.media, { mediaId: entry.media!.mediaId, mime: 'image/png', size: PNG.length, sha256: entry.media!.sha256, width: 1, height: 1 });
    while (alice.pending(conv).length) await sleep(50);
    assert.equal(alice.messages(conv)[0].media?.mediaId, entry.media!.mediaId, "alice's own copy keeps the reference");

    const { url, mime } = await bob.mediaUrl(conv, got.media!.mediaId);
    assert.equal(mime, 'image/png');
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), PNG, 'the same bytes');

    // Declared as a PNG but not one: the server refuses the upload; nothing is queued.
    const bad = await alice.sendMedia(conv, new TextEncoder().encode('not a png at all'), 'image/png').catch((e: unknown) => e);
    assert.ok(bad instanceof UploadError && bad.code === 'media_type_mismatch', String(bad));
    assert.equal(alice.pending(conv).length, 0);
  } finally {
    await alice.close();
    await bob.close();
    await node.stop();
    node.cleanup();
  }
});
