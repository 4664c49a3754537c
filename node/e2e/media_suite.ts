/**
 * Media attachments end to end against a real node process, over real sockets and
 * HTTP (issue 15's acceptance), on the blob store the caller configures: the
 * filesystem store (media.test.ts) or S3 on a real SeaweedFS (media_s3.test.ts).
 *
 * What a user would check: the recipient downloads exactly the bytes uploaded; a
 * non-member is forbidden; expired and tampered URLs get 403; Range gets 206 with the
 * right bytes; a cut upload resumes from the server's offset; the same bytes are
 * stored once (looked up in the blob store itself); quota, size, hash and type
 * mismatches each get their documented error and leave nothing stored; GC removes an
 * unreferenced blob after the grace period and never a referenced one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import type { TestClient } from '../../protocol/client.js';
import type { BlobStore } from '../media/blob_store.js';
import { isBlurhashValid } from 'blurhash';
import { jpegBytes, listKeys, pngBytes, realPng, sha256hex, tusHead, tusPatch, tusPatchCut, tusUpload } from '../media/media_test_kit.js';
import { blurhashOfPng } from '../media/blurhash.js';
import { merge } from '../config.js';
import { openDirect, show, sleep, syncAll, TestNode } from './harness.js';

export interface MediaSuiteOptions {
  name: string;
  /** Deep-merged into each node's config (media.store / media.s3 for S3). */
  config: () => Record<string, unknown>;
  /** The same blob store `node` uses, to look at what it holds. */
  blobs: (node: TestNode) => BlobStore;
  /** S3 serves downloads itself: its own ETag, no nosniff header (MEDIA.md). */
  s3: boolean;
}

const URL_TTL_MS = 3_000;

export function runMediaE2e(o: MediaSuiteOptions): void {
  describe(`media end to end (${o.name})`, () => {
    let node: TestNode;
    let alice: TestClient;
    let bob: TestClient;
    let carol: TestClient;
    let conv = '';

    before(async () => {
      node = await TestNode.start({
        config: merge({ media: { maxBytes: 8 * 1024 * 1024, quotaBytesPerDay: 40 * 1024 * 1024, urlTtlMs: URL_TTL_MS, gcIntervalMs: 600_000 } }, o.config()) as Record<string, unknown>,
      });
      alice = await node.connect('m-alice', 'phone');
      bob = await node.connect('m-bob', 'phone');
      carol = await node.connect('m-carol', 'phone');
      conv = await openDirect(alice, 'm-bob');
      await syncAll(bob);
    });
    after(async () => {
      for (const c of [alice, bob, carol]) c?.close();
      await node?.stop();
      node?.cleanup();
    });

    const slot = (c: TestClient, size: number, mime: string, sha256 = '', conversation = conv): Promise<ServerFrame> =>
      c.call({ kind: { case: 'mediaSlot', value: { conversation, size: BigInt(size), mime, sha256 } } });
    const urlOf = (c: TestClient, mediaId: string, conversation = conv): Promise<ServerFrame> =>
      c.call({ kind: { case: 'mediaUrl', value: { conversation, mediaId } } });
    const slotOk = async (c: TestClient, bytes: Buffer, mime: string, withSha = true): Promise<{ mediaId: string; uploadUrl: string }> => {
      const f = await slot(c, bytes.length, mime, withSha ? sha256hex(bytes) : '');
      assert.equal(f.kind.case, 'mediaSlot', show(f));
      const v = f.kind.value as { mediaId: string; uploadUrl: string };
      return { mediaId: v.mediaId, uploadUrl: v.uploadUrl };
    };
    const errorCode = (f: ServerFrame): string => (f.kind.case === 'error' ? f.kind.value.code : `not an error: ${show(f)}`);
    const stagingFiles = (): string[] => readdirSync(path.join(node.dataDir, 'media', 'staging'));

    it('upload, send, the recipient gets the reference and downloads identical bytes (Range 206)', async () => {
      const bytes = pngBytes(1_500_000, 1024, 768);
      const s = await slotOk(alice, bytes, 'image/png');
      assert.equal((await tusUpload(s.uploadUrl, bytes, 512 * 1024)).status, 204);
      const from = bob.frames.length;
      const ack = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'photo-1', body: 'look', media: { mediaId: s.mediaId } } } });
      assert.equal(ack.kind.case, 'sendAck', show(ack));
      const pushed = await bob.waitFor((f) => f.kind.case === 'message' && f.kind.value.clientMsgId === 'photo-1', 10_000, from);
      const m = pushed.kind.value as { media?: { mediaId: string; mime: string; size: bigint; sha256: string; width: number; height: number }; meta: Record<string, string> };
      assert.deepEqual(
        { ...m.media, size: Number(m.media?.size) },
        { $typeName: 'switchboard.v1.MediaRef', mediaId: s.mediaId, mime: 'image/png', size: bytes.length, sha256: sha256hex(bytes), width: 1024, height: 768, blurhash: '' },
      );
      assert.ok(!('$media' in m.meta), 'the reserved meta key stays on the server');
      const u = await urlOf(bob, s.mediaId);
      assert.equal(u.kind.case, 'mediaUrl', show(u));
      const url = (u.kind.value as { url: string }).url;
      const r = await fetch(url);
      assert.equal(r.status, 200);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), bytes, 'identical bytes');
      assert.equal(r.headers.get('content-type'), 'image/png');
      if (!o.s3) {
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(r.headers.get('etag'), `"${sha256hex(bytes)}"`);
      }
      const part = await fetch(url, { headers: { Range: 'bytes=100000-100999' } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), `bytes 100000-100999/${bytes.length}`);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100000, 101000));
      // History (socket) carries the reference too.
      const h = await bob.call({ kind: { case: 'history', value: { conversation: conv, beforeSeq: 0n, limit: 10 } } });
      assert.ok(h.kind.case === 'historyPage' && h.kind.value.messages.some((x) => x.media?.mediaId === s.mediaId), show(h));
    });

    it('a real PNG is delivered with its dimensions and a blurhash computed in the pool', async () => {
      const png = realPng(320, 200);
      const s = await slotOk(alice, png, 'image/png');
      assert.equal((await tusUpload(s.uploadUrl, png)).status, 204);
      const from = bob.frames.length;
      assert.equal((await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'png-1', body: '', media: { mediaId: s.mediaId } } } })).kind.case, 'sendAck');
      const f = await bob.waitFor((x) => x.kind.case === 'message' && x.kind.value.clientMsgId === 'png-1', 10_000, from);
      const media = (f.kind.value as { media?: { width: number; height: number; blurhash: string } }).media;
      assert.equal(media?.width, 320);
      assert.equal(media?.height, 200);
      assert.equal(media?.blurhash, blurhashOfPng(png));
      assert.ok(isBlurhashValid(media.blurhash).result, media.blurhash);
    });

    it('a non-member is forbidden; a URL that expired or was tampered with gets 403', async () => {
      const bytes = jpegBytes(20_000);
      const s = await slotOk(alice, bytes, 'image/jpeg');
      assert.equal((await tusUpload(s.uploadUrl, bytes)).status, 204);
      assert.equal((await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'photo-2', body: '', media: { mediaId: s.mediaId } } } })).kind.case, 'sendAck');
      assert.equal(errorCode(await urlOf(carol, s.mediaId)), 'forbidden', 'carol is not in the conversation');
      assert.equal(errorCode(await slot(carol, 100, 'image/png')), 'not_member');
      const url = ((await urlOf(bob, s.mediaId)).kind.value as { url: string }).url;
      const t = new URL(url);
      const sigParam = o.s3 ? 'X-Amz-Signature' : 'sig';
      const sig = t.searchParams.get(sigParam)!;
      t.searchParams.set(sigParam, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
      assert.equal((await fetch(t)).status, 403, 'tampered');
      await sleep(URL_TTL_MS + 1_200);
      assert.equal((await fetch(url)).status, 403, 'expired');
    });

    it('an upload cut in the middle resumes from the server offset and completes', async () => {
      const bytes = jpegBytes(4_000_000);
      const s = await slotOk(alice, bytes, 'image/jpeg');
      await tusPatchCut(s.uploadUrl, 0, bytes.subarray(0, 1_500_000));
      const head = await tusHead(s.uploadUrl);
      assert.ok(head.offset > 0 && head.offset <= 1_500_000, `server offset ${head.offset}`);
      assert.equal((await tusPatch(s.uploadUrl, head.offset + 1, bytes.subarray(head.offset + 1, head.offset + 10))).status, 409, 'wrong offset');
      assert.equal((await tusUpload(s.uploadUrl, bytes)).status, 204);
      const ack = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'video-1', body: '', media: { mediaId: s.mediaId } } } });
      assert.equal(ack.kind.case, 'sendAck', show(ack));
      const url = ((await urlOf(bob, s.mediaId)).kind.value as { url: string }).url;
      assert.deepEqual(Buffer.from(await (await fetch(url)).arrayBuffer()), bytes);
    });

    it('a second upload of the same bytes is stored once', async () => {
      const bytes = pngBytes(300_000);
      const before = await listKeys(o.blobs(node));
      for (const c of [alice, bob]) {
        const s = await slotOk(c, bytes, 'image/png');
        assert.equal((await tusUpload(s.uploadUrl, bytes)).status, 204);
      }
      const added = (await listKeys(o.blobs(node))).filter((k) => !before.includes(k));
      assert.equal(added.length, 1, `one stored copy: ${added.join(', ')}`);
      assert.ok(added[0].includes(sha256hex(bytes)));
    });

    it('quota, size, hash and type mismatches get their documented errors and leave nothing stored', async () => {
      const before = await listKeys(o.blobs(node));
      const dave = await node.connect('m-dave', 'phone');
      const daveConv = await openDirect(dave, 'm-bob');
      try {
        assert.equal(errorCode(await slot(dave, 8 * 1024 * 1024 + 1, 'image/png', '', daveConv)), 'limit_exceeded', 'over media.maxBytes');
        for (let i = 0; i < 5; i++) assert.equal((await slot(dave, 8 * 1024 * 1024, 'image/png', '', daveConv)).kind.case, 'mediaSlot');
        const q = await slot(dave, 1024, 'image/png', '', daveConv);
        assert.equal(errorCode(q), 'quota_exceeded');
        assert.ok(q.kind.case === 'error' && q.kind.value.retryable && q.kind.value.retryAfterMs > 0, show(q));
      } finally {
        dave.close();
      }
      const cases: Array<{ bytes: Buffer; mime: string; sha?: string; body?: Buffer; status: number; code: string }> = [
        { bytes: pngBytes(5000), mime: 'image/png', sha: 'b'.repeat(64), status: 422, code: 'media_hash_mismatch' },
        { bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), mime: 'image/jpeg', status: 422, code: 'media_type_mismatch' },
        { bytes: pngBytes(5000), mime: 'image/png', body: Buffer.concat([pngBytes(5000), Buffer.alloc(10)]), status: 413, code: 'media_size_mismatch' },
      ];
      for (const c of cases) {
        const f = await slot(alice, c.bytes.length, c.mime, c.sha ?? '');
        const s = f.kind.value as { mediaId: string; uploadUrl: string };
        const r = await tusPatch(s.uploadUrl, 0, c.body ?? c.bytes);
        assert.equal(r.status, c.status, r.body);
        assert.equal((JSON.parse(r.body) as { code: string }).code, c.code);
        assert.equal((await tusHead(s.uploadUrl)).status, 404, 'the slot is gone');
        const send = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `bad-${c.code}`, body: '', media: { mediaId: s.mediaId } } } });
        assert.equal(errorCode(send), 'invalid_argument', 'a refused upload cannot be sent');
      }
      assert.deepEqual(await listKeys(o.blobs(node)), before, 'nothing stored');
      assert.deepEqual(stagingFiles(), [], 'nothing staged');
    });

    it('only the uploader may attach, only its own complete upload; meta.$media is reserved', async () => {
      const bytes = pngBytes(2000);
      const s = await slotOk(alice, bytes, 'image/png');
      const early = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'early', body: '', media: { mediaId: s.mediaId } } } });
      assert.equal(errorCode(early), 'invalid_argument', 'not complete yet');
      assert.equal((await tusUpload(s.uploadUrl, bytes)).status, 204);
      const stolen = await bob.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'stolen', body: '', media: { mediaId: s.mediaId } } } });
      assert.equal(errorCode(stolen), 'forbidden');
      const forged = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'forged', body: '', meta: { $media: '{"mediaId":"x"}' } } } });
      assert.equal(errorCode(forged), 'invalid_argument');
    });

    it('client-encrypted media (application/octet-stream) is stored unsniffed and served as an attachment', async () => {
      const cipher = Buffer.concat([Buffer.from('%PDF-'), pngBytes(10_000)]);
      const s = await slotOk(alice, cipher, 'application/octet-stream');
      assert.equal((await tusUpload(s.uploadUrl, cipher)).status, 204);
      const ack = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'e2e-1', body: '', meta: { key: 'k' }, media: { mediaId: s.mediaId } } } });
      assert.equal(ack.kind.case, 'sendAck');
      const u = (await urlOf(bob, s.mediaId)).kind.value as { url: string; mime: string };
      assert.equal(u.mime, 'application/octet-stream');
      const r = await fetch(u.url);
      assert.equal(r.headers.get('content-type'), 'application/octet-stream');
      assert.match(r.headers.get('content-disposition') ?? '', /^attachment/);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), cipher);
    });

    it('the HTTP API does the same for app backends: slot, send with media_id, download URL', async () => {
      const bytes = jpegBytes(30_000, 64, 48);
      const sl = await node.api('POST', '/v1/media/slots', { user: 'm-alice', conversation: conv, size: bytes.length, mime: 'image/jpeg', sha256: sha256hex(bytes) });
      assert.equal(sl.status, 201, JSON.stringify(sl.body));
      assert.equal((await tusUpload(sl.body.upload_url as string, bytes)).status, 204);
      const sent = await node.api('POST', '/v1/messages', { sender: 'm-alice', conversation: conv, client_msg_id: 'api-photo', body: '', media_id: sl.body.media_id });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      const hist = await node.api('GET', `/v1/conversations/${conv}/messages?limit=1`);
      assert.deepEqual(hist.body.messages[0].media, { media_id: sl.body.media_id, mime: 'image/jpeg', size: bytes.length, sha256: sha256hex(bytes), width: 64, height: 48, blurhash: '' });
      const u = await node.api('POST', '/v1/media/urls', { user: 'm-bob', conversation: conv, media_id: sl.body.media_id });
      assert.equal(u.status, 200, JSON.stringify(u.body));
      assert.deepEqual(Buffer.from(await (await fetch(u.body.url as string)).arrayBuffer()), bytes);
      const no = await node.api('POST', '/v1/media/urls', { user: 'm-carol', conversation: conv, media_id: sl.body.media_id });
      assert.equal(no.status, 403);
      assert.equal(no.body.code, 'forbidden');
    });
  });

  describe(`media GC end to end (${o.name})`, () => {
    let node: TestNode;
    before(async () => {
      node = await TestNode.start({ config: merge({ media: { gcGraceMs: 1_500, gcIntervalMs: 300 } }, o.config()) as Record<string, unknown> });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    it('removes an unreferenced blob after the grace period, never a referenced one', async () => {
      const alice = await node.connect('g-alice', 'phone');
      const bob = await node.connect('g-bob', 'phone');
      try {
        const conv = await openDirect(alice, 'g-bob');
        const upload = async (bytes: Buffer): Promise<string> => {
          const f = await alice.call({ kind: { case: 'mediaSlot', value: { conversation: conv, size: BigInt(bytes.length), mime: 'image/png', sha256: '' } } });
          const v = f.kind.value as { mediaId: string; uploadUrl: string };
          assert.equal((await tusUpload(v.uploadUrl, bytes)).status, 204);
          return v.mediaId;
        };
        const kept = pngBytes(50_000);
        const lone = pngBytes(50_001);
        const keptId = await upload(kept);
        await upload(lone);
        assert.equal((await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'kept', body: '', media: { mediaId: keptId } } } })).kind.case, 'sendAck');
        const has = async (b: Buffer): Promise<boolean> => (await listKeys(o.blobs(node))).some((k) => k.includes(sha256hex(b)));
        assert.ok(await has(lone), 'within the grace period it stays');
        const deadline = Date.now() + 15_000;
        while ((await has(lone)) && Date.now() < deadline) await sleep(200);
        assert.ok(!(await has(lone)), 'the unreferenced blob was collected');
        await sleep(1_000); // several more passes
        assert.ok(await has(kept), 'the referenced blob is kept');
        const u = await bob.call({ kind: { case: 'mediaUrl', value: { conversation: conv, mediaId: keptId } } });
        const url = (u.kind.value as { url: string }).url;
        assert.deepEqual(Buffer.from(await (await fetch(url)).arrayBuffer()), kept);
        assert.match(node.stderr, /media gc pass/, 'a log line per pass');
        // The node's /metrics merges the media listener thread's registry.
        const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
        assert.match(metrics, /switchboard_media_gc_deletions_total\{kind="blob"\} [1-9]/);
        assert.match(metrics, /switchboard_media_bytes_in_total [1-9]/);
        // On S3 the bucket serves downloads: the node sends no bytes out.
        if (!o.s3) assert.match(metrics, /switchboard_media_bytes_out_total [1-9]/);
      } finally {
        alice.close();
        bob.close();
      }
    });
  });
}

/** Retention trimming releases media: once the messages carrying it are trimmed, GC collects it. */
export function runMediaRetentionE2e(o: MediaSuiteOptions): void {
  describe(`media and retention end to end (${o.name})`, () => {
    let node: TestNode;
    before(async () => {
      node = await TestNode.start({ config: merge({ store: { retentionMessages: 3 }, media: { gcGraceMs: 1_000, gcIntervalMs: 300 } }, o.config()) as Record<string, unknown> });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    it('a blob whose only message retention trimmed is collected; one still carried stays', async () => {
      const alice = await node.connect('r-alice', 'phone');
      try {
        const conv = await openDirect(alice, 'r-bob');
        const other = await openDirect(alice, 'r-carol');
        const sendWith = async (c: string, bytes: Buffer, id: string): Promise<void> => {
          const f = await alice.call({ kind: { case: 'mediaSlot', value: { conversation: c, size: BigInt(bytes.length), mime: 'image/png', sha256: '' } } });
          const v = f.kind.value as { mediaId: string; uploadUrl: string };
          assert.equal((await tusUpload(v.uploadUrl, bytes)).status, 204);
          const ack = await alice.call({ kind: { case: 'send', value: { conversation: c, clientMsgId: id, body: '', media: { mediaId: v.mediaId } } } });
          assert.equal(ack.kind.case, 'sendAck', show(ack));
        };
        const trimmed = pngBytes(40_000);
        const carried = pngBytes(40_001);
        await sendWith(conv, trimmed, 'old-photo');
        await sendWith(other, carried, 'kept-photo');
        const has = async (b: Buffer): Promise<boolean> => (await listKeys(o.blobs(node))).some((k) => k.includes(sha256hex(b)));
        await sleep(2_000);
        assert.ok(await has(trimmed), 'carried by a kept message: not collected');
        // Retention keeps 3 messages (trimming in steps): 6 more push the photo out.
        for (let i = 0; i < 6; i++) assert.equal((await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `t-${i}`, body: `text ${i}` } } })).kind.case, 'sendAck');
        const deadline = Date.now() + 15_000;
        while ((await has(trimmed)) && Date.now() < deadline) await sleep(200);
        assert.ok(!(await has(trimmed)), 'collected after its message was trimmed');
        assert.ok(await has(carried), 'the other conversation still carries its photo');
      } finally {
        alice.close();
      }
    });
  });
}
