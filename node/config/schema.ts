/**
 * The config schema: one check per key (checks.ts), nested as the config is.
 */
import { AUTH_LIMITS } from '../auth/config.js';
import { isHostPattern } from '../push/endpoint_hosts.js';
import { bool, checkAuthKey, ConfigError, docFields, documented, hostPort, int, secretStr, str, strList, url, validateAgainst, type Schema } from './checks.js';
/** The schema mirrors Config; a nested object is a schema, a function checks a leaf. */

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
  shards: { count: int(0, 256), opRingMs: int(0, 50) },
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
    sqlite: { file: str(), walAutocheckpointPages: int(0, 10_000_000) },
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
    batch: { maxBatch: int(1, 100_000), maxDelayMs: int(0, 10_000), maxQueue: int(1, 10_000_000), concurrency: int(0, 64), adaptive: bool },
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
      allowHttp: bool,
      endpointHosts: documented((v, key) => {
        strList(v, key);
        (v as string[]).forEach((h, i) => {
          if (!isHostPattern(h)) throw new ConfigError(`${key}[${i}]`, 'must be a lower-case host name or IP address, or *.domain for any host under it');
        });
        return v;
      }, { type: 'list of strings', rule: 'each a host, or `*.domain`' }),
      timeoutMs: int(100, 600_000),
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
export { schema };
export const configSchema: Readonly<Schema> = schema;
