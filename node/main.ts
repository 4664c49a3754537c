/**
 * A Switchboard node. `npm start` runs one on the embedded default: SQLite under the
 * data dir, local routing, dev auth (a generated HS256 secret; mint tokens with
 * `npm run token -- --user alice --device phone`).
 *
 *   node --import tsx node/main.ts [--config file.json] [--port N] [--data-dir DIR] [--shards N]
 */
import { mkdirSync } from 'node:fs';
import { BatchWriter } from './store/batch_writer.js';
import { SqliteStore } from './store/sqlite_store.js';
import type { WriteOp } from './store/types.js';
import { ChatService, type Outbox } from './core/chat_service.js';
import { ConnectionRegistry, type ConnRef } from './core/registry.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createVerifier } from './auth/verify.js';
import { TicketStore } from './auth/tickets.js';
import { devAuthConfig } from './auth/dev.js';
import type { AuthConfig } from './auth/types.js';
import { handleHttp } from './http_api.js';
import { ShardLink, startShardThread } from './host/shard_link.js';
import { faultHook } from './host/faults.js';
import type { ShardInit } from '../shards/messages.js';

function log(level: string, msg: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + '\n');
}

let cfg: Config;
try {
  cfg = loadConfig(process.argv.slice(2));
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(`switchboard: bad configuration: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
mkdirSync(cfg.node.dataDir, { recursive: true });

let authCfg: AuthConfig;
if (cfg.auth.keys.length === 0) {
  authCfg = devAuthConfig(cfg.node.dataDir);
  cfg.auth = { ...cfg.auth, keys: authCfg.keys };
  log('warn', 'no auth.keys configured: using the dev HS256 secret in the data dir (mint tokens with npm run token)');
} else {
  authCfg = {
    issuer: cfg.auth.issuer || undefined,
    audience: cfg.auth.audience || undefined,
    clockToleranceSec: cfg.auth.clockToleranceSec,
    ticketTtlMs: cfg.auth.ticketTtlMs,
    keys: cfg.auth.keys,
  };
}

const store = new SqliteStore(cfg.store.sqlite.file);
const fault = faultHook();
const writer = new BatchWriter<WriteOp>(async (ops) => {
  await store.commit(ops);
  fault?.(ops);
}, cfg.store.batch);
const registry = new ConnectionRegistry();
const links: ShardLink[] = [];

const outbox: Outbox = {
  deliver(to, message) {
    for (const [shard, conns] of byShard(to)) links[shard]?.post({ t: 'deliver', conns, message });
  },
  receipts(to, receipts) {
    for (const [shard, conns] of byShard(to)) links[shard]?.post({ t: 'receipts', conns, receipts });
  },
};

const service = new ChatService(store, writer, registry, outbox, {
  maxMessageBytes: cfg.limits.maxMessageBytes,
  defaultSyncPage: cfg.limits.defaultSyncPage,
  maxSyncPage: cfg.limits.maxSyncPage,
  maxHistoryPage: cfg.limits.maxHistoryPage,
  maxConversationMembers: cfg.limits.maxConversationMembers,
  retentionMessages: cfg.store.retentionMessages,
});
const verifier = createVerifier(authCfg);
const tickets = new TicketStore({ ttlMs: cfg.auth.ticketTtlMs });
let draining = false;

const http = (req: import('../shards/messages.js').HttpRequest) =>
  handleHttp(req, { service, verifier, tickets, apiKeys: cfg.api.keys, ready: () => !draining });

function byShard(to: ConnRef[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const r of to) {
    let l = m.get(r.shard);
    if (!l) m.set(r.shard, (l = []));
    l.push(r.conn);
  }
  return m;
}

async function startShard(shard: number, port: number): Promise<number> {
  const init: ShardInit = {
    shard,
    nodeId: cfg.node.id,
    host: cfg.listen.host,
    port,
    tls: cfg.listen.tls,
    limits: cfg.limits,
    auth: cfg.auth,
  };
  const worker = startShardThread(init);
  return new Promise((resolve, reject) => {
    const link = new ShardLink(shard, worker, {
      service,
      http,
      redeem: (t) => tickets.redeem(t),
      log,
      onListening: resolve,
      onDrained: () => drainedShards.add(shard),
    });
    links[shard] = link;
    worker.once('error', reject);
    worker.on('exit', (code) => {
      registry.removeShard(shard);
      if (!draining) {
        log('error', 'socket shard exited', { shard, code });
        process.exitCode = 1;
        void shutdown('shard exit');
      }
    });
  });
}

const drainedShards = new Set<number>();
let shuttingDown: Promise<void> | null = null;

function shutdown(reason: string): Promise<void> {
  shuttingDown ??= (async () => {
    log('info', 'draining', { reason });
    draining = true;
    const deadline = setTimeout(() => {
      log('error', 'drain deadline passed; exiting');
      process.exit(1);
    }, cfg.drain.deadlineMs);
    deadline.unref();
    for (const l of links) l?.post({ t: 'drain', reconnectAfterMs: 0, jitterMs: cfg.drain.goawayJitterMs });
    await writer.flush();
    for (const l of links) l?.post({ type: '$sup:stop' } as never);
    await writer.close();
    await store.close();
    log('info', 'stopped');
  })();
  return shuttingDown;
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

const port = await startShard(0, cfg.listen.port);
for (let i = 1; i < cfg.shards.count; i++) await startShard(i, port);
const scheme = cfg.listen.tls ? 'wss' : 'ws';
console.log(`Switchboard node ${cfg.node.id} ready: ${scheme}://${cfg.listen.host}:${port}/v1/ws  (store: sqlite ${cfg.store.sqlite.file}; HTTP API: ${cfg.listen.tls ? 'https' : 'http'}://${cfg.listen.host}:${port}/v1/)`);
