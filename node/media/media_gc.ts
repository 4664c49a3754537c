/**
 * One GC pass over media metadata and bytes, run by every node's media listener on
 * an interval (every claim is conditional, so nodes running it at once are safe):
 *
 *  1. open slots of this node past their expiry: staged bytes, row and quota charge go;
 *  2. complete media that no message references, older than the grace: the row and
 *     its link to the blob go (claimMediaForGc refuses anything referenced);
 *  3. blobs no media links to, last linked before the grace: claimed (conditional on
 *     the linkedAt seen, so a dedup link in between wins), bytes deleted, row deleted;
 *  4. multipart uploads in the blob store older than the grace that no row knows
 *     (a crash between beginUpload and completeUpload) are aborted;
 *  5. staged files whose slot is gone are deleted.
 *
 * Nothing referenced is ever deleted: a referenced media row is never claimed, and a
 * blob is claimed only while no media row links to it.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from './blob_store.js';
import type { MediaStore } from './media_store.js';
import type { MediaMetrics } from './media_metrics.js';
import { discardSlot } from './upload_finish.js';

export interface GcDeps {
  store: MediaStore;
  blobs: BlobStore;
  metrics: MediaMetrics;
  nodeId: string;
  stagingDir: string;
  graceMs: number;
  now: () => number;
  log: (level: string, msg: string, fields?: Record<string, unknown>) => void;
}

export interface GcCounts {
  expiredSlots: number;
  media: number;
  blobs: number;
  uploads: number;
  staging: number;
}

const PAGE = 500;

export async function gcPass(deps: GcDeps): Promise<GcCounts> {
  const t0 = performance.now();
  const counts: GcCounts = { expiredSlots: 0, media: 0, blobs: 0, uploads: 0, staging: 0 };
  const now = deps.now();
  const cutoff = now - deps.graceMs;
  try {
    const openHere = new Set<string>();
    for (let after = ''; ; ) {
      const page = await deps.store.scanMedia(after, PAGE);
      if (page.length === 0) break;
      after = page[page.length - 1].mediaId;
      for (const m of page) {
        if (m.state === 'open') {
          if (m.node !== deps.nodeId) continue;
          if (m.expiresAt < now) {
            await discardSlot(deps, m, path.join(deps.stagingDir, m.mediaId));
            counts.expiredSlots++;
          } else openHere.add(m.mediaId);
        } else if (m.state === 'gc' || (!m.referenced && m.completedAt < cutoff)) {
          if (m.state === 'complete' && !(await deps.store.claimMediaForGc(m.mediaId))) continue;
          await deps.store.unlinkBlob(m.sha256, m.mediaId);
          await deps.store.deleteMedia(m.mediaId);
          counts.media++;
        }
      }
    }
    const known = new Set<string>();
    for (let after = ''; ; ) {
      const page = await deps.store.scanBlobs(after, PAGE);
      if (page.length === 0) break;
      after = page[page.length - 1].sha256;
      for (const b of page) {
        known.add(b.key);
        if (b.state === 'stored') {
          if (b.linkedAt >= cutoff) continue;
          if ((await deps.store.blobMedia(b.sha256)).length > 0) continue;
          if (!(await deps.store.claimBlobForGc(b.sha256, b.linkedAt))) continue;
        }
        // Claimed now, or left `deleting` by a pass that crashed half-way.
        await deps.blobs.delete(b.key);
        await deps.store.deleteBlob(b.sha256);
        counts.blobs++;
      }
    }
    for await (const u of deps.blobs.listUploads('blobs/')) {
      if (u.initiated.getTime() >= cutoff || known.has(u.key)) continue;
      await deps.blobs.abortUpload(u.key, u.uploadId);
      counts.uploads++;
    }
    for (const f of await readdir(deps.stagingDir).catch(() => [] as string[])) {
      if (openHere.has(f)) continue;
      const p = path.join(deps.stagingDir, f);
      // A slot created after the scan began is not in openHere yet: leave young files alone.
      const st = await stat(p).catch(() => null);
      if (!st || st.mtimeMs > now - 60_000) continue;
      const row = await deps.store.getMedia(f);
      if (row?.state === 'open') continue;
      await rm(p, { force: true });
      counts.staging++;
    }
  } catch (e) {
    deps.metrics.gcPasses.inc({ outcome: 'error' });
    deps.log('error', 'media gc pass failed', { error: e instanceof Error ? e.message : String(e), ...counts });
    throw e;
  } finally {
    deps.metrics.gcLastPassSeconds.set((performance.now() - t0) / 1000);
    deps.metrics.gcDeletions.inc({ kind: 'expired_slot' }, counts.expiredSlots);
    deps.metrics.gcDeletions.inc({ kind: 'media' }, counts.media);
    deps.metrics.gcDeletions.inc({ kind: 'blob' }, counts.blobs);
    deps.metrics.gcDeletions.inc({ kind: 'multipart_upload' }, counts.uploads);
    deps.metrics.gcDeletions.inc({ kind: 'staging_file' }, counts.staging);
  }
  deps.metrics.gcPasses.inc({ outcome: 'ok' });
  deps.log('info', 'media gc pass', { ms: Math.round(performance.now() - t0), expired_slots: counts.expiredSlots, media: counts.media, blobs: counts.blobs, multipart_uploads: counts.uploads, staging_files: counts.staging });
  return counts;
}
