/**
 * Node configuration: defaults, a JSON file (--config, SWITCHBOARD_CONFIG, or
 * ./switchboard.json when present), then a
 * few command-line overrides. Validated once at start; any bad or unknown key stops
 * the node with a message naming it (e.g. `limits.maxFrameBytes: must be an integer
 * between 1024 and 16777216`). Every value is documented on its field below (the
 * `cluster` section in ops/cluster_config.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { validateAuthConfig } from './auth/config.js';
import { AuthConfigError } from './auth/errors.js';
import { defaultClusterConfig, type ClusterConfig } from '../ops/cluster_config.js';
import type { SendLimitRules } from './core/send_limits.js';

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  passphrase: string;
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
  /** Cluster membership, routing, conversation shards (ops/cluster_config.ts documents each key). */
  cluster: ClusterConfig;
}

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
    auth: { issuer: '', audience: '', clockToleranceSec: 5, ticketTtlMs: 30_000, keys: [] },
    api: { keys: [] },
    drain: { deadlineMs: 15_000, goawayJitterMs: 5_000 },
    log: { level: 'info' },
    cluster: defaultClusterConfig(),
  };
}

type Check = (v: unknown, key: string) => unknown;

const int = (min: number, max: number): Check => (v, key) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(key, `must be an integer between ${min} and ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
};
const str = (opts: { nonEmpty?: boolean; oneOf?: string[] } = {}): Check => (v, key) => {
  if (typeof v !== 'string') throw new ConfigError(key, `must be a string (got ${JSON.stringify(v)})`);
  if (opts.nonEmpty && v === '') throw new ConfigError(key, 'must not be empty');
  if (opts.oneOf && !opts.oneOf.includes(v)) throw new ConfigError(key, `must be one of ${opts.oneOf.join(', ')} (got ${JSON.stringify(v)})`);
  return v;
};
const strList: Check = (v, key) => {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError(key, 'must be a list of strings');
  return v;
};

const bool: Check = (v, key) => {
  if (typeof v !== 'boolean') throw new ConfigError(key, 'must be true or false');
  return v;
};
const hostPort: Check = (v, key) => {
  str({ nonEmpty: true })(v, key);
  const m = /^(.+):(\d{1,5})$/.exec(v as string);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(key, `must be host:port (got ${JSON.stringify(v)})`);
  return v;
};

/** The schema mirrors Config; a nested object is a schema, a function checks a leaf. */
type Schema = { [k: string]: Check | Schema };

const schema: Schema = {
  node: { id: str({ nonEmpty: true }), dataDir: str({ nonEmpty: true }) },
  listen: {
    host: str({ nonEmpty: true }),
    port: int(0, 65535),
    tls: (v, key) => {
      if (v === null) return null;
      return validateAgainst(v, { certFile: str({ nonEmpty: true }), keyFile: str({ nonEmpty: true }), passphrase: str() }, key, { passphrase: '' });
    },
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
      keyspace: (v, key) => {
        str({ nonEmpty: true })(v, key);
        if (!/^[a-z][a-z0-9_]{0,47}$/.test(v as string)) throw new ConfigError(key, 'must match [a-z][a-z0-9_]{0,47}');
        return v;
      },
      consistency: str({ oneOf: ['one', 'localOne', 'quorum', 'localQuorum', 'eachQuorum', 'all'] }),
      migrateOnStart: (v, key) => {
        if (typeof v !== 'boolean') throw new ConfigError(key, 'must be true or false');
        return v;
      },
      guardSeqs: bool,
    },
    batch: { maxBatch: int(1, 100_000), maxDelayMs: int(0, 10_000), maxQueue: int(1, 10_000_000), concurrency: int(0, 64) },
    retentionMessages: int(0, Number.MAX_SAFE_INTEGER),
  },
  auth: {
    issuer: str(),
    audience: str(),
    clockToleranceSec: int(0, 3600),
    ticketTtlMs: int(1000, 3_600_000),
    keys: (v, key) => {
      if (!Array.isArray(v)) throw new ConfigError(key, 'must be a list of keys');
      return v.map((k, i) => checkAuthKey(k, `${key}[${i}]`));
    },
  },
  api: {
    keys: (v, key) => {
      strList(v, key);
      (v as string[]).forEach((k, i) => {
        if (k.length < 24) throw new ConfigError(`${key}[${i}]`, 'must be at least 24 characters');
      });
      return v;
    },
  },
  drain: { deadlineMs: int(100, 600_000), goawayJitterMs: int(0, 600_000) },
  log: { level: str({ oneOf: ['debug', 'info', 'warn', 'error'] }) },
  cluster: {
    enabled: bool,
    etcd: {
      endpoints: (v, key) => {
        strList(v, key);
        if ((v as string[]).length === 0) throw new ConfigError(key, 'must name at least one endpoint');
        return v;
      },
      prefix: (v, key) => {
        str({ nonEmpty: true })(v, key);
        if (!(v as string).startsWith('/') || !(v as string).endsWith('/')) throw new ConfigError(key, 'must start and end with /');
        return v;
      },
      leaseTtlSec: int(2, 600),
    },
    peer: { bind: hostPort, advertise: (v, key) => (v === '' ? v : hostPort(v, key)) },
    shards: { count: int(1, 65_536) },
    routes: { maxBatchOps: int(1, 128), maxDelayMs: int(0, 10_000), maxPending: int(1, 10_000_000) },
    links: { maxQueuedBytes: int(65_536, 1 << 30), maxBatchBytes: int(1024, 16 * 1024 * 1024), heartbeatMs: int(50, 60_000), deadAfterMs: int(100, 600_000) },
    fence: { mode: str({ oneOf: ['etcd', 'lease'] }), safetyMarginMs: int(0, 60_000) },
  },
};

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
  if (cfg.cluster.enabled && cfg.cluster.links.heartbeatMs >= cfg.cluster.links.deadAfterMs) {
    throw new ConfigError('cluster.links.heartbeatMs', 'must be smaller than cluster.links.deadAfterMs');
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
  return cfg;
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
