/**
 * Entry of the media listener worker thread (supervised by the host like a socket
 * shard, but holding node:http sockets, not uWS ones, so it may be terminated). It
 * owns its own metadata-store connection, blob store, hash pool and HTTP server, and
 * runs the media GC on an interval. Nothing here touches the host thread: upload and
 * download bytes never cross the message path.
 */
import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { serveSupervisor } from '../../supervisor/thread_side.js';
import { configureLog, log, LOG_LEVELS, type LogLevel } from '../../supervisor/log.js';
import { redact } from '../auth/redact.js';
import { HashPool } from './hash_pool.js';
import { MediaMetrics } from './media_metrics.js';
import { MediaServer } from './media_server.js';
import { gcPass } from './media_gc.js';
import { openBlobs, openMediaStore, stagingDir, type MediaSettings, type MediaStoreSettings } from './media_open.js';
import { loadUrlSecret, UrlSigner } from './url_signer.js';

/** workerData of the media thread. */
export interface MediaThreadInit {
  nodeId: string;
  host: string;
  /** Resolved already (never 0), so a restarted thread listens on the same port. */
  port: number;
  media: MediaSettings;
  store: MediaStoreSettings;
  logLevel: string;
}

const init = workerData as MediaThreadInit;
// The process's logger (supervisor/log.ts, docs/LOGS.md), this thread's instance.
configureLog({ level: (LOG_LEVELS as readonly string[]).includes(init.logLevel) ? (init.logLevel as LogLevel) : 'info', bindings: { node: init.nodeId, thread: 'media' }, scrub: redact });

const staging = stagingDir(init.store.dataDir);
mkdirSync(staging, { recursive: true });
const store = await openMediaStore(init.store);
const blobs = await openBlobs(init.store.dataDir, init.media);
const pool = new HashPool(init.media.hashThreads);
const metrics = new MediaMetrics(undefined, { defaults: false });
const signer = new UrlSigner(loadUrlSecret(init.media.urlSecret, init.store.dataDir));
const now = Date.now;

const server = new MediaServer(
  { host: init.host, port: init.port },
  {
    store,
    blobs,
    signer,
    metrics,
    now,
    log,
    stagingDir: staging,
    maxBytes: init.media.maxBytes,
    hash: (file, opts) => pool.hash(file, opts),
    metricsText: () => metrics.registry.metrics(),
  },
);

let gcRunning: Promise<unknown> | null = null;
const runGc = (): void => {
  if (gcRunning) return;
  gcRunning = gcPass({ store, blobs, metrics, nodeId: init.nodeId, stagingDir: staging, graceMs: init.media.gcGraceMs, now, log })
    .catch(() => undefined)
    .finally(() => {
      gcRunning = null;
    });
};
const gcTimer = setInterval(runGc, init.media.gcIntervalMs);

// The host merges this thread's metrics into its /metrics (as it does a shard's).
parentPort?.on('message', (m: unknown) => {
  const req = m as { t?: unknown; id?: unknown };
  if (req?.t !== 'media_metrics' || typeof req.id !== 'number') return;
  void metrics.registry.getMetricsAsJSON().then((json) => parentPort?.postMessage({ t: 'media_metrics', id: req.id, json }));
});

const sup = serveSupervisor({
  onStop: async () => {
    clearInterval(gcTimer);
    await server.close();
    await gcRunning;
    await pool.close();
    await blobs.close();
    await store.close();
  },
});

await server.listen();
log('info', 'media listener ready', { port: server.port });
sup.ready();
