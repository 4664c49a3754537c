/**
 * What happens when an upload's last byte arrives: hash it in the pool, sniff its
 * head, judge it against the slot (media_rules.ts), then store it once per content
 * hash and complete the media row. Any refusal removes everything: the staged file,
 * the slot, and the quota it had charged.
 *
 * Dedup without a shared key: each upload writes under its own blob key
 * (blobs/<sha[0:2]>/<sha>/<media_id>); `insertBlob` (insert-if-absent) picks one
 * winner per hash, and a loser deletes its copy and links to the winner's. A blob GC
 * has claimed (state `deleting`) refuses links; the uploader waits for the row to go
 * and stores its own copy (media_store.ts has the full argument).
 */
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { BlobStore } from './blob_store.js';
import type { MediaRow, MediaStore } from './media_store.js';
import { isOpaque, judgeUpload, MediaError, utcDay } from './media_rules.js';
import { imageSize, sniff, SNIFF_BYTES } from './sniff.js';
import type { MediaMetrics } from './media_metrics.js';
import type { HashResult } from './hash_task.js';

export interface FinishDeps {
  store: MediaStore;
  blobs: BlobStore;
  /** SHA-256 in the pool; with `blurhash`, a PNG blurhash too (node/media/hash_task.ts). */
  hash: (file: string, opts: { blurhash: boolean }) => Promise<HashResult>;
  metrics: MediaMetrics;
  now: () => number;
  log: (level: string, msg: string, fields?: Record<string, unknown>) => void;
}

export function blobKey(sha256: string, mediaId: string): string {
  return `blobs/${sha256.slice(0, 2)}/${sha256}/${mediaId}`;
}

/** How often a finisher retries while GC deletes the blob it wants to link (20 ms apart). */
const LINK_ATTEMPTS = 250;

/** Remove a failed or expired slot and everything it left: staged bytes, row, quota charge. */
export async function discardSlot(deps: Pick<FinishDeps, 'store'>, slot: MediaRow, file: string): Promise<void> {
  await rm(file, { force: true });
  if (await deps.store.dropSlot(slot.mediaId)) await deps.store.addUsage(slot.owner, utcDay(slot.createdAt), -slot.size);
}

/** Finish a fully staged upload. Resolves with the completed row or throws a MediaError (slot discarded). */
export async function finishUpload(deps: FinishDeps, slot: MediaRow, file: string): Promise<MediaRow> {
  try {
    const head = await readHead(file);
    const opaque = isOpaque(slot.declaredMime);
    const sniffed = opaque ? null : sniff(head);
    const t0 = performance.now();
    const hashed = await deps.hash(file, { blurhash: sniffed === 'image/png' });
    deps.metrics.hashSeconds.observe((performance.now() - t0) / 1000);
    const verdict = judgeUpload(slot, { size: hashed.size, sha256: hashed.sha256, sniffed });
    if (!verdict.ok) throw new MediaError(verdict.code, verdict.message);
    const { width, height } = opaque ? { width: 0, height: 0 } : imageSize(verdict.mime, head);
    const dedup = await storeOnce(deps, slot.mediaId, file, hashed.sha256, hashed.size, verdict.mime);
    const completed = await deps.store.completeMedia(slot.mediaId, { sha256: hashed.sha256, mime: verdict.mime, width, height, blurhash: hashed.blurhash, completedAt: deps.now() });
    if (!completed) {
      // The slot expired (GC dropped it) while we hashed: let go of our link; GC removes the blob if nobody else holds it.
      await deps.store.unlinkBlob(hashed.sha256, slot.mediaId);
      throw new MediaError('invalid_argument', 'the upload slot expired before the upload finished; request a new slot');
    }
    await rm(file, { force: true });
    if (dedup) deps.metrics.dedupHits.inc();
    deps.metrics.uploadsCompleted.inc();
    return (await deps.store.getMedia(slot.mediaId))!;
  } catch (e) {
    const code = e instanceof MediaError ? e.code : 'internal';
    deps.metrics.uploadsRefused.inc({ code });
    await discardSlot(deps, slot, file).catch((err: unknown) => deps.log('warn', 'media: could not discard a refused upload', { media_id: slot.mediaId, error: String(err) }));
    if (e instanceof MediaError) throw e;
    deps.log('error', 'media: finishing an upload failed', { media_id: slot.mediaId, error: e instanceof Error ? e.message : String(e) });
    throw new MediaError('internal', 'storing the upload failed; upload again');
  }
}

/** Store the bytes unless a blob with this hash exists; true on a dedup hit (nothing stored). */
async function storeOnce(deps: FinishDeps, mediaId: string, file: string, sha256: string, size: number, mime: string): Promise<boolean> {
  for (let attempt = 0; attempt < LINK_ATTEMPTS; attempt++) {
    const blob = await deps.store.getBlob(sha256);
    if (blob?.state === 'stored') {
      if (await deps.store.linkBlob(sha256, mediaId, deps.now())) return true;
      continue;
    }
    if (blob?.state === 'deleting') {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    const key = blobKey(sha256, mediaId);
    await deps.blobs.put(key, createReadStream(file), { size, contentType: mime });
    const now = deps.now();
    if (await deps.store.insertBlob({ sha256, key, size, mime, createdAt: now, linkedAt: now }, mediaId)) return false;
    // Another upload of the same bytes won the race: ours is a spare copy.
    await deps.blobs.delete(key);
  }
  throw new MediaError('unavailable', 'the stored copy of these bytes is being removed; upload again');
}

async function readHead(file: string): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
