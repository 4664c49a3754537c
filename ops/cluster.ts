/**
 * `npm run cluster -- --nodes 3`: a local cell on loopback: one etcd, one Cassandra
 * (the shared message store a cluster needs; or --cassandra host:port to use a
 * running one), one SeaweedFS (the shared S3 blob store for media, ops/seaweedfs), N nodes (node/main.ts, each with its own port, id, data dir and peer
 * port), haproxy in front. Prints the haproxy URL; Ctrl-C stops haproxy, the nodes
 * (SIGTERM: they drain and hand their shards over), Cassandra and etcd.
 *
 *   node --import tsx ops/cluster.ts [--nodes N] [--dir D] [--base-port P] [--shards S]
 *                                    [--cassandra host:port] [--keyspace K]
 *
 * Each node gets <dir>/node-i/switchboard.json with its `cluster` section
 * (node/cluster_config.ts), store.kind = cassandra and media.store = s3.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startEtcd } from './etcd/etcd.js';
import { startSeaweed } from './seaweedfs/seaweedfs.js';
import { startHaproxy } from './haproxy/haproxy.js';
import { defaultClusterConfig } from '../node/cluster_config.js';
import { startCassandra, type CassandraHandle } from './cassandra/index.js';
import { loadOrCreateDevSecret, DEV_KID } from '../node/auth/dev.js';

const ROOT = path.resolve(new URL('..', import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    dir: { type: 'string', default: path.join(ROOT, '.cache', 'cluster') },
    'base-port': { type: 'string', default: '0' },
    shards: { type: 'string', default: '1' },
    cassandra: { type: 'string', default: '' },
    keyspace: { type: 'string', default: 'switchboard_cluster' },
  },
});
const n = Number(values.nodes);
if (!Number.isInteger(n) || n < 1 || n > 32) throw new Error('--nodes must be 1..32');
const dir = path.resolve(values.dir!);
mkdirSync(dir, { recursive: true });
const log = (s: string): void => console.log(`cluster: ${s}`);

const etcd = await startEtcd({ dataDir: path.join(dir, 'etcd') });
log(`etcd ${etcd.endpoint}`);
let cassandra: CassandraHandle | null = null;
let contact = values.cassandra!;
if (!contact) {
  log('starting Cassandra (first start takes a minute)');
  cassandra = await startCassandra({ dataDir: path.join(dir, 'cassandra'), port: 0 });
  contact = `${cassandra.host}:${cassandra.port}`;
}
log(`cassandra ${contact}`);
const seaweed = await startSeaweed({ dataDir: path.join(dir, 'seaweedfs') });
log(`seaweedfs ${seaweed.endpoint} bucket ${seaweed.bucket} (S3 blob store)`);

// One dev HS256 secret for the whole cell (a token must verify on whichever node
// haproxy picks): mint tokens with `npm run token -- --config <dir>/node-1/switchboard.json --user U --device D`.
const secret = loadOrCreateDevSecret(dir);
const apiKey = `cluster-dev-${secret.slice(0, 24)}`;

const children: ChildProcess[] = [];
const backends: { name: string; host: string; port: number }[] = [];
for (let i = 1; i <= n; i++) {
  const id = `node-${i}`;
  const nodeDir = path.join(dir, id);
  mkdirSync(nodeDir, { recursive: true });
  const base = Number(values['base-port']);
  const port = base > 0 ? base + i - 1 : await freePort();
  const peerPort = await freePort('127.0.0.1', [port]);
  const cluster = {
    ...defaultClusterConfig(),
    enabled: true,
    etcd: { ...defaultClusterConfig().etcd, endpoints: [etcd.endpoint] },
    peer: { bind: `127.0.0.1:${peerPort}`, advertise: `127.0.0.1:${peerPort}` },
  };
  const config: Record<string, unknown> = {
    shards: { count: Number(values.shards) },
    store: { kind: 'cassandra', cassandra: { contactPoints: [contact], keyspace: values.keyspace, consistency: 'localOne', migrateOnStart: true } },
    media: {
      store: 's3',
      s3: { endpoint: seaweed.endpoint, region: seaweed.region, bucket: seaweed.bucket, accessKeyId: seaweed.accessKeyId, secretAccessKey: seaweed.secretAccessKey, forcePathStyle: true },
    },
    cluster,
    auth: { keys: [{ kid: DEV_KID, alg: 'HS256', secret }] },
    api: { keys: [apiKey] },
  };
  const configFile = path.join(nodeDir, 'switchboard.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'node/main.ts'), '--config', configFile, '--port', String(port), '--node-id', id, '--data-dir', nodeDir], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, sig) => log(`${id} exited (${code ?? sig})`));
  children.push(child);
  backends.push({ name: id, host: '127.0.0.1', port });
}

const ready = async (port: number): Promise<boolean> =>
  fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(500) }).then((r) => r.ok, () => false);
const deadline = Date.now() + 60_000;
for (const b of backends) {
  while (!(await ready(b.port))) {
    if (Date.now() > deadline) throw new Error(`${b.name} not ready on ${b.port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const hp = await startHaproxy({ dir: path.join(dir, 'haproxy'), backends });
log(`${n} node(s) ready: ${backends.map((b) => `${b.name}=:${b.port}`).join(' ')}`);
log(`haproxy ${hp.url}  (WebSocket: ${hp.url.replace('http', 'ws')}/v1/ws)`);
log(`tokens: npm run token -- --config ${path.join(dir, "node-1", "switchboard.json")} --user alice --device phone;  API key: ${apiKey}  (GET /admin/cluster on any node)`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log('stopping');
  await hp.stop();
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))));
  await cassandra?.stop();
  await seaweed.stop();
  await etcd.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
