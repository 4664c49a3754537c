/**
 * Media as children of the host's supervision tree (node/main.ts places them):
 *
 *   media            service: the host's MediaService (slots, attach checks,
 *                    references, download URLs) over its own metadata-store handle
 *   media-listener   worker thread (media_thread.ts): tus uploads, signed GETs, GC
 *
 * The host never sees upload or download bytes; the listener never runs chat ops.
 */
import { PendingCalls } from '../../supervisor/pending_calls.js';
import type { Worker } from 'node:worker_threads';
import type { ChildSpecInput, Service } from '../../supervisor/index.js';
import { serviceChild, threadChild } from '../../supervisor/index.js';
import type { BlobStore } from './blob_store.js';
import { Counter } from 'prom-client';
import { MediaService } from './media_service.js';
import { MediaError } from './media_rules.js';
import type { MediaStore } from './media_store.js';
import { openBlobs, openMediaStore } from './media_open.js';
import type { MediaThreadInit } from './media_thread.js';
import { loadUrlSecret, UrlSigner } from './url_signer.js';
import type { Registry } from 'prom-client';
import type { MediaPort } from '../core/media_port.js';
import type { Config } from '../config.js';

/** The media thread's settings (MediaThreadInit) plus what only the host side needs. */
export interface MediaHostOptions extends MediaThreadInit {
  isMember: (user: string, conversation: string) => Promise<boolean>;
  /**
   * The host's registry: quota refusals at slot creation are counted there; the media
   * listener's own metrics (bytes, dedup, GC) are at GET /metrics on its port.
   */
  registry?: Registry;
}

export class MediaHost {
  service: MediaService | null = null;
  private store: MediaStore | null = null;
  private blobs: BlobStore | null = null;
  private worker: Worker | null = null;
  /** Metrics requests to the listener thread; no answer within the call's timeout = null. */
  private readonly calls = new PendingCalls<unknown>({ noReply: () => null });
  readonly metrics: { quotaRefusals: Counter };

  constructor(private readonly o: MediaHostOptions) {
    this.metrics = {
      quotaRefusals: new Counter({ name: 'switchboard_media_quota_refusals_total', help: 'Slot requests refused by the daily per-user quota', registers: o.registry ? [o.registry] : [] }),
    };
  }

  /** Base URL clients reach the media listener at. */
  get publicUrl(): string {
    if (this.o.media.publicUrl !== '') return this.o.media.publicUrl.replace(/\/+$/, '');
    // Bound to every interface: loopback is the one address sure to reach it (set publicUrl for clients elsewhere).
    const host = this.o.host === '0.0.0.0' || this.o.host === '::' ? '127.0.0.1' : this.o.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.o.port}`;
  }

  /** The running service, or a retryable error while it (re)starts. */
  get(): MediaService {
    if (!this.service) throw new MediaError('unavailable', 'the media service is restarting');
    return this.service;
  }

  /**
   * The media listener thread's metrics (prom-client JSON) for the host's merged
   * /metrics; null when the thread is down or does not answer within a second.
   */
  metricsJson(): Promise<unknown> {
    const w = this.worker;
    if (!w) return Promise.resolve(null);
    // Why 1 s: a scrape must not hang on a busy or restarting thread; its metrics are skipped once.
    const { id, reply } = this.calls.call({ timeoutMs: 1_000 });
    w.postMessage({ t: 'media_metrics', id });
    return reply;
  }

  /** The core's view (node/core/media_port.ts), valid across restarts of the media service. */
  port(): MediaPort {
    return {
      slot: (user, req) => this.get().createSlot(user, req),
      attach: async (user, mediaId, conversation) => {
        const ref = await this.get().checkAttach(user, mediaId, conversation);
        // The pin (seq 0) keeps GC off the media while the send is stored.
        await this.get().markReferenced(mediaId, conversation, 0);
        return ref;
      },
      referenced: (mediaId, conversation, seq) => this.get().settle(mediaId, conversation, seq),
      trimmed: (conversation, firstSeq) => this.get().trimmed(conversation, firstSeq),
      url: (user, mediaId, conversation) => this.get().downloadUrl(user, mediaId, conversation).then((u) => ({ mediaId, ...u })),
    };
  }

  /** The media service in the host: slots, attach checks, references, URLs (the core's MediaPort). */
  serviceChild(): ChildSpecInput {
    const svc: Service = {
      start: async () => {
        this.store = await openMediaStore(this.o.store);
        this.blobs = await openBlobs(this.o.store.dataDir, this.o.media);
        this.service = new MediaService(
          { ...this.o.media, publicUrl: this.publicUrl, nodeId: this.o.nodeId },
          { store: this.store, blobs: this.blobs, signer: new UrlSigner(loadUrlSecret(this.o.media.urlSecret, this.o.store.dataDir)), isMember: this.o.isMember, metrics: this.metrics },
        );
      },
      stop: async () => {
        this.service = null;
        await this.blobs?.close();
        await this.store?.close();
        this.blobs = null;
        this.store = null;
      },
    };
    return { id: 'media', start: serviceChild(() => svc) };
  }

  /** The media listener thread: tus uploads, signed downloads, GC (media_thread.ts). */
  listenerChild(): ChildSpecInput {
    const init: MediaThreadInit = { nodeId: this.o.nodeId, host: this.o.host, port: this.o.port, media: this.o.media, store: this.o.store, logLevel: this.o.logLevel };
    return {
        id: 'media-listener',
        // Long enough for an in-flight PATCH chunk to land; the client resumes the rest.
        shutdown: 5_000,
        start: threadChild({
          entry: new URL('./media_thread.ts', import.meta.url),
          workerData: init as unknown as Record<string, unknown>,
          awaitReady: true,
          startTimeoutMs: 30_000,
          // node:http holds no native sockets that abort the process: a hung thread may be terminated and restarted.
          heartbeat: { intervalMs: 2_000, timeoutMs: 20_000 },
          onHung: 'terminate',
          onSpawn: (worker) => {
            this.worker = worker;
            worker.once('exit', () => {
              if (this.worker === worker) this.worker = null;
              this.calls.close('media listener exited');
            });
          },
          onMessage: (m) => {
            const r = m as { t?: unknown; id?: unknown; json?: unknown };
            if (r?.t !== 'media_metrics' || typeof r.id !== 'number') return;
            this.calls.settle(r.id, r.json);
          },
        }),
      };
  }

}

/** The media host for a node config (node/main.ts): the settings sections it needs, the resolved listener port. */
export function mediaHostFor(cfg: Config, port: number, deps: Pick<MediaHostOptions, 'isMember' | 'registry'>): MediaHost {
  return new MediaHost({
    nodeId: cfg.node.id,
    host: cfg.listen.host,
    port,
    media: cfg.media,
    store: { dataDir: cfg.node.dataDir, kind: cfg.store.kind, cassandra: cfg.store.cassandra },
    logLevel: cfg.log.level,
    ...deps,
  });
}
