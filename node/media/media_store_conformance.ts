/**
 * The MediaStore conformance suite: SQLite and Cassandra run these same cases.
 *
 *   runMediaStoreConformance('sqlite', async () => new SqliteMediaStore(file));
 *
 * `open` returns a NEW handle on the SAME data each call (the node opens two: the
 * host's and the media thread's). Ids are random, so cases share the backing data.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { MediaStore, NewSlot } from './media_store.js';

const uid = (p: string): string => `${p}-${randomUUID()}`;
const hex = (): string => randomBytes(32).toString('hex');

function slot(over: Partial<NewSlot> = {}): NewSlot {
  return {
    mediaId: uid('m'),
    owner: uid('alice'),
    conversation: uid('c'),
    size: 1234,
    declaredMime: 'image/png',
    declaredSha256: '',
    createdAt: 1_700_000_000_000,
    expiresAt: 1_700_000_600_000,
    node: 'node-1',
    ...over,
  };
}

const DAY = '2026-06-01';
const completion = (sha256: string) => ({ sha256, mime: 'image/png', width: 3, height: 2, blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj', completedAt: 1_700_000_100_000 });

export function runMediaStoreConformance(name: string, open: () => Promise<MediaStore>): void {
  const withStore = async <T>(fn: (s: MediaStore) => Promise<T>): Promise<T> => {
    const s = await open();
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  };

  describe(`MediaStore conformance: ${name}`, () => {
    it('creates an open slot, tracks its offset, completes it once', () =>
      withStore(async (s) => {
        const sl = slot({ declaredSha256: hex() });
        await s.createSlot(sl, DAY);
        assert.equal(await s.getUsage(sl.owner, DAY), sl.size, 'the slot charged its size to the day');
        const got = await s.getMedia(sl.mediaId);
        assert.ok(got);
        assert.deepEqual(
          { ...got, referenced: got.referenced },
          { ...sl, state: 'open', offset: 0, mime: '', sha256: '', width: 0, height: 0, blurhash: '', completedAt: 0, referenced: false },
        );
        assert.equal(await s.setOffset(sl.mediaId, 500), true);
        assert.equal((await s.getMedia(sl.mediaId))!.offset, 500);
        const sha = hex();
        assert.equal(await s.completeMedia(sl.mediaId, completion(sha)), true);
        assert.equal(await s.completeMedia(sl.mediaId, completion(sha)), false, 'completes once');
        assert.equal(await s.setOffset(sl.mediaId, 600), false, 'no offset after completion');
        const done = (await s.getMedia(sl.mediaId))!;
        assert.equal(done.state, 'complete');
        assert.equal(done.sha256, sha);
        assert.equal(done.width, 3);
        assert.equal(done.height, 2);
        assert.equal(done.mime, 'image/png');
        assert.equal(done.blurhash, 'LEHV6nWB2yk8pyo0adR*.7kCMdnj');
        assert.equal(await s.dropSlot(sl.mediaId), false, 'a complete media is not an open slot');
        assert.equal(await s.getMedia(uid('nope')), null);
      }));

    it('a second handle sees what the first wrote', async () => {
      const sl = slot();
      await withStore((s) => s.createSlot(sl, DAY));
      assert.equal((await withStore((s) => s.getMedia(sl.mediaId)))?.owner, sl.owner);
    });

    it('drops an open slot', () =>
      withStore(async (s) => {
        const sl = slot();
        await s.createSlot(sl, DAY);
        assert.equal(await s.dropSlot(sl.mediaId), true);
        assert.equal(await s.getMedia(sl.mediaId), null);
        assert.equal(await s.dropSlot(sl.mediaId), false);
      }));

    it('dedups blobs: one insert wins, others link; links bump linkedAt', () =>
      withStore(async (s) => {
        const sha = hex();
        const [a, b, c] = [uid('m'), uid('m'), uid('m')];
        const base = { sha256: sha, size: 10, mime: 'image/png', createdAt: 1000, linkedAt: 1000 };
        // Concurrent inserts of the same hash: exactly one wins.
        const wins = await Promise.all([s.insertBlob({ ...base, key: `k/${a}` }, a), s.insertBlob({ ...base, key: `k/${b}` }, b)]);
        assert.equal(wins.filter(Boolean).length, 1);
        const winner = wins[0] ? a : b;
        const blob = (await s.getBlob(sha))!;
        assert.equal(blob.key, `k/${winner}`);
        assert.equal(blob.state, 'stored');
        assert.equal(await s.linkBlob(sha, c, 1000), true);
        const after = (await s.getBlob(sha))!;
        assert.ok(after.linkedAt > 1000, 'a link always moves linkedAt');
        assert.deepEqual((await s.blobMedia(sha)).sort(), [winner, c].sort());
        assert.equal(await s.getBlob(hex()), null);
      }));

    it('GC claims a blob only while unlinked and unchanged; a claimed blob refuses links', () =>
      withStore(async (s) => {
        const sha = hex();
        const m = uid('m');
        await s.insertBlob({ sha256: sha, key: 'k', size: 1, mime: 'image/png', createdAt: 1, linkedAt: 5 }, m);
        assert.equal(await s.claimBlobForGc(sha, 5), false, 'linked: not claimable');
        await s.unlinkBlob(sha, m);
        assert.deepEqual(await s.blobMedia(sha), []);
        // A link after the collector looked moves linkedAt: the stale claim fails.
        const m2 = uid('m');
        assert.equal(await s.linkBlob(sha, m2, 6), true);
        await s.unlinkBlob(sha, m2);
        assert.equal(await s.claimBlobForGc(sha, 5), false, 'stale linkedAt');
        const seen = (await s.getBlob(sha))!.linkedAt;
        assert.equal(await s.claimBlobForGc(sha, seen), true);
        assert.equal((await s.getBlob(sha))!.state, 'deleting');
        assert.equal(await s.linkBlob(sha, uid('m'), 7), false, 'no link to a blob being deleted');
        assert.equal(await s.insertBlob({ sha256: sha, key: 'k2', size: 1, mime: 'image/png', createdAt: 8, linkedAt: 8 }, uid('m')), false, 'row still there');
        await s.deleteBlob(sha);
        assert.equal(await s.getBlob(sha), null);
        assert.equal(await s.insertBlob({ sha256: sha, key: 'k2', size: 1, mime: 'image/png', createdAt: 8, linkedAt: 8 }, uid('m')), true, 'stored anew');
      }));

    it('references: only complete media; a referenced media is never claimed for GC', () =>
      withStore(async (s) => {
        const sl = slot();
        await s.createSlot(sl, DAY);
        const ref = { mediaId: sl.mediaId, conversation: sl.conversation, seq: 7 };
        assert.equal(await s.markReferenced(ref), false, 'open slot');
        await s.completeMedia(sl.mediaId, completion(hex()));
        assert.equal(await s.markReferenced(ref), true);
        assert.equal(await s.markReferenced(ref), true, 'idempotent');
        assert.equal(await s.markReferenced({ ...ref, seq: 9 }), true);
        assert.deepEqual(await s.refs(sl.mediaId), [ref, { ...ref, seq: 9 }]);
        assert.equal((await s.getMedia(sl.mediaId))!.referenced, true);
        assert.equal(await s.claimMediaForGc(sl.mediaId), false);
        await s.unreference(ref);
        assert.equal(await s.claimMediaForGc(sl.mediaId), false, 'one reference left');
        await s.unreference({ ...ref, seq: 9 });
        assert.equal((await s.getMedia(sl.mediaId))!.referenced, false);
        assert.equal(await s.claimMediaForGc(sl.mediaId), true);
        assert.equal(await s.markReferenced(ref), false, 'claimed media refuses references');
        await s.deleteMedia(sl.mediaId);
        assert.equal(await s.getMedia(sl.mediaId), null);
      }));

    it('retention trimming drops the references below the first kept seq, pins stay', () =>
      withStore(async (s) => {
        const conv = uid('c');
        const [a, b] = [slot({ conversation: conv }), slot({ conversation: conv })];
        for (const sl of [a, b]) {
          await s.createSlot(sl, DAY);
          await s.completeMedia(sl.mediaId, completion(hex()));
        }
        await s.markReferenced({ mediaId: a.mediaId, conversation: conv, seq: 3 });
        await s.markReferenced({ mediaId: b.mediaId, conversation: conv, seq: 8 });
        await s.markReferenced({ mediaId: b.mediaId, conversation: conv, seq: 0 });
        assert.deepEqual(await s.trimmedBelow(conv, 5), [a.mediaId]);
        assert.deepEqual(await s.refs(a.mediaId), []);
        assert.equal((await s.getMedia(a.mediaId))!.referenced, false, 'nothing carries it now');
        assert.equal(await s.claimMediaForGc(a.mediaId), true);
        assert.deepEqual((await s.trimmedBelow(conv, 100)).sort(), [b.mediaId]);
        assert.deepEqual(await s.refs(b.mediaId), [{ mediaId: b.mediaId, conversation: conv, seq: 0 }], 'the pin stays');
        assert.equal((await s.getMedia(b.mediaId))!.referenced, true);
        assert.deepEqual(await s.trimmedBelow(uid('other'), 100), []);
      }));

    it('counts usage per user and day, and gives it back', () =>
      withStore(async (s) => {
        const u = uid('u');
        assert.equal(await s.getUsage(u, '2026-01-01'), 0);
        await s.addUsage(u, '2026-01-01', 100);
        await s.addUsage(u, '2026-01-01', 50);
        await s.addUsage(u, '2026-01-02', 7);
        assert.equal(await s.getUsage(u, '2026-01-01'), 150);
        await s.addUsage(u, '2026-01-01', -100);
        assert.equal(await s.getUsage(u, '2026-01-01'), 50);
        assert.equal(await s.getUsage(u, '2026-01-02'), 7);
      }));

    it('scans media and blobs page by page, each row once', () =>
      withStore(async (s) => {
        const mine = new Set<string>();
        for (let i = 0; i < 7; i++) {
          const sl = slot();
          mine.add(sl.mediaId);
          await s.createSlot(sl, DAY);
        }
        const seen = new Set<string>();
        let after = '';
        for (;;) {
          const page = await s.scanMedia(after, 3);
          if (page.length === 0) break;
          for (const r of page) {
            assert.ok(!seen.has(r.mediaId), 'each row once');
            seen.add(r.mediaId);
          }
          after = page[page.length - 1].mediaId;
        }
        for (const id of mine) assert.ok(seen.has(id), `scan found ${id}`);
        const shas = new Set<string>();
        for (let i = 0; i < 5; i++) {
          const sha = hex();
          shas.add(sha);
          await s.insertBlob({ sha256: sha, key: sha, size: 1, mime: 'x/y', createdAt: 1, linkedAt: 1 }, uid('m'));
        }
        const seenB = new Set<string>();
        let afterB = '';
        for (;;) {
          const page = await s.scanBlobs(afterB, 2);
          if (page.length === 0) break;
          for (const b of page) seenB.add(b.sha256);
          afterB = page[page.length - 1].sha256;
        }
        for (const sha of shas) assert.ok(seenB.has(sha));
      }));
  });
}
