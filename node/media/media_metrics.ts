/**
 * Media metrics (prom-client), one registry per thread that does media work: the
 * media listener thread counts bytes, dedup hits, refusals and GC; the host counts
 * quota refusals at slot creation. The media listener serves its registry at
 * GET /metrics on its own port.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class MediaMetrics {
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly dedupHits: Counter;
  readonly uploadsCompleted: Counter;
  readonly uploadsRefused: Counter<'code'>;
  readonly quotaRefusals: Counter;
  readonly gcDeletions: Counter<'kind'>;
  readonly gcPasses: Counter<'outcome'>;
  readonly gcLastPassSeconds: Gauge;
  readonly hashSeconds: Histogram;

  constructor(readonly registry: Registry = new Registry(), opts: { defaults?: boolean } = {}) {
    const registers = [registry];
    if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'switchboard_media_thread_' });
    this.bytesIn = new Counter({ name: 'switchboard_media_bytes_in_total', help: 'Upload bytes received (tus PATCH bodies)', registers });
    this.bytesOut = new Counter({ name: 'switchboard_media_bytes_out_total', help: 'Download bytes served by this node (signed GETs on the filesystem store)', registers });
    this.dedupHits = new Counter({ name: 'switchboard_media_dedup_hits_total', help: 'Finished uploads whose bytes were already stored (linked, not stored again)', registers });
    this.uploadsCompleted = new Counter({ name: 'switchboard_media_uploads_completed_total', help: 'Uploads finished and stored', registers });
    this.uploadsRefused = new Counter({ name: 'switchboard_media_uploads_refused_total', help: 'Uploads refused at completion or on the way, by error code', labelNames: ['code'], registers });
    // The host counts these where slots are handed out; here for the in-process tests' one registry.
    this.quotaRefusals = new Counter({ name: 'switchboard_media_quota_refusals_total', help: 'Slot requests refused by the daily per-user quota', registers });
    this.gcDeletions = new Counter({ name: 'switchboard_media_gc_deletions_total', help: 'Removed by GC: expired slots, unreferenced media rows, blobs, stale multipart uploads, orphan staging files', labelNames: ['kind'], registers });
    this.gcPasses = new Counter({ name: 'switchboard_media_gc_passes_total', help: 'GC passes, by outcome', labelNames: ['outcome'], registers });
    this.gcLastPassSeconds = new Gauge({ name: 'switchboard_media_gc_last_pass_seconds', help: 'Duration of the last GC pass', registers });
    this.hashSeconds = new Histogram({
      name: 'switchboard_media_hash_seconds',
      help: 'SHA-256 of a finished upload in the hash pool (queue wait included)',
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
      registers,
    });
  }
}
