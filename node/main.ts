/**
 * A Switchboard node host, read as its supervision tree:
 *
 *   host (rest_for_one: each child depends on the ones before it)
 *   ├── (cluster)  etcd, lease, peer-server, membership, routes (node/cluster/cluster_node.ts)
 *   ├── store      the message store and its batch writer (acks wait for its commits)
 *   ├── chat       conversations, sequencing, receipts, sync (caches over the store)
 *   ├── (cluster)  ownership (conversation shards, fenced), links (one per peer)
 *   ├── tasks      piscina pool: EdDSA token verification off the socket threads
 *   └── shards     (one_for_one) N uWebSockets.js worker threads on one port
 *       ├── shard-0
 *       └── shard-N-1
 *
 * `npm start` runs one on the embedded default: SQLite under the data dir, local
 * routing, dev auth (mint tokens with `npm run token -- --user alice --device phone`).
 *
 *   node --import tsx node/main.ts [--config file.json] [--port N] [--data-dir DIR] [--shards N]
 *
 * SIGTERM (or POST /admin/drain) drains: stop accepting, goaway with a jittered
 * reconnect delay, flush the writer, stop children in reverse, exit within
 * drain.deadlineMs. SIGHUP reloads the TLS certificate (as does a change of its files)
 * without closing a socket. If a supervisor gives up (restart storm, hung shard) the host
 * writes the crash report and exits non-zero for its OS-level restarter.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Supervisor, exitHostOnGiveUp, formatTree } from '../supervisor/index.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { devAuthConfig } from './auth/dev.js';
import { handleHttp } from './http_api.js';
import { AdminService } from './admin/admin_service.js';
import { webHandler } from './web/serve.js';
import { Host, log } from './host/host.js';
import { configureLog } from '../supervisor/log.js';
import { redact } from './auth/redact.js';
import { drainHost } from './host/drain.js';
import { resolvePort } from './host/port.js';
import { mediaHostFor } from './media/media_host.js';
import { checkPushCredentials } from './push/providers/credentials_check.js';
import type { HttpRequest, HttpResponse } from '../shards/messages.js';

let cfg: Config;
try {
  cfg = loadConfig(process.argv.slice(2));
  checkPushCredentials(cfg.push);
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(`switchboard: bad configuration: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
configureLog({ level: cfg.log.level, bindings: { node: cfg.node.id }, scrub: redact });
mkdirSync(cfg.node.dataDir, { recursive: true });
// Dev mode (no auth.keys): the web chat may sign in any user with the dev secret.
const devMode = cfg.auth.keys.length === 0;
if (cfg.auth.keys.length === 0) {
  cfg.auth = { ...cfg.auth, keys: devAuthConfig(cfg.node.dataDir).keys };
  log('warn', 'no auth.keys configured: using the dev HS256 secret in the data dir (mint tokens with npm run token)');
}

const host = new Host(cfg, await resolvePort(cfg.listen.host, cfg.listen.port));
try {
  host.tls?.prepare();
} catch (e) {
  console.error(`switchboard: bad configuration: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
const shardCount = cfg.shards.count > 0 ? cfg.shards.count : availableParallelism();
// Media attachments: a service in the host (slots, references, URLs) and the media
// listener thread (upload and download bytes, GC) on its own port (node/media/MEDIA.md).
const media = cfg.media.enabled
  ? mediaHostFor(cfg, await resolvePort(cfg.listen.host, cfg.media.port), {
      isMember: (user, conversation) => host.services.get('chat').isMember(user, conversation),
      registry: host.metrics.registry,
    })
  : null;
host.media = media?.port() ?? null;
if (media) host.metrics.extraSources.push(() => media.metricsJson());

// One handler for the life of the process: it builds the page's bundle once, on first request.
const web = cfg.web.enabled ? webHandler({ devKey: devMode ? cfg.auth.keys[0] : null, mediaUrl: media?.publicUrl ?? null }) : undefined;
const admin = new AdminService({
  host,
  shardCount,
  tree: () => root.tree(),
  treeText: () => formatTree(root.tree()),
  drainSelf: () => void drain('admin'),
});
const http = (req: HttpRequest): Promise<HttpResponse> =>
  handleHttp(req, {
    run: (caller, op) => host.run(caller, op),
    verifier: host.verifier,
    tickets: host.tickets,
    apiKeys: cfg.api.keys,
    ready: () => host.ready(),
    metrics: () => host.metrics.render(),
    admin,
    web,
    push: host.push.api(),
  });

// The whole tree, in start order (rest_for_one: a child depends on the ones above it).
const cluster = host.cluster;
const root: Supervisor = new Supervisor({
  name: 'host',
  strategy: 'rest_for_one',
  intensity: 3,
  periodMs: 10_000,
  children: [
    ...(cluster ? [cluster.etcdChild(), cluster.leaseChild(), cluster.peerServerChild(), cluster.membershipChild(), cluster.routesChild()] : []),
    host.storeChild(),
    host.chatChild(),
    ...(cluster ? [cluster.ownershipChild(), cluster.linksChild()] : []),
    // Push notifications (node/push/): the outbox follows the shards this node owns.
    ...(host.push.enabled ? [host.push.child(() => host.services.get('writePath').store)] : []),
    host.tasksChild(cfg.tasks.threads > 0 ? cfg.tasks.threads : availableParallelism()),
    host.shardsChild(shardCount, http),
    // Last: a media restart never takes the socket shards down with it.
    ...(media ? [media.serviceChild(), media.listenerChild()] : []),
  ],
});
root.onReport((r) => host.metrics.onReport(r));

const drain = (reason: string): Promise<void> => drainHost(host, root, reason);
process.on('SIGTERM', () => void drain('SIGTERM'));
process.on('SIGINT', () => void drain('SIGINT'));
// SIGHUP re-reads listen.tls's files: new connections get the new certificate, open
// sockets stay; a bad pair is refused with a log line and the current one stays
// (node/host/tls_reload.ts). Without TLS, SIGHUP is ignored (not the default: exit).
process.on('SIGHUP', () => {
  if (!host.tls) log('info', 'SIGHUP ignored: no listen.tls to reload');
  else if (host.draining) log('info', 'SIGHUP ignored: draining, no new connections to serve');
  else void host.tls.reload('SIGHUP');
});
host.tls?.watch(cfg.listen.tls?.watchDebounceMs ?? 0);

void exitHostOnGiveUp(root);
await root.start();
const scheme = cfg.listen.tls ? 'wss' : 'ws';
console.log(
  `Switchboard node ${cfg.node.id} ready: ${scheme}://${cfg.listen.host}:${host.port}/v1/ws  ` +
    `(${shardCount} shard${shardCount === 1 ? '' : 's'}; ${cfg.cluster.enabled ? `cluster ${cfg.cluster.etcd.endpoints.join(',')} peer :${host.cluster?.services.peek('peerServer')?.port ?? '?'}; ` : ''}store: ${cfg.store.kind} ${cfg.store.kind === 'sqlite' ? cfg.store.sqlite.file : cfg.store.cassandra.keyspace}; ` +
    `HTTP API: ${cfg.listen.tls ? 'https' : 'http'}://${cfg.listen.host}:${host.port}/v1/` +
    `${media ? `; media: ${media.publicUrl}/media/v1/` : ''})`,
);
if (cfg.web.enabled) console.log(`Web chat: ${cfg.listen.tls ? 'https' : 'http'}://${cfg.listen.host === '0.0.0.0' ? '127.0.0.1' : cfg.listen.host}:${host.port}/web/`);
