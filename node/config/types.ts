/**
 * The node's configuration as types: every section and key (what each means and its
 * default: defaults.ts and docs.ts beside this file).
 */
import type { ClusterConfig } from '../cluster_config.js';
import type { ShardLimits } from '../../shards/shard_config.js';
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  passphrase: string;
  /** Quiet time after a change in the files' directories before they are reloaded; 0 = no watch (SIGHUP only). */
  watchDebounceMs: number;
}

export interface Config {
  node: { id: string; dataDir: string };
  listen: { host: string; port: number; tls: TlsConfig | null };
  /** Socket shards (worker threads); 0 = one per core. opRingMs: how often the host drains a shard's op ring while ops flow (0 = no ring; shards/op_ring.ts). */
  shards: { count: number; opRingMs: number };
  /** The piscina task pool (EdDSA token verification); 0 threads = one per core. */
  tasks: { threads: number };
  /**
   * Limits: what a socket shard enforces per connection (shards/shard_config.ts
   * ShardLimits: frame size, rate buckets, idle, pages, backpressure, in-flight sends,
   * presence subscriptions, typing) and what the host enforces.
   */
  limits: ShardLimits & {
    /** A user whose last connection closed counts as online this long, so a reconnect is no flap. */
    presenceOfflineDebounceMs: number;
    /** At most one presence push per subscriber per interval; changes in between are batched. */
    presenceIntervalMs: number;
    /** At most one group_receipts push per conversation and sender per interval. */
    groupReceiptIntervalMs: number;
    /** A typing indicator expires this long after the notice (Typing.until_ms). */
    typingTtlMs: number;
    /**
     * Send limits above the per-connection bucket (node/core/send_limits.ts): a token
     * bucket per user over all devices (split over the nodes the user is connected to
     * in a cell), one per conversation over all senders, one per (conversation, sender).
     */
    userSendRatePerSec: number;
    userSendBurst: number;
    conversationSendRatePerSec: number;
    conversationSendBurst: number;
    conversationSenderRatePerSec: number;
    conversationSenderBurst: number;
    /** Buckets kept per scope (user, conversation, sender); past it the least recently used is dropped. */
    sendLimitMaxEntries: number;
  };
  store: {
    kind: 'sqlite' | 'cassandra';
    sqlite: { file: string; walAutocheckpointPages: number };
    /**
     * migrateOnStart: apply missing schema migrations at start (dev, tests); production runs `npm run migrate`.
     * guardSeqs: message rows are conditional inserts (IF NOT EXISTS), so a stored seq never
     * changes content (node/store/CASSANDRA.md, "Seqs never change content").
     */
    cassandra: { contactPoints: string[]; localDataCenter: string; keyspace: string; consistency: string; migrateOnStart: boolean; guardSeqs: boolean };
    /**
     * The store's batch writer. concurrency: commits in flight at once; 0 = by store
     * (see writerOptions): the Cassandra store keeps pipelined commits in call order per
     * conversation, SQLite commits synchronously and gains nothing from more than 1.
     */
    batch: { maxBatch: number; maxDelayMs: number; maxQueue: number; concurrency: number; adaptive: boolean };
    /** Keep at most this many messages per conversation (0 = keep all). */
    retentionMessages: number;
  };
  auth: {
    issuer: string;
    audience: string;
    clockToleranceSec: number;
    ticketTtlMs: number;
    keys: AuthKeyConfig[];
  };
  /** Keys app backends use for the HTTP API (Authorization: Bearer <key>). */
  api: { keys: string[] };
  drain: { deadlineMs: number; goawayJitterMs: number };
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  /** The browser chat (node/web/) served at /web/. */
  web: { enabled: boolean };
  /** Push notifications for offline devices (node/push/; providers: node/push/PROVIDERS.md). */
  push: PushConfig;
  /** Media attachments (node/media/MEDIA.md): upload slots, the media listener, quotas, GC. */
  media: MediaConfig;
  /** Cluster membership, routing, conversation shards (ops/cluster_config.ts documents each key). */
  cluster: ClusterConfig;
}

export interface MediaConfig {
  /** Serve media (the slot frames, the media listener thread). */
  enabled: boolean;
  /** Port of the media listener (tus uploads, signed downloads); 0 = any free port. */
  port: number;
  /** Base URL clients reach the media listener at ('' = http://listen.host:port). */
  publicUrl: string;
  maxBytes: number;
  quotaBytesPerDay: number;
  slotTtlMs: number;
  urlTtlMs: number;
  /** HMAC secret of node-signed media URLs ('' = generated into <dataDir>/media-url-secret). */
  urlSecret: string;
  gcGraceMs: number;
  gcIntervalMs: number;
  hashThreads: number;
  /** Where the bytes live (node/media/BLOBS.md): `fs` under <dataDir>/blobs, one node; `s3` a bucket every node of a cell shares. */
  store: 'fs' | 's3';
  s3: MediaS3Config;
}

/** The S3 blob store (node/media/blob_store_s3.ts). The secret is never logged or printed. */
export interface MediaS3Config {
  /** '' = AWS's endpoint for the region. */
  endpoint: string;
  region: string;
  bucket: string;
  /** Both '' = the SDK's default credential chain (AWS_* env, instance role). */
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}



export interface PushConfig {
  /** Who gets a push and when (node/push/rules.ts, collapse.ts). */
  ackWaitMs: number;
  collapseWindowMs: number;
  /** The durable push outbox (node/push/outbox.ts, PUSH.md): expiry, retries, caps. */
  ttlMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
  providerConcurrency: number;
  providerRatePerSec: number;
  endpointConcurrency: number;
  endpointRatePerSec: number;
  rescanMs: number;
  /** SQLite file of the push store on a single node ('' = <node.dataDir>/push.sqlite). */
  sqliteFile: string;
  /** Push registrations one user may hold (one per device). */
  maxDevicesPerUser: number;
  /** APNs over HTTP/2 with an ES256 provider token (node/push/providers/apns.ts). */
  apns: {
    enabled: boolean; endpoint: string; teamId: string; keyId: string; topic: string;
    keyFile: string; keyPem: string; caFile: string; tokenRefreshMs: number; timeoutMs: number;
  };
  /** FCM HTTP v1 with a service-account OAuth2 token (node/push/providers/fcm.ts). */
  fcm: {
    enabled: boolean; endpoint: string; projectId: string; serviceAccountFile: string; serviceAccountJson: string;
    tokenUri: string; timeoutMs: number;
  };
  /** Web Push (RFC 8030/8291/8292) to each subscription's own endpoint (node/push/providers/webpush.ts). */
  webpush: {
    enabled: boolean; vapidPublicKey: string; vapidPrivateKey: string; vapidPrivateKeyFile: string; subject: string;
    allowHttp: boolean; endpointHosts: string[]; timeoutMs: number;
  };
  /** HMAC-signed POST to the app backend's URL (node/push/providers/webhook.ts). */
  webhook: { enabled: boolean; secret: string; secretFile: string; allowedOrigins: string[]; allowHttp: boolean; timeoutMs: number };
}

/** The provider sections of `push` (what node/push/providers/ reads). */
export type PushProvidersConfig = Pick<PushConfig, 'apns' | 'fcm' | 'webpush' | 'webhook'>;

export type AuthKeyConfig =
  | { kid: string; alg: 'HS256'; secret: string }
  | { kid: string; alg: 'EdDSA'; publicKeyPem: string; privateKeyPem?: string };
