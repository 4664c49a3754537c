/**
 * The default of every config key, each with the reason for its value.
 */
import { AUTH_LIMITS } from '../auth/config.js';
import { defaultClusterConfig } from '../cluster_config.js';
import type { Config } from './types.js';
import { DEFAULT_WEBPUSH_HOSTS } from '../push/endpoint_hosts.js';
export function defaultConfig(): Config {
  return {
    node: { id: 'node-1', dataDir: './data' },
    listen: { host: '127.0.0.1', port: 8080, tls: null },
    // opRingMs 2: client ops reach the host through a shared-memory ring it drains every
    // 2 ms while they flow (shards/op_ring.ts), so neither thread wakes once per op; an
    // op waits at most 2 ms more. Measured against 0 in docs/CAPACITY.md §8.
    shards: { count: 0, opRingMs: 2 },
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
      // 10,000 WAL pages between checkpoints: why in node/store/sqlite_store.ts (WAL_AUTOCHECKPOINT_PAGES).
      sqlite: { file: '', walAutocheckpointPages: 10_000 },
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
      // adaptive: maxDelayMs spaces commit starts, so ops per commit follow the rate and a
      // lone send on an idle node commits at once (node/store/batch_writer.ts). 5 ms, not
      // 2: measured on one SQLite node in alternating pairs (docs/CAPACITY.md §7), node CPU
      // per message 10-15 % lower at 2,000 and 12,000 msg/s for ~2.5 ms more ack p50 and
      // no worse p99; 10 ms saved little more and added another 5 ms.
      batch: { maxBatch: 256, maxDelayMs: 5, maxQueue: 10_000, concurrency: 0, adaptive: true },
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
        // The browsers' push services (node/push/endpoint_hosts.ts): a subscription's
        // endpoint comes from the client, and without a list the node would POST to any
        // host a user names (SSRF).
        endpointHosts: [...DEFAULT_WEBPUSH_HOSTS],
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
