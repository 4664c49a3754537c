/**
 * Node configuration: defaults, a JSON file (--config, SWITCHBOARD_CONFIG, or
 * ./switchboard.json when present), then a
 * few command-line overrides. Validated once at start; any bad or unknown key stops
 * the node with a message naming it (e.g. `limits.maxFrameBytes: must be an integer
 * between 1024 and 16777216`). Every key is described in CONFIG_DOCS below, from
 * which docs/CONFIG.md is generated (`npm run config:doc`; node/config_doc.ts); the
 * `cluster` section's types and defaults are in ops/cluster_config.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AUTH_LIMITS, validateAuthConfig } from './auth/config.js';
import { AuthConfigError } from './auth/errors.js';
import { defaultClusterConfig, type ClusterConfig } from './cluster_config.js';
import type { SendLimitRules } from './core/send_limits.js';
import { loadPushCredentials, PushCredentialError } from './push/providers/credentials.js';

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
  /** Socket shards (worker threads); 0 = one per core. */
  shards: { count: number };
  /** The piscina task pool (EdDSA token verification); 0 threads = one per core. */
  tasks: { threads: number };
  limits: {
    /** Largest WebSocket frame accepted; bigger frames close the socket with 1009. */
    maxFrameBytes: number;
    /** Largest body + meta of one message. */
    maxMessageBytes: number;
    /** Token bucket per connection for Send frames: refill rate and burst. */
    sendRatePerSec: number;
    sendBurst: number;
    /** Token bucket per connection for all other frames. */
    frameRatePerSec: number;
    frameBurst: number;
    /** A socket with no inbound frame (pongs count) for this long is closed with 4002. */
    idleTimeoutMs: number;
    /** Interval of server pings. */
    heartbeatMs: number;
    defaultSyncPage: number;
    maxSyncPage: number;
    maxHistoryPage: number;
    /** Outbound bytes buffered per socket before it is closed as a slow consumer (4003). */
    maxBackpressureBytes: number;
    maxConversationMembers: number;
    /** Most in-flight sends per connection awaiting their ack. */
    maxInflightSends: number;
    /** Users one connection may watch with presence_subscribe (interest-scoped presence). */
    maxPresenceSubscriptions: number;
    /** A user whose last connection closed counts as online this long, so a reconnect is no flap. */
    presenceOfflineDebounceMs: number;
    /** At most one presence push per subscriber per interval; changes in between are batched. */
    presenceIntervalMs: number;
    /** At most one group_receipts push per conversation and sender per interval. */
    groupReceiptIntervalMs: number;
    /** A connection's typing notices are forwarded at most once per interval (others dropped). */
    typingIntervalMs: number;
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
    sqlite: { file: string };
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
    batch: { maxBatch: number; maxDelayMs: number; maxQueue: number; concurrency: number };
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
    allowHttp: boolean; timeoutMs: number;
  };
  /** HMAC-signed POST to the app backend's URL (node/push/providers/webhook.ts). */
  webhook: { enabled: boolean; secret: string; secretFile: string; allowedOrigins: string[]; allowHttp: boolean; timeoutMs: number };
}

/** The provider sections of `push` (what node/push/providers/ reads). */
export type PushProvidersConfig = Pick<PushConfig, 'apns' | 'fcm' | 'webpush' | 'webhook'>;

export type AuthKeyConfig =
  | { kid: string; alg: 'HS256'; secret: string }
  | { kid: string; alg: 'EdDSA'; publicKeyPem: string; privateKeyPem?: string };

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`${key}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export function defaultConfig(): Config {
  return {
    node: { id: 'node-1', dataDir: './data' },
    listen: { host: '127.0.0.1', port: 8080, tls: null },
    shards: { count: 0 },
    tasks: { threads: 0 },
    limits: {
      maxFrameBytes: 64 * 1024,
      maxMessageBytes: 32 * 1024,
      sendRatePerSec: 50,
      sendBurst: 100,
      frameRatePerSec: 200,
      frameBurst: 400,
      idleTimeoutMs: 60_000,
      heartbeatMs: 20_000,
      defaultSyncPage: 200,
      maxSyncPage: 1000,
      maxHistoryPage: 200,
      maxBackpressureBytes: 4 * 1024 * 1024,
      maxConversationMembers: 1024,
      maxInflightSends: 256,
      // 256: a chat list screen shows a few dozen contacts; this leaves room without
      // letting one connection watch a whole address book.
      maxPresenceSubscriptions: 256,
      // 5 s covers a network switch or an app restart, the common reconnects.
      presenceOfflineDebounceMs: 5_000,
      // 1 s: presence is glanceable; batching a second of changes is what keeps a
      // reconnect storm from becoming a frame storm.
      presenceIntervalMs: 1_000,
      // 250 ms: ticks feel live, while a 1024-member group acking together yields a
      // handful of frames to the sender instead of thousands.
      groupReceiptIntervalMs: 250,
      // Clients repeat typing every few seconds; 1 s is the fastest the server relays.
      typingIntervalMs: 1_000,
      typingTtlMs: 6_000,
      // Per (conversation, sender), the tightest: 2/s sustained. Telegram asks bots for
      // at most 1 message/s per chat "with short bursts", and WhatsApp's Cloud API
      // holds a business number to 1 message per 6 s to one user with bursts up to 45;
      // a person typing short lines fast goes above 1/s for a moment, hence 2/s. Burst
      // 100: WhatsApp's picker sends up to 100 photos in one share, one message each,
      // and an app's offline outbox flushes in one go on reconnect.
      conversationSenderRatePerSec: 2,
      conversationSenderBurst: 100,
      // Per conversation, all senders together: 20/s is ten people at the sender rate.
      // What it protects is fan-out: a 1024-member group at 20 msg/s is 20,480
      // deliveries/s, under half of what one node fans out (44,000-61,000/s measured,
      // README), so one busy group cannot starve the others on its owner. Burst 200:
      // two 100-photo shares at once.
      conversationSendRatePerSec: 20,
      conversationSendBurst: 200,
      // Per user, all devices and conversations together: 20/s and 200. In a cell
      // each node the user is on enforces rate/k and burst/k (k = those nodes), so the
      // budget is sized for k = 2 (phone and desktop on different nodes): one device
      // alone still gets 10/s and a full 100-photo share. 20/s is a quarter of the
      // 80 msg/s a WhatsApp Business number gets for automated traffic and many times
      // what a person types; it caps a compromised account spraying many chats, which
      // the per-conversation buckets alone would not.
      userSendRatePerSec: 20,
      userSendBurst: 200,
      // 100,000 per scope: a bucket stays in memory only until it has refilled (at most
      // burst/rate = 50 s for the sender scope), so this is the senders of the last
      // minute or so, at about 170 bytes each (measured; 17 MB per scope at the cap).
      // Beyond it the least recently used bucket is dropped (fail-open: it over-admits
      // by at most what that key had spent), never a refusal of new users.
      sendLimitMaxEntries: 100_000,
    },
    store: {
      kind: 'sqlite',
      sqlite: { file: '' },
      cassandra: {
        contactPoints: ['127.0.0.1:9042'],
        localDataCenter: 'datacenter1',
        keyspace: 'switchboard',
        consistency: 'localQuorum',
        migrateOnStart: false,
        // true: without it a stale shard owner (a node frozen past its lease) or a forked
        // counter overwrites a seq that devices have already read, and acked messages are
        // lost. It costs a Paxos round per message partition per commit (measured in
        // node/store/CASSANDRA.md); false exists to measure that cost, not to run with.
        guardSeqs: true,
      },
      batch: { maxBatch: 256, maxDelayMs: 2, maxQueue: 10_000, concurrency: 0 },
      retentionMessages: 0,
    },
    // Defaults and ranges of clockToleranceSec / ticketTtlMs (and their reasons): node/auth/config.ts AUTH_LIMITS.
    auth: { issuer: '', audience: '', clockToleranceSec: AUTH_LIMITS.clockToleranceSec.dflt, ticketTtlMs: AUTH_LIMITS.ticketTtlMs.dflt, keys: [] },
    api: { keys: [] },
    drain: { deadlineMs: 15_000, goawayJitterMs: 5_000 },
    log: { level: 'info' },
    // On: `npm start` is how a person first tries Switchboard, and the page is static
    // assets plus one esbuild bundle built on first request (no cost until then, no
    // network). Off for a node that should answer nothing but the protocol and the API.
    web: { enabled: true },
    push: {
      // 5 s: a live client acks a delivery within one round trip (milliseconds); a device
      // that has not after 5 s has a socket that is open but not reading (an app the OS
      // suspended, a dead mobile link not yet timed out), and a push wakes it.
      ackWaitMs: 5_000,
      // 10 s: the first message of a burst wakes the device at once and the app syncs
      // everything; one more notification per conversation per 10 s tells of what came
      // since, with its unread count, without buzzing the phone for every line typed.
      collapseWindowMs: 10_000,
      // 24 h: a push is a wake-up, not the message (the store is): one still owed after a
      // day of provider outage or a phone switched off is dropped, the app syncs anyway.
      ttlMs: 24 * 3_600_000,
      // 1 s doubling to 5 min, full jitter: a provider's brief hiccup is retried within
      // seconds, a long outage is probed every few minutes without a retry wave.
      retryBaseMs: 1_000,
      retryMaxMs: 300_000,
      // 25 attempts: at the 5 min cap that is about 2 h of outage before a push is dropped
      // as failed (ttlMs drops it earlier when shorter).
      maxAttempts: 25,
      // 100 requests in flight per provider: APNs allows ~1000 streams per HTTP/2
      // connection and FCM answers in ~100 ms, so 100 carries ~1000 pushes/s while
      // bounding the sockets and memory a slow provider can pin.
      providerConcurrency: 100,
      // 2,000/s per provider: well under what APNs and FCM accept from one sender, and far
      // above what one node produces (a 1024-member group message is at most 1024 pushes).
      providerRatePerSec: 2_000,
      // Per endpoint origin (a Web Push service such as fcm.googleapis.com or
      // updates.push.services.mozilla.com, or one app's webhook host): 16 in flight and
      // 200/s, so one slow or small endpoint cannot take the whole provider's budget.
      endpointConcurrency: 16,
      endpointRatePerSec: 200,
      // 30 s: owed pushes not in memory (past the in-memory cap, or written by a commit
      // whose outcome this node never saw) are picked up from the store this often.
      rescanMs: 30_000,
      sqliteFile: '',
      // 20: a person's phones, tablets, desktops and browsers with room to spare; every
      // message to the user is one provider call per registration.
      maxDevicesPerUser: 20,
      apns: {
        enabled: false,
        // Apple's production host; the sandbox (development builds) is https://api.sandbox.push.apple.com.
        endpoint: 'https://api.push.apple.com',
        teamId: '',
        keyId: '',
        topic: '',
        keyFile: '',
        keyPem: '',
        caFile: '',
        // 40 min: Apple refuses a provider token older than 60 min (403 ExpiredProviderToken)
        // and one refreshed more often than every 20 min (429 TooManyProviderTokenUpdates);
        // the middle of that window leaves 20 min of slack for clock skew on either side.
        tokenRefreshMs: 40 * 60_000,
        // 10 s: APNs answers in well under a second; this only bounds a hung stream, after
        // which the push is retried by the outbox rather than held.
        timeoutMs: 10_000,
      },
      fcm: {
        enabled: false,
        endpoint: 'https://fcm.googleapis.com',
        projectId: '',
        serviceAccountFile: '',
        serviceAccountJson: '',
        tokenUri: '',
        // 10 s: as for APNs; FCM answers in well under a second.
        timeoutMs: 10_000,
      },
      webpush: {
        enabled: false,
        vapidPublicKey: '',
        vapidPrivateKey: '',
        vapidPrivateKeyFile: '',
        subject: '',
        // false: subscription endpoints come from browsers, and a real push service is
        // always https; plain http is for local test servers only.
        allowHttp: false,
        // 10 s: push services answer 201 in well under a second.
        timeoutMs: 10_000,
      },
      webhook: {
        enabled: false,
        secret: '',
        secretFile: '',
        allowedOrigins: [],
        // false: the POST carries a signature and, in preview mode, message text; only
        // a local test receiver has a reason to take it in the clear.
        allowHttp: false,
        // 10 s: the app's backend should answer at once and push asynchronously.
        timeoutMs: 10_000,
      },
    },
    media: {
      enabled: true,
      // 0: any free port, printed on the ready line and carried in every upload URL, so
      // clients need no setting and test nodes never collide; behind a proxy set a fixed
      // port and publicUrl.
      port: 0,
      publicUrl: '',
      // 100 MiB: the default; WhatsApp's limit for video was 16 MB and documents
      // 100 MB (later 2 GB); beyond it, a file share is a different product.
      maxBytes: 100 * 1024 * 1024,
      // 1 GiB a day: media is ~10% of messages at 100-500 KB, so a very heavy user
      // (1,000 photos a day) needs ~500 MB; twice that caps a script filling the disk.
      quotaBytesPerDay: 1024 * 1024 * 1024,
      // 1 h: 100 MiB over a 1 Mbit/s mobile link is ~14 minutes, with room for
      // resumes; short enough that an abandoned upload's bytes go within the hour.
      slotTtlMs: 3_600_000,
      // 5 min: a download URL is fetched at once by the app that asked for it; short
      // lived so a leaked URL stops working soon (the complaint about XEP-0363).
      urlTtlMs: 300_000,
      urlSecret: '',
      // 24 h: a client that uploaded and lost its link before sending can still send
      // within a day; an unreferenced blob costs disk for at most that long.
      gcGraceMs: 86_400_000,
      // 5 min: slots expire on the hour scale; a pass is a metadata scan, cheap at this interval.
      gcIntervalMs: 300_000,
      // 1: SHA-256 runs at hundreds of MB/s per thread (npm run bench -- media); one
      // thread keeps up with many uploads and leaves the cores to the socket shards.
      hashThreads: 1,
      // fs: `npm start` needs nothing else; a cell must share its blobs, so it must use
      // s3 (checked in validateConfig).
      store: 'fs',
      s3: {
        // '': AWS itself; set it for an S3-compatible server (SeaweedFS, MinIO, Ceph RGW).
        endpoint: '',
        // us-east-1: AWS's default region; S3-compatible servers ignore it, but SigV4 signs it.
        region: 'us-east-1',
        bucket: 'switchboard-media',
        // '': the SDK's default credential chain, so production on AWS can use a role.
        accessKeyId: '',
        secretAccessKey: '',
        // true: S3-compatible servers on an IP or one host name have no per-bucket DNS
        // names; AWS serves path-style too.
        forcePathStyle: true,
      },
    },
    cluster: defaultClusterConfig(),
  };
}

/**
 * What each key does, for operators: the configuration reference (docs/CONFIG.md,
 * `npm run config:doc`) is generated from this table, the schema's bounds and the
 * defaults above; node/config_doc.test.ts fails if a key has no entry here or the
 * reference is stale. Keys inside listen.tls and auth.keys entries are listed too
 * (`auth.keys[].kid`). Sizes are bytes, times milliseconds unless the key says
 * otherwise. Each entry carries the gist of its default's why; the comments on the
 * defaults keep the full reasoning and the sources.
 */
export const CONFIG_DOCS: Readonly<Record<string, string>> = {
  'node.id': 'This node\'s name: in log lines, the ready line and, in a cell, its membership key and the owner recorded for its conversation shards. Must be unique in a cell. Flag: `--node-id`.',
  'node.dataDir': 'Directory for local state: the SQLite file (unless store.sqlite.file says otherwise) and the dev HS256 secret `dev-secret` used when auth.keys is empty. Created at start; a relative path is resolved against the working directory. Flag: `--data-dir`.',

  'listen.host': 'Address the WebSocket and HTTP listener binds (one port for both: `/v1/ws`, the HTTP API, `/metrics`, `/admin/*`). `0.0.0.0` for all interfaces. Flag: `--host`.',
  'listen.port': 'Port of that listener, shared by every socket shard (SO_REUSEPORT). 0 = any free port (the ready line prints the one chosen). Flag: `--port`.',
  'listen.tls': 'null: plain `ws://` and `http://`. An object: TLS on the same port (`wss://`, `https://`) with the certificate below, checked at start (a bad pair stops the node naming the file). New contents of certFile and keyFile are picked up without a restart on SIGHUP and when the files change (watchDebounceMs): new connections get the new certificate, open sockets stay; a bad pair (unreadable, not PEM, key not matching, expired) is refused with an error log line naming the file and the current one stays in use. Switching TLS on or off, or to other file names, needs a restart.',
  'listen.tls.certFile': 'PEM certificate chain file.',
  'listen.tls.keyFile': 'PEM private key file of that certificate.',
  'listen.tls.passphrase': 'Passphrase of an encrypted key file; empty when the key is not encrypted.',
  'listen.tls.watchDebounceMs': 'The directories of certFile and keyFile are watched; after a change, this much quiet before the pair is re-read and, if its bytes changed, reloaded. 0 = no watch (SIGHUP only). 1 s: a renewal writes the certificate and the key in separate steps, and reading in between would refuse a new certificate with the old key.',

  'shards.count': 'Socket shards: uWebSockets.js worker threads, each serving its share of the connections on the one port. 0 = one per CPU core. Flag: `--shards`.',
  'tasks.threads': 'Threads of the task pool (piscina) that verifies EdDSA tokens off the socket threads. 0 = one per CPU core.',

  'limits.maxFrameBytes': 'Largest inbound WebSocket frame (sent to clients as `welcome.max_frame_bytes`; also caps HTTP request bodies). Up to 4x this: `frame_too_large` and the socket stays open; up to 8x: close 1009; beyond: dropped (PROTOCOL.md §8.2).',
  'limits.maxMessageBytes': 'Largest body + meta of one message; a bigger send gets `limit_exceeded`. Must not exceed limits.maxFrameBytes.',
  'limits.sendRatePerSec': 'Send frames per second per connection (token bucket refill rate); past it a send gets `rate_limited` with `retry_after_ms`.',
  'limits.sendBurst': 'Burst of that per-connection send bucket.',
  'limits.frameRatePerSec': 'Frames per second per connection, of every kind but `ping` (sends count here too; token bucket refill rate); past it `rate_limited` with `retry_after_ms`.',
  'limits.frameBurst': 'Burst of that per-connection frame bucket.',
  'limits.idleTimeoutMs': 'A socket with no inbound frame (pongs count) for this long is closed with 4002 (`welcome.idle_timeout_ms`).',
  'limits.heartbeatMs': 'Interval of server pings and of the idle / token-expiry check (`welcome.heartbeat_ms`). Must be smaller than limits.idleTimeoutMs.',
  'limits.defaultSyncPage': 'Messages per `sync` page when the client asks for `limit` 0. Must not exceed limits.maxSyncPage.',
  'limits.maxSyncPage': 'Largest `sync` page a client may ask for (`welcome.max_sync_page`); a larger `limit` gets `invalid_argument`.',
  'limits.maxHistoryPage': 'Largest history page. On a socket a larger `limit` gets `invalid_argument`; the HTTP API clamps it to this. The default page is min(50, this).',
  'limits.maxBackpressureBytes': 'Outbound bytes buffered for one socket (a client that does not read) before it is closed as a slow consumer with 4003; the client reconnects and resyncs, nothing is lost.',
  'limits.maxConversationMembers': 'Largest group, creator included; creating or growing a group past it gets `limit_exceeded`.',
  'limits.maxInflightSends': 'Sends per connection awaiting their ack; one more gets `rate_limited` (retry after 50 ms).',
  'limits.maxPresenceSubscriptions': 'Users one connection may watch with `presence_subscribe` (interest-scoped presence); more gets `limit_exceeded`. 256: a chat list shows a few dozen contacts, and one connection should not watch a whole address book.',
  'limits.presenceOfflineDebounceMs': 'A user whose last connection closed still counts as online this long, so a reconnect (network switch, app restart: 5 s covers the common ones) is not an offline/online flap.',
  'limits.presenceIntervalMs': 'At most one presence push per subscriber per interval; changes in between are batched. 1 s: presence is glanceable, and batching is what keeps a reconnect storm from becoming a frame storm.',
  'limits.groupReceiptIntervalMs': 'At most one `group_receipts` push per conversation and sender per interval. 250 ms: ticks feel live, and a 1024-member group acking together yields a handful of frames instead of thousands.',
  'limits.typingIntervalMs': 'A connection\'s typing notices are relayed at most once per interval; faster ones are dropped (clients repeat typing every few seconds).',
  'limits.typingTtlMs': 'A typing indicator expires this long after the notice (`typing.until_ms` = now + this).',
  'limits.userSendRatePerSec': 'Sends per second per user over all devices and conversations (token bucket; `rate_limited` past it). In a cell each node the user is connected to enforces rate/k and burst/k (k = those nodes); sized for k = 2. Caps a compromised account spraying many chats. Socket sends only: HTTP API sends skip this bucket.',
  'limits.userSendBurst': 'Burst of the per-user send bucket (200: one device alone, at k = 2, still gets a full 100-photo share).',
  'limits.conversationSendRatePerSec': 'Sends per second per conversation, all senders together (token bucket at the conversation\'s owner). Protects fan-out: a 1024-member group at 20 msg/s is ~20,000 deliveries/s, under half of what one node fans out, so one busy group cannot starve the others. Must be at least limits.conversationSenderRatePerSec.',
  'limits.conversationSendBurst': 'Burst of the per-conversation bucket (200: two 100-photo shares at once). Must be at least limits.conversationSenderBurst.',
  'limits.conversationSenderRatePerSec': 'Sends per second per (conversation, sender), the tightest bucket: 2/s lets a person typing short lines fast through, where Telegram asks bots for 1/s per chat. Must not exceed limits.conversationSendRatePerSec.',
  'limits.conversationSenderBurst': 'Burst of the (conversation, sender) bucket. 100: a 100-photo share (one message each) or an offline outbox flushed on reconnect goes through at once. Must not exceed limits.conversationSendBurst.',
  'limits.sendLimitMaxEntries': 'Buckets kept in memory per scope (user, conversation, sender), about 170 bytes each; past it the least recently used bucket is dropped (fail-open: it over-admits by at most what that key had spent, never refuses new users). A bucket lives only until it refills (at most burst/rate).',

  'store.kind': '`sqlite`: the embedded store, one node. `cassandra`: the production store, required for a cell (cluster.enabled).',
  'store.sqlite.file': 'SQLite database file. Empty = `<node.dataDir>/switchboard.sqlite`.',
  'store.cassandra.contactPoints': 'Cassandra nodes to connect to first, as `host:port`; the driver discovers the rest.',
  'store.cassandra.localDataCenter': 'The Cassandra data center this node talks to (load balancing and LOCAL_* consistencies).',
  'store.cassandra.keyspace': 'Keyspace holding the tables (`npm run migrate` creates it).',
  'store.cassandra.consistency': 'Write consistency (reads use the same, except that `eachQuorum` reads as `localQuorum`); an ack waits for the write at this level. `localQuorum` survives one replica down with replication factor 3; `one` suits a single local node (dev).',
  'store.cassandra.migrateOnStart': 'Apply missing schema migrations at start (dev, tests). Production runs `npm run migrate` before starting nodes.',
  'store.cassandra.guardSeqs': 'Message rows are conditional inserts (IF NOT EXISTS), so a stored seq never changes content, even when a stale shard owner (a node frozen past its lease) writes. Costs a Paxos round per message partition per commit (node/store/CASSANDRA.md); false exists to measure that cost, not to run with.',
  'store.batch.maxBatch': 'Ops per store commit of the batch writer (group commit; acks wait for the commit). 256: a SQLite transaction of 256 inserts costs far less than its fsync, and a Cassandra batch stays under batch_size_fail_threshold.',
  'store.batch.maxDelayMs': 'How long the oldest queued op may wait for company before its batch leaves. 2 ms: small next to one fsync, so an idle node adds little latency while a busy one fills batches anyway.',
  'store.batch.maxQueue': 'Ops allowed to wait for the store; past it sends get a retryable `overloaded` at once (a few hundred ms of backlog at 10,000: deeper queues only turn a slow disk into client timeouts).',
  'store.batch.concurrency': 'Commits in flight at once. 0 = by store: 4 on Cassandra (pipelined commits stay in call order per conversation; measured 2.9x -> 4.1x the per-message writer), 1 on SQLite (one writer anyway).',
  'store.retentionMessages': 'Keep at most this many messages per conversation, trimmed in steps of 10%; older ones are gone (`first_seq` moves, a client behind it gets `resync_required`). 0 = keep all.',

  'auth.issuer': 'When set, client tokens must carry exactly this `iss`. Empty = not checked.',
  'auth.audience': 'When set, client tokens must list this in `aud`. Empty = not checked.',
  'auth.clockToleranceSec': 'Seconds of leeway for a token\'s `exp` / `nbf` / `iat`, for clock skew between the token issuer and the node. 5 s: issuers and nodes are servers kept in sync by NTP, and every second of leeway is a second an expired token still works; at most 600 (one range for the node and the auth validator: node/auth/config.ts AUTH_LIMITS).',
  'auth.ticketTtlMs': 'Lifetime of a single-use WebSocket ticket from `POST /v1/tickets` (browsers). 30 s: a ticket is redeemed within a second of issue, 30 s covers slow mobile networks; at most 600000 (a ticket is a bearer credential that may sit in a URL).',
  'auth.keys': 'Keys that verify client tokens (JWT), chosen by the token\'s `kid`. Several keys allow rotation: publish the new one, start signing with it, drop the old one later. Empty = the dev HS256 secret in `<node.dataDir>/dev-secret` (a warning is logged; mint tokens with `npm run token`).',
  'auth.keys[].kid': 'Key id; a token names its key in the `kid` header.',
  'auth.keys[].alg': '`HS256` (shared secret) or `EdDSA` (Ed25519; verified in the task pool).',
  'auth.keys[].secret': 'The HS256 shared secret. Prefix `base64url:` or `utf8:` to force an encoding; without one, a string that is canonical base64url of at least 32 bytes is decoded, anything else taken as UTF-8. Whoever signs tokens must use the same bytes.',
  'auth.keys[].publicKeyPem': 'The Ed25519 public key that verifies tokens.',
  'auth.keys[].privateKeyPem': 'The Ed25519 private key, only where tokens are minted (dev, `npm run token`); nodes that only verify leave it out.',

  'api.keys': 'API keys for the HTTP API of app backends (`/v1/...`) and for `/admin/*` (switchboardctl): `Authorization: Bearer <key>`, compared in constant time. Empty = the HTTP API and the admin endpoints refuse every call.',

  'drain.deadlineMs': 'A drain (SIGTERM, `POST /admin/drain`, `switchboardctl drain`) that has not finished in this long exits the process with code 1 instead of 0.',
  'drain.goawayJitterMs': 'On drain each client gets `goaway` with a reconnect delay drawn from 0 to this, then close 4001, so the clients of a drained node do not all reconnect at once.',

  'web.enabled': 'Serve the browser chat (node/web/) at `/web/` on the listener\'s port: static assets and one script bundled from the SDK on first request, with a CSP that forbids remote loads. While the node runs on the dev secret (no auth.keys), the page signs in any user id through `POST /web/dev-signin`; with auth.keys set that route is off and the page needs a token. Default true, because `npm start` is how a person first tries the node and the page costs nothing until requested.',

  'push.ackWaitMs': 'A recipient device with a live connection somewhere in the cell gets a push only if it has not acked delivery (its `delivered` cursor) within this long; a device with no live connection is pushed at once. 5 s: a live client acks within one round trip, so a device that has not is open but not reading (suspended app, dead link not yet timed out).',
  'push.collapseWindowMs': 'At most one push per device per conversation per window: the first message of a burst goes at once, the rest leave as one push (newest seq, unread count, same collapse id) when the window ends. 10 s: the first push already makes the app sync everything.',
  'push.ttlMs': 'A push not delivered to its provider within this long after the message is dropped (counted as dropped, reason `expired`), and providers are told to drop it after this long too. 24 h: a push is a wake-up; the store holds the message.',
  'push.retryBaseMs': 'First retry delay of a push whose provider answered retry (429, 5xx, network); doubles per attempt up to push.retryMaxMs, with full jitter; a Retry-After from the provider is waited out in full. Must not exceed push.retryMaxMs.',
  'push.retryMaxMs': 'Cap of that retry delay (5 min: a long outage is probed every few minutes).',
  'push.maxAttempts': 'Provider calls per push before it is dropped (reason `attempts`); about 2 h of outage at the 5 min cap.',
  'push.providerConcurrency': 'Provider requests in flight at once per platform (apns, fcm, webpush, webhook). 100 carries ~1000 pushes/s at ~100 ms per request while bounding what a slow provider can pin.',
  'push.providerRatePerSec': 'Provider requests per second per platform (token bucket, burst = one second of it).',
  'push.endpointConcurrency': 'Requests in flight per endpoint origin (each Web Push service, each webhook host), so one slow endpoint cannot take a whole platform\'s budget. Must not exceed push.providerConcurrency.',
  'push.endpointRatePerSec': 'Requests per second per endpoint origin (token bucket, burst = one second of it). A 429 with Retry-After also pauses the whole endpoint for that long.',
  'push.rescanMs': 'How often the outbox re-reads owed pushes of the shards this node owns from the store (those past its in-memory cap, or of commits whose outcome it never saw).',
  'push.sqliteFile': 'SQLite file of the push store (registrations, mutes, the push outbox) on a node with store.kind `sqlite`. Empty = `<node.dataDir>/push.sqlite`. With `cassandra` the push tables live in the message keyspace (migration 004_push).',
  'push.maxDevicesPerUser': 'Push registrations one user may hold (one per device); registering one more device gets `limit_exceeded` (re-registering a known device always works). 20: a person\'s devices with room to spare, while each message costs one provider call per registration.',
  'push.apns.enabled': 'Send to `apns` devices through Apple Push Notification service (HTTP/2, ES256 provider token). When true, teamId, keyId, topic and the key (keyFile or keyPem) are required and checked at start. node/push/PROVIDERS.md.',
  'push.apns.endpoint': 'APNs base URL (https). Production `https://api.push.apple.com`; development builds use `https://api.sandbox.push.apple.com`; tests point it at the fake (node/push/fakes/).',
  'push.apns.teamId': 'Apple developer team id: the `iss` of the provider token.',
  'push.apns.keyId': 'Key id of the APNs auth key (.p8): the `kid` of the provider token.',
  'push.apns.topic': 'Default `apns-topic` (the app\'s bundle id); a device registered with its own app id uses that instead.',
  'push.apns.keyFile': 'File holding the APNs auth key (.p8, a PKCS#8 PEM P-256 key). Set this or keyPem.',
  'push.apns.keyPem': 'The APNs auth key inline (PEM). Set this or keyFile. Never logged.',
  'push.apns.caFile': 'PEM CA certificates to trust for the APNs endpoint instead of the system roots (a test server\'s self-signed CA). Empty = system roots.',
  'push.apns.tokenRefreshMs': 'Age at which the provider token (JWT) is re-signed. Apple refuses one older than 60 min and answers 429 TooManyProviderTokenUpdates to one refreshed more often than every 20 min, hence the bounds; 40 min leaves 20 min of clock-skew slack each side.',
  'push.apns.timeoutMs': 'A request with no answer after this long is abandoned and retried later by the outbox (10 s: APNs answers in well under a second).',
  'push.fcm.enabled': 'Send to `fcm` devices through FCM HTTP v1 with a service-account OAuth2 token. When true, the service account (serviceAccountFile or serviceAccountJson) is required and checked at start.',
  'push.fcm.endpoint': 'FCM base URL; messages go to `<endpoint>/v1/projects/<projectId>/messages:send`.',
  'push.fcm.projectId': 'Firebase project id. Empty = the service account\'s `project_id`.',
  'push.fcm.serviceAccountFile': 'Google service-account JSON file (client_email, private_key, token_uri). Set this or serviceAccountJson.',
  'push.fcm.serviceAccountJson': 'The service-account JSON inline. Set this or serviceAccountFile. Never logged.',
  'push.fcm.tokenUri': 'OAuth2 token endpoint the signed service-account JWT is exchanged at. Empty = the service account\'s `token_uri` (else https://oauth2.googleapis.com/token).',
  'push.fcm.timeoutMs': 'A token exchange or send with no answer after this long is abandoned and retried later by the outbox.',
  'push.webpush.enabled': 'Send to `webpush` subscriptions (RFC 8030, payload encrypted per RFC 8291, VAPID per RFC 8292). When true, the VAPID key pair and subject are required and checked at start.',
  'push.webpush.vapidPublicKey': 'VAPID public key: base64url of the uncompressed P-256 point (65 bytes), the `applicationServerKey` browsers subscribe with.',
  'push.webpush.vapidPrivateKey': 'VAPID private key inline: base64url of the 32-byte P-256 scalar (the format web-push tools print). Set this or vapidPrivateKeyFile. Never logged.',
  'push.webpush.vapidPrivateKeyFile': 'File holding that base64url private key. Set this or vapidPrivateKey.',
  'push.webpush.subject': 'VAPID `sub`: a `mailto:` or `https:` contact for the push service operator.',
  'push.webpush.allowHttp': 'Accept subscription endpoints over plain http (local test servers only); false refuses them (the push is rejected).',
  'push.webpush.timeoutMs': 'A push with no answer after this long is abandoned and retried later by the outbox.',
  'push.webhook.enabled': 'POST `webhook` pushes to the URL each device registered (the app\'s own backend), signed with HMAC-SHA256 (node/push/PROVIDERS.md documents the headers and the replay window). When true, the secret is required.',
  'push.webhook.secret': 'HMAC-SHA256 key shared with the app backends, at least 32 bytes. Set this or secretFile. Never logged.',
  'push.webhook.secretFile': 'File holding that secret. Set this or secret.',
  'push.webhook.allowedOrigins': 'Origins (`https://host[:port]`) a webhook URL may point at; a push to any other is rejected. Empty = any origin (device registration is then the only guard).',
  'push.webhook.allowHttp': 'Accept plain-http webhook URLs (local test receivers only).',
  'push.webhook.timeoutMs': 'A webhook with no answer after this long is abandoned and retried later by the outbox (10 s: the backend should answer at once and push asynchronously).',
  'media.enabled': 'Serve media attachments: the media slot and download-URL frames and API, and the media listener thread (tus uploads, signed downloads, GC). node/media/MEDIA.md, PROTOCOL.md §13.',
  'media.port': 'Port of the media listener (its own node:http server on listen.host, never the socket shards). 0 = any free port, printed on the ready line and carried in every upload and download URL; set a fixed one behind a proxy.',
  'media.publicUrl': 'Base URL clients reach the media listener at (e.g. `https://media.example.com`). Empty = `http://<listen.host>:<media.port>`.',
  'media.maxBytes': 'Largest upload; a slot for more gets `limit_exceeded`, and an upload that sends more than it declared gets `media_size_mismatch`. 100 MiB: big videos, not a file-share product.',
  'media.quotaBytesPerDay': 'Bytes one user may upload per UTC day (charged at slot creation, given back when an upload fails or expires); past it `quota_exceeded` with `retry_after_ms` until midnight UTC. 0 = no quota. 1 GiB: twice what a very heavy user sends.',
  'media.slotTtlMs': 'How long an upload slot (its upload URL) stays valid; an unfinished upload is removed with its bytes after it. 1 h: 100 MiB over a slow mobile link, with resumes.',
  'media.urlTtlMs': 'Lifetime of a download URL (node-signed or S3 presigned). 5 min: fetched at once by the app that asked; a leaked URL soon stops working.',
  'media.urlSecret': 'HMAC secret of the node-signed upload and download URLs (at least 32 bytes). Empty = generated once into `<node.dataDir>/media-url-secret` (0600). Never logged.',
  'media.gcGraceMs': 'A completed upload no message references, and a stored blob no media links to, are removed after this long. 24 h: an upload whose send was delayed by a lost link can still be sent within a day.',
  'media.gcIntervalMs': 'How often each node\'s media listener runs a GC pass (expired slots, unreferenced media and blobs, stale multipart uploads, orphan staged files); each pass logs one line and updates the switchboard_media_gc_* metrics.',
  'media.store': 'Where attachment bytes live (node/media/BLOBS.md). `fs`: files under `<node.dataDir>/blobs`, for one node; the node serves downloads itself under URLs it signs. `s3`: a bucket (media.s3), shared by every node and required in a cell (cluster.enabled with media.enabled); downloads are S3 presigned GETs.',
  'media.s3.endpoint': 'S3 endpoint URL, e.g. `http://127.0.0.1:8333` (SeaweedFS) or `https://s3.eu-west-1.amazonaws.com`. Empty = AWS\'s endpoint for media.s3.region. Presigned download URLs carry this host, so clients must reach it.',
  'media.s3.region': 'Region the requests are signed for (SigV4). `us-east-1`: AWS\'s default; S3-compatible servers accept any.',
  'media.s3.bucket': 'Bucket holding the blobs; must exist (the node does not create it).',
  'media.s3.accessKeyId': 'Access key id. Empty together with media.s3.secretAccessKey = the AWS SDK\'s default credential chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, shared config files, an instance or task role).',
  'media.s3.secretAccessKey': 'Secret access key, paired with media.s3.accessKeyId. Never logged or printed (a bad value is refused without echoing it).',
  'media.s3.forcePathStyle': 'true: `<endpoint>/<bucket>/<key>` URLs (S3-compatible servers, which have no per-bucket DNS names). false: `<bucket>.<endpoint>/<key>` (virtual-hosted, AWS\'s preference).',
  'media.hashThreads': 'Threads of the media listener\'s hash pool (SHA-256 of finished uploads, piscina). 1: one thread hashes hundreds of MB/s and leaves the cores to the socket shards.',
  'log.level': 'Lowest level of log line to write (one JSON event per line on stderr; fields in docs/LOGS.md). `info`: starts, stops, restarts, drains, reloads, admin calls and every warning, a few lines a minute on a healthy node. `debug` adds one line per message per stage (received, stored, fanned out, delivered) with its trace id: for chasing one message, not for running at load. Changeable while running: `POST /admin/log-level` (`switchboardctl log-level LEVEL`), which also reaches the socket shards.',

  'cluster.enabled': 'false: a single node, embedded route table, no etcd. true: the node joins a cell (etcd membership, routes, conversation shards, gRPC links to the other nodes); needs store.kind `cassandra`. node/cluster/CLUSTER.md.',
  'cluster.etcd.endpoints': 'etcd client URLs, e.g. `http://127.0.0.1:2379`.',
  'cluster.etcd.prefix': 'Key prefix of the cell in etcd (node/cluster/keys.ts); several cells or test runs can share one etcd.',
  'cluster.etcd.leaseTtlSec': 'TTL in seconds of the node\'s etcd lease, which carries its membership, routes and shards: a dead node\'s routes and shards move within about TTL + 1.5 s.',
  'cluster.peer.bind': '`host:port` the cluster gRPC server binds (port 0 = any free port).',
  'cluster.peer.advertise': '`host:port` other nodes dial, published in membership. Empty = the bound address.',
  'cluster.shards.count': 'Conversation shards of the cell, each owned by one node at a time. Fixed for the life of the cell: every node must use the same value.',
  'cluster.routes.maxBatchOps': 'Route changes (user/device -> node) per etcd transaction. 128: etcd\'s default --max-txn-ops; a bigger txn is refused.',
  'cluster.routes.maxDelayMs': 'How long a route change may wait for company before its transaction leaves (route writes are off the message path).',
  'cluster.routes.maxPending': 'Route changes not yet written to etcd before new registrations are refused (new connections should go elsewhere; about a few seconds of etcd write capacity).',
  'cluster.links.maxQueuedBytes': 'Bytes queued for one peer node before sends to it are refused (`overloaded`, frame dropped): about 1 s of a busy link, enough to ride out a reconnect.',
  'cluster.links.maxBatchBytes': 'Bytes per batch on a peer link (64 KiB: one HTTP/2 window; bigger batches add latency).',
  'cluster.links.heartbeatMs': 'A peer link sends a heartbeat after this long without sending. With cluster.enabled, must be smaller than cluster.links.deadAfterMs.',
  'cluster.links.deadAfterMs': 'A peer is declared dead (and redialled) after this long without receiving anything on its link.',
  'cluster.fence.mode': '`etcd`: before each store batch of a shard owner, one read-only etcd txn checks it still owns the shards (node/cluster/fence.ts). `lease`: trust the local lease alone (sound while clocks run at the same rate).',
  'cluster.fence.safetyMarginMs': 'A shard owner starts a store write only while its lease stays valid at least this much longer (1 s: far longer than a normal batch, so a write that starts in time ends in time unless the process stalls).',
};

/**
 * What the configuration reference (docs/CONFIG.md, generated by node/config_doc.ts)
 * says a check accepts. The check constructors below attach it, so the reference
 * states the very bounds that are enforced. `fields` documents the keys inside an
 * object-valued key (listen.tls, each entry of auth.keys); `dflt` their default
 * (`undefined` = required).
 */
export interface CheckDoc {
  type: string;
  min?: number;
  max?: number;
  oneOf?: readonly string[];
  /** Any other rule, as the reference states it. */
  rule?: string;
  fields?: Schema;
  /** For a key inside `fields`: its default as JSON text, or undefined when required. */
  dflt?: string;
}

export type Check = ((v: unknown, key: string) => unknown) & { doc?: CheckDoc };

/** Attach the reference's description of what `check` accepts (validation unchanged). */
const documented = (check: (v: unknown, key: string) => unknown, doc: CheckDoc): Check => Object.assign(check, { doc });

const int = (min: number, max: number): Check =>
  documented((v, key) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(key, `must be an integer between ${min} and ${max} (got ${JSON.stringify(v)})`);
    }
    return v;
  }, { type: 'integer', min, max });
const str = (opts: { nonEmpty?: boolean; oneOf?: string[] } = {}): Check =>
  documented((v, key) => {
    if (typeof v !== 'string') throw new ConfigError(key, `must be a string (got ${JSON.stringify(v)})`);
    if (opts.nonEmpty && v === '') throw new ConfigError(key, 'must not be empty');
    if (opts.oneOf && !opts.oneOf.includes(v)) throw new ConfigError(key, `must be one of ${opts.oneOf.join(', ')} (got ${JSON.stringify(v)})`);
    return v;
  }, { type: 'string', ...(opts.oneOf ? { oneOf: opts.oneOf } : {}), ...(opts.nonEmpty && !opts.oneOf ? { rule: 'not empty' } : {}) });
const strList: Check = documented((v, key) => {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError(key, 'must be a list of strings');
  return v;
}, { type: 'list of strings' });

const bool: Check = documented((v, key) => {
  if (typeof v !== 'boolean') throw new ConfigError(key, 'must be true or false');
  return v;
}, { type: 'boolean' });
const hostPort: Check = documented((v, key) => {
  str({ nonEmpty: true })(v, key);
  const m = /^(.+):(\d{1,5})$/.exec(v as string);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(key, `must be host:port (got ${JSON.stringify(v)})`);
  return v;
}, { type: 'string', rule: 'host:port' });

/** A string that may hold key material: an error names the key, never echoes the value. */
const secretStr: Check = documented((v, key) => {
  if (typeof v !== 'string') throw new ConfigError(key, 'must be a string');
  return v;
}, { type: 'string', rule: 'secret (never logged)' });
const url = (opts: { https?: boolean } = {}): Check =>
  documented((v, key) => {
    str({ nonEmpty: true })(v, key);
    let u: URL | null = null;
    try {
      u = new URL(v as string);
    } catch { /* refused below */ }
    const ok = u !== null && (opts.https ? u.protocol === 'https:' : /^https?:$/.test(u.protocol));
    if (!ok) throw new ConfigError(key, `must be an ${opts.https ? 'https' : 'http(s)'} URL (got ${JSON.stringify(v)})`);
    return v;
  }, { type: 'string', rule: opts.https ? 'an https URL' : 'an http(s) URL' });

/** The schema mirrors Config; a nested object is a schema, a function checks a leaf. */
export type Schema = { [k: string]: Check | Schema };

const tlsSchema: Schema = { certFile: str({ nonEmpty: true }), keyFile: str({ nonEmpty: true }), passphrase: str(), watchDebounceMs: int(0, 600_000) };
const tlsDefaults = {
  passphrase: '',
  // A renewal replaces the certificate and the key as separate steps (certbot re-points
  // two symlinks; an operator copies two files): a read between them sees a new
  // certificate with the old key, which the reload refuses (a spurious error line; the
  // next change retries). One second of quiet covers those steps with room to spare,
  // and is nothing next to a certificate's lifetime.
  watchDebounceMs: 1000,
};

/**
 * What the reference says about the fields of one auth.keys entry. Documentation only:
 * checkAuthKey and node/auth/config.ts do the checking.
 */
const authKeyFieldsDoc: Schema = {
  kid: documented(() => undefined, { type: 'string', rule: '1 to 64 characters of [A-Za-z0-9._:-]; unique among the keys' }),
  alg: documented(() => undefined, { type: 'string', oneOf: ['HS256', 'EdDSA'] }),
  secret: documented(() => undefined, { type: 'string', rule: 'HS256 only; at least 32 bytes once decoded', dflt: 'required for HS256' }),
  publicKeyPem: documented(() => undefined, { type: 'string', rule: 'EdDSA only; an Ed25519 public key, PEM', dflt: 'required for EdDSA' }),
  privateKeyPem: documented(() => undefined, { type: 'string', rule: 'EdDSA only; the Ed25519 private key matching publicKeyPem, PEM', dflt: 'none' }),
};

const schema: Schema = {
  node: { id: str({ nonEmpty: true }), dataDir: str({ nonEmpty: true }) },
  listen: {
    host: str({ nonEmpty: true }),
    port: int(0, 65535),
    tls: documented(
      (v, key) => {
        if (v === null) return null;
        return validateAgainst(v, tlsSchema, key, tlsDefaults);
      },
      { type: 'object or null', rule: 'null, or an object with the keys below', fields: docFields(tlsSchema, tlsDefaults) },
    ),
  },
  shards: { count: int(0, 256) },
  tasks: { threads: int(0, 256) },
  limits: {
    maxFrameBytes: int(1024, 16 * 1024 * 1024),
    maxMessageBytes: int(16, 16 * 1024 * 1024),
    sendRatePerSec: int(1, 1_000_000),
    sendBurst: int(1, 1_000_000),
    frameRatePerSec: int(1, 1_000_000),
    frameBurst: int(1, 1_000_000),
    idleTimeoutMs: int(1000, 3_600_000),
    heartbeatMs: int(100, 3_600_000),
    defaultSyncPage: int(1, 100_000),
    maxSyncPage: int(1, 100_000),
    maxHistoryPage: int(1, 100_000),
    maxBackpressureBytes: int(1024, 1 << 30),
    maxConversationMembers: int(2, 100_000),
    maxInflightSends: int(1, 100_000),
    maxPresenceSubscriptions: int(0, 100_000),
    presenceOfflineDebounceMs: int(0, 600_000),
    presenceIntervalMs: int(10, 600_000),
    groupReceiptIntervalMs: int(10, 600_000),
    typingIntervalMs: int(0, 600_000),
    typingTtlMs: int(100, 600_000),
    userSendRatePerSec: int(1, 1_000_000),
    userSendBurst: int(1, 1_000_000),
    conversationSendRatePerSec: int(1, 1_000_000),
    conversationSendBurst: int(1, 1_000_000),
    conversationSenderRatePerSec: int(1, 1_000_000),
    conversationSenderBurst: int(1, 1_000_000),
    sendLimitMaxEntries: int(1_000, 100_000_000),
  },
  store: {
    kind: str({ oneOf: ['sqlite', 'cassandra'] }),
    sqlite: { file: str() },
    cassandra: {
      contactPoints: strList,
      localDataCenter: str({ nonEmpty: true }),
      keyspace: documented(
        (v, key) => {
          str({ nonEmpty: true })(v, key);
          if (!/^[a-z][a-z0-9_]{0,47}$/.test(v as string)) throw new ConfigError(key, 'must match [a-z][a-z0-9_]{0,47}');
          return v;
        },
        { type: 'string', rule: 'matches [a-z][a-z0-9_]{0,47}' },
      ),
      consistency: str({ oneOf: ['one', 'localOne', 'quorum', 'localQuorum', 'eachQuorum', 'all'] }),
      migrateOnStart: documented(
        (v, key) => {
          if (typeof v !== 'boolean') throw new ConfigError(key, 'must be true or false');
          return v;
        },
        { type: 'boolean' },
      ),
      guardSeqs: bool,
    },
    batch: { maxBatch: int(1, 100_000), maxDelayMs: int(0, 10_000), maxQueue: int(1, 10_000_000), concurrency: int(0, 64) },
    retentionMessages: int(0, Number.MAX_SAFE_INTEGER),
  },
  auth: {
    issuer: str(),
    audience: str(),
    clockToleranceSec: int(AUTH_LIMITS.clockToleranceSec.min, AUTH_LIMITS.clockToleranceSec.max),
    ticketTtlMs: int(AUTH_LIMITS.ticketTtlMs.min, AUTH_LIMITS.ticketTtlMs.max),
    keys: documented(
      (v, key) => {
        if (!Array.isArray(v)) throw new ConfigError(key, 'must be a list of keys');
        return v.map((k, i) => checkAuthKey(k, `${key}[${i}]`));
      },
      { type: 'list of objects', rule: 'each entry has the keys below', fields: authKeyFieldsDoc },
    ),
  },
  api: {
    keys: documented(
      (v, key) => {
        strList(v, key);
        (v as string[]).forEach((k, i) => {
          if (k.length < 24) throw new ConfigError(`${key}[${i}]`, 'must be at least 24 characters');
        });
        return v;
      },
      { type: 'list of strings', rule: 'each at least 24 characters' },
    ),
  },
  drain: { deadlineMs: int(100, 600_000), goawayJitterMs: int(0, 600_000) },
  log: { level: str({ oneOf: ['debug', 'info', 'warn', 'error'] }) },
  web: { enabled: bool },
  media: {
    enabled: bool,
    port: int(0, 65535),
    publicUrl: documented((v, key) => (v === '' ? v : url()(v, key)), { type: 'string', rule: 'an http(s) URL, or empty' }),
    maxBytes: int(1, 2 ** 40),
    quotaBytesPerDay: int(0, Number.MAX_SAFE_INTEGER),
    slotTtlMs: int(1_000, 7 * 86_400_000),
    urlTtlMs: int(1_000, 7 * 86_400_000),
    urlSecret: documented((v, key) => {
      secretStr(v, key);
      if (v !== '' && Buffer.byteLength(v as string) < 32) throw new ConfigError(key, 'must be at least 32 bytes (or empty to generate one)');
      return v;
    }, { type: 'string', rule: 'empty, or at least 32 bytes; secret (never logged)' }),
    gcGraceMs: int(0, 365 * 86_400_000),
    gcIntervalMs: int(100, 86_400_000),
    hashThreads: int(1, 64),
    store: str({ oneOf: ['fs', 's3'] }),
    s3: {
      endpoint: documented((v, key) => (v === '' ? v : url()(v, key)), { type: 'string', rule: 'an http(s) URL, or empty' }),
      region: documented(
        (v, key) => {
          str({ nonEmpty: true })(v, key);
          if (!/^[a-z0-9-]{1,64}$/.test(v as string)) throw new ConfigError(key, `must be a region name like us-east-1 (got ${JSON.stringify(v)})`);
          return v;
        },
        { type: 'string', rule: 'a region name ([a-z0-9-])' },
      ),
      bucket: documented(
        (v, key) => {
          str({ nonEmpty: true })(v, key);
          if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v as string)) throw new ConfigError(key, `must be an S3 bucket name: 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit (got ${JSON.stringify(v)})`);
          return v;
        },
        { type: 'string', rule: 'an S3 bucket name (3-63 of a-z 0-9 . -)' },
      ),
      accessKeyId: str(),
      secretAccessKey: secretStr,
      forcePathStyle: bool,
    },
  },
  push: {
    ackWaitMs: int(0, 3_600_000),
    collapseWindowMs: int(0, 3_600_000),
    ttlMs: int(1_000, 28 * 24 * 3_600_000),
    retryBaseMs: int(1, 3_600_000),
    retryMaxMs: int(1, 24 * 3_600_000),
    maxAttempts: int(1, 1_000),
    providerConcurrency: int(1, 100_000),
    providerRatePerSec: int(1, 1_000_000),
    endpointConcurrency: int(1, 100_000),
    endpointRatePerSec: int(1, 1_000_000),
    rescanMs: int(100, 3_600_000),
    sqliteFile: str(),
    maxDevicesPerUser: int(1, 1_000),
    apns: {
      enabled: bool, endpoint: url({ https: true }), teamId: str(), keyId: str(), topic: str(), keyFile: str(), keyPem: secretStr,
      caFile: str(), tokenRefreshMs: int(20 * 60_000, 59 * 60_000), timeoutMs: int(100, 600_000),
    },
    fcm: {
      enabled: bool, endpoint: url(), projectId: str(), serviceAccountFile: str(), serviceAccountJson: secretStr,
      tokenUri: documented((v, key) => (v === '' ? v : url()(v, key)), { type: 'string', rule: 'empty, or an http(s) URL' }), timeoutMs: int(100, 600_000),
    },
    webpush: {
      enabled: bool, vapidPublicKey: str(), vapidPrivateKey: secretStr, vapidPrivateKeyFile: str(),
      subject: documented((v, key) => {
        str()(v, key);
        if (v !== '' && !/^(mailto:.+|https:\/\/.+)$/.test(v as string)) throw new ConfigError(key, 'must be a mailto: or https: URL');
        return v;
      }, { type: 'string', rule: 'empty, or a `mailto:` or `https:` URL' }),
      allowHttp: bool, timeoutMs: int(100, 600_000),
    },
    webhook: {
      enabled: bool, secret: secretStr, secretFile: str(),
      allowedOrigins: documented((v, key) => {
        strList(v, key);
        (v as string[]).forEach((o, i) => {
          let u: URL | null = null;
          try {
            u = new URL(o);
          } catch { /* refused below */ }
          if (!u || !/^https?:$/.test(u.protocol) || u.origin !== o) throw new ConfigError(`${key}[${i}]`, 'must be an origin like https://host[:port] (no path, no trailing slash)');
        });
        return v;
      }, { type: 'list of strings', rule: 'each an origin like `https://host[:port]`' }),
      allowHttp: bool, timeoutMs: int(100, 600_000),
    },
  },
  cluster: {
    enabled: bool,
    etcd: {
      endpoints: documented(
        (v, key) => {
          strList(v, key);
          if ((v as string[]).length === 0) throw new ConfigError(key, 'must name at least one endpoint');
          return v;
        },
        { type: 'list of strings', rule: 'at least one' },
      ),
      prefix: documented(
        (v, key) => {
          str({ nonEmpty: true })(v, key);
          if (!(v as string).startsWith('/') || !(v as string).endsWith('/')) throw new ConfigError(key, 'must start and end with /');
          return v;
        },
        { type: 'string', rule: 'starts and ends with /' },
      ),
      leaseTtlSec: int(2, 600),
    },
    peer: { bind: hostPort, advertise: documented((v, key) => (v === '' ? v : hostPort(v, key)), { type: 'string', rule: 'host:port, or empty' }) },
    shards: { count: int(1, 65_536) },
    routes: { maxBatchOps: int(1, 128), maxDelayMs: int(0, 10_000), maxPending: int(1, 10_000_000) },
    links: { maxQueuedBytes: int(65_536, 1 << 30), maxBatchBytes: int(1024, 16 * 1024 * 1024), heartbeatMs: int(50, 60_000), deadAfterMs: int(100, 600_000) },
    fence: { mode: str({ oneOf: ['etcd', 'lease'] }), safetyMarginMs: int(0, 60_000) },
  },
};

/** The keys, checks and defaults the reference documents (node/config_doc.ts). */
export const configSchema: Readonly<Schema> = schema;

/** The fields of an object-valued key, for the reference: each with its default (or required). */
function docFields(s: Schema, defaults: Record<string, unknown>): Schema {
  const out: Schema = {};
  for (const [k, check] of Object.entries(s)) {
    if (typeof check !== 'function') throw new Error(`docFields: ${k} is a nested schema`);
    out[k] = documented(() => undefined, { ...(check.doc ?? { type: '?' }), ...(k in defaults ? { dflt: JSON.stringify(defaults[k]) } : {}) });
  }
  return out;
}

function checkAuthKey(k: unknown, key: string): AuthKeyConfig {
  if (k === null || typeof k !== 'object') throw new ConfigError(key, 'must be an object');
  const o = k as Record<string, unknown>;
  str({ nonEmpty: true })(o.kid, `${key}.kid`);
  const alg = str({ oneOf: ['HS256', 'EdDSA'] })(o.alg, `${key}.alg`);
  if (alg === 'HS256') {
    validateAgainst(o, { kid: str(), alg: str(), secret: str({ nonEmpty: true }) }, key, {});
    if (Buffer.byteLength(o.secret as string) < 32) throw new ConfigError(`${key}.secret`, 'must be at least 32 bytes');
  } else {
    for (const k of Object.keys(o)) if (!['kid', 'alg', 'publicKeyPem', 'privateKeyPem'].includes(k)) throw new ConfigError(`${key}.${k}`, 'unknown key');
    str({ nonEmpty: true })(o.publicKeyPem, `${key}.publicKeyPem`);
    if (o.privateKeyPem !== undefined) str()(o.privateKeyPem, `${key}.privateKeyPem`);
  }
  return o as unknown as AuthKeyConfig;
}

function validateAgainst(value: unknown, s: Schema, prefix: string, defaults: Record<string, unknown>): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(prefix || '(root)', 'must be an object');
  }
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (!(k in s)) throw new ConfigError(prefix ? `${prefix}.${k}` : k, 'unknown key');
  }
  const out: Record<string, unknown> = {};
  for (const [k, check] of Object.entries(s)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const has = k in v;
    if (!has && !(k in defaults)) throw new ConfigError(key, 'is required');
    const val = has ? v[k] : defaults[k];
    out[k] = typeof check === 'function' ? check(val, key) : validateAgainst(val, check, key, {});
  }
  return out;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/** Deep-merge `over` onto `base` (objects merge, everything else replaces). */
export function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v) : v;
  return out;
}

/** Validate a full (defaults already merged) config object. */
export function validateConfig(raw: unknown): Config {
  const cfg = validateAgainst(raw, schema, '', {}) as unknown as Config;
  if (cfg.limits.defaultSyncPage > cfg.limits.maxSyncPage) {
    throw new ConfigError('limits.defaultSyncPage', 'must not exceed limits.maxSyncPage');
  }
  if (cfg.limits.heartbeatMs >= cfg.limits.idleTimeoutMs) {
    throw new ConfigError('limits.heartbeatMs', 'must be smaller than limits.idleTimeoutMs');
  }
  if (cfg.auth.keys.length > 0) {
    // Parses and checks the keys themselves (PEMs, secret lengths, key pairs).
    try {
      validateAuthConfig({ clockToleranceSec: cfg.auth.clockToleranceSec, ticketTtlMs: cfg.auth.ticketTtlMs, keys: cfg.auth.keys }, 'auth');
    } catch (e) {
      if (e instanceof AuthConfigError) throw new ConfigError(e.path, e.problem);
      throw e;
    }
  }
  if (cfg.cluster.enabled && cfg.store.kind !== 'cassandra') {
    throw new ConfigError('cluster.enabled', 'a cluster needs a shared store: set store.kind to cassandra');
  }
  if (cfg.media.store === 's3' && (cfg.media.s3.accessKeyId === '') !== (cfg.media.s3.secretAccessKey === '')) {
    throw new ConfigError(cfg.media.s3.accessKeyId === '' ? 'media.s3.accessKeyId' : 'media.s3.secretAccessKey', 'set both media.s3.accessKeyId and media.s3.secretAccessKey, or neither (the AWS SDK\'s default credential chain)');
  }
  if (cfg.cluster.enabled && cfg.cluster.links.heartbeatMs >= cfg.cluster.links.deadAfterMs) {
    throw new ConfigError('cluster.links.heartbeatMs', 'must be smaller than cluster.links.deadAfterMs');
  }
  if (cfg.cluster.enabled && cfg.media.enabled && cfg.media.store !== 's3') {
    throw new ConfigError('media.store', 'a cluster needs a shared blob store, every node seeing the same blobs: set media.store to s3 (and media.s3), or media.enabled to false');
  }
  // A per-sender bucket larger than the whole conversation's never binds: a typo, not a choice.
  if (cfg.limits.conversationSenderRatePerSec > cfg.limits.conversationSendRatePerSec) {
    throw new ConfigError('limits.conversationSenderRatePerSec', 'must not exceed limits.conversationSendRatePerSec');
  }
  if (cfg.limits.conversationSenderBurst > cfg.limits.conversationSendBurst) {
    throw new ConfigError('limits.conversationSenderBurst', 'must not exceed limits.conversationSendBurst');
  }
  if (cfg.limits.maxMessageBytes > cfg.limits.maxFrameBytes) {
    throw new ConfigError('limits.maxMessageBytes', 'must not exceed limits.maxFrameBytes');
  }
  checkPushProviders(cfg.push);
  if (cfg.push.retryBaseMs > cfg.push.retryMaxMs) throw new ConfigError('push.retryBaseMs', 'must not exceed push.retryMaxMs');
  if (cfg.push.endpointConcurrency > cfg.push.providerConcurrency) throw new ConfigError('push.endpointConcurrency', 'must not exceed push.providerConcurrency');
  return cfg;
}

/** Required keys of each enabled push provider, then its key material (parsed, never echoed). */
function checkPushProviders(p: PushConfig): void {
  const need = (section: string, keys: Record<string, string>): void => {
    for (const [k, v] of Object.entries(keys)) if (v === '') throw new ConfigError(`push.${section}.${k}`, `is required when push.${section}.enabled is true`);
  };
  if (p.apns.enabled) need('apns', { teamId: p.apns.teamId, keyId: p.apns.keyId, topic: p.apns.topic });
  if (p.webpush.enabled) need('webpush', { vapidPublicKey: p.webpush.vapidPublicKey, subject: p.webpush.subject });
  try {
    loadPushCredentials(p);
  } catch (e) {
    if (e instanceof PushCredentialError) throw new ConfigError(e.path, e.problem);
    throw e;
  }
}

/** The send limiter's rules (node/core/send_limits.ts) from the limits section. */
export function sendLimitRules(l: Config['limits']): SendLimitRules {
  return {
    user: { ratePerSec: l.userSendRatePerSec, burst: l.userSendBurst },
    conversation: { ratePerSec: l.conversationSendRatePerSec, burst: l.conversationSendBurst },
    sender: { ratePerSec: l.conversationSenderRatePerSec, burst: l.conversationSenderBurst },
    maxEntries: l.sendLimitMaxEntries,
  };
}

/**
 * The batch writer's options for a store config: `concurrency` 0 resolves to 4 commits
 * in flight on Cassandra (measured: 10 busy conversations, 2.9x -> 4.1x the per-message
 * writer; node/store/CASSANDRA.md) and 1 on SQLite.
 */
export function writerOptions(store: Config['store']): Config['store']['batch'] {
  const { concurrency } = store.batch;
  return { ...store.batch, concurrency: concurrency > 0 ? concurrency : store.kind === 'cassandra' ? 4 : 1 };
}

export interface CliOverrides {
  config?: string;
  port?: number;
  host?: string;
  dataDir?: string;
  nodeId?: string;
  shards?: number;
}

export function parseArgs(argv: string[]): CliOverrides {
  const out: CliOverrides = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(a, 'needs a value');
      return v;
    };
    switch (a) {
      case '--config': out.config = next(); break;
      case '--port': out.port = Number(next()); break;
      case '--host': out.host = next(); break;
      case '--data-dir': out.dataDir = next(); break;
      case '--node-id': out.nodeId = next(); break;
      case '--shards': out.shards = Number(next()); break;
      default: throw new ConfigError(a, 'unknown command-line option (known: --config --port --host --data-dir --node-id --shards)');
    }
  }
  return out;
}

/** Load: defaults <- file <- CLI flags, then validate. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const cli = parseArgs(argv);
  let raw: unknown = defaultConfig();
  const file = cli.config ?? env.SWITCHBOARD_CONFIG ?? (existsSync('switchboard.json') ? 'switchboard.json' : undefined);
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError('--config', `cannot read ${file}: ${(e as Error).message}`);
    }
    raw = merge(raw, parsed);
  }
  const over: Record<string, unknown> = {};
  if (cli.port !== undefined) over.listen = { port: cli.port };
  if (cli.host !== undefined) over.listen = { ...(over.listen as object), host: cli.host };
  if (cli.dataDir !== undefined) over.node = { dataDir: cli.dataDir };
  if (cli.nodeId !== undefined) over.node = { ...(over.node as object), id: cli.nodeId };
  if (cli.shards !== undefined) over.shards = { count: cli.shards };
  raw = merge(raw, over);
  const cfg = validateConfig(raw);
  cfg.node.dataDir = path.resolve(cfg.node.dataDir);
  if (cfg.store.sqlite.file === '') cfg.store.sqlite.file = path.join(cfg.node.dataDir, 'switchboard.sqlite');
  return cfg;
}
