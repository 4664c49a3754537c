/**
 * A local Switchboard cell for multi-process tests: one etcd, a fresh Cassandra
 * keyspace on the shared test Cassandra, one SeaweedFS as the cell's shared S3 blob
 * store (media.store s3: a cell refuses the filesystem store), N real node processes (node/main.ts through
 * TestNode, each with its own id, port, data dir and peer port, `cluster.enabled`),
 * and haproxy in front (health checks on /readyz). Everything on loopback, temp dirs.
 *
 *   const cass = await getTestCassandra();
 *   const cell = await ClusterCell.start({ nodes: 3, cassandra: cass.contactPoint });
 *   const a = await cell.connect(0, 'alice', 'phone');      // straight to node-1
 *   const b = await cell.connect('haproxy', 'bob', 'phone'); // through haproxy
 *   await cell.ownerOf(conversation);                        // from etcd: 'node-2'
 *   await cell.kill(1); await cell.restart(1);
 *   await cell.pause(0); await cell.resume(0);               // SIGSTOP / SIGCONT
 *   await cell.restartEtcd({ downMs: 2000 });
 *   await cell.stop();                                       // always; also kills paused nodes
 *
 * Node indexes are 0-based; node ids are `node-<i+1>`. Every node shares one token
 * secret and one API key, so a token works on any node and through haproxy. Each
 * node's stdout and stderr go to <dir>/node-<i+1>.log (kept with SB_CLUSTER_KEEP=1,
 * printed by `diagnostics()` for a failed assertion).
 *
 * `ResilientClient` is a client that does what PROTOCOL.md §6 asks of a real one:
 * reconnect with backoff, resync from its cursors, resend with the same client_msg_id
 * on a retryable error, a timeout or a closed socket, and hold messages by (conv, seq).
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { startEtcd, freePort, type EtcdHandle } from '../../ops/etcd/etcd.js';
import { startSeaweed, type SeaweedHandle } from '../../ops/seaweedfs/seaweedfs.js';
import { startHaproxy, type HaproxyHandle } from '../../ops/haproxy/haproxy.js';
import { makeEtcdClient } from '../etcd/etcd_client.js';
import { memberKey, membersPrefix, ownKey, ownPrefix, parseOwnKey, routesPrefix } from '../etcd/keys.js';
import { assignShards, shardOf } from '../cluster/shard_map.js';
import { TestClient, type ConnectOptions } from '../../protocol/client.js';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import { ERROR_CODES } from '../../protocol/codes.js';
import { merge } from '../config.js';
import { signToken } from '../auth/sign.js';
import { show, sleep, TestNode } from './harness.js';

export interface CellOptions {
  nodes: number;
  /** host:port of the Cassandra to use (getTestCassandra().contactPoint). */
  cassandra: string;
  keyspace?: string;
  /** cluster.etcd.leaseTtlSec (default 3). */
  leaseTtlSec?: number;
  /** cluster.shards.count (default 16). */
  shardCount?: number;
  /** Deep-merged over every node's config. */
  config?: Record<string, unknown>;
  /** haproxy health-check interval (default 500 ms). */
  checkMs?: number;
  /**
   * Wait until every node is a member and every shard is owned as rendezvous hashing
   * says (default true). false: only wait for each node's "ready" line (a node that
   * does not join the cluster yet).
   */
  awaitCluster?: boolean;
  /** How long to wait for the cell to form (default 60 s). */
  formTimeoutMs?: number;
  /** Group id to run node i's process with (NodeOptions.gid; for iptables owner matches). */
  nodeGids?: number[];
}

export type Target = number | 'haproxy';

export interface ShardTable {
  /** shard -> owner node id (missing: unowned). */
  owners: Map<number, { node: string; token: number }>;
  members: string[];
}

export class ClusterCell {
  readonly nodes: Array<TestNode | null>;
  readonly ports: number[] = [];
  readonly peerPorts: number[] = [];
  readonly paused = new Set<number>();
  readonly prefix: string;
  readonly keyspace: string;
  readonly secret = randomBytes(32).toString('base64url');
  readonly apiKey = randomBytes(24).toString('base64url');
  readonly shardCount: number;
  readonly leaseTtlSec: number;
  etcd!: EtcdHandle;
  /** The cell's S3 blob store (media attachments). */
  seaweed!: SeaweedHandle;
  haproxy!: HaproxyHandle;
  private kv!: Etcd3;
  private stopped = false;

  private constructor(
    readonly opts: CellOptions,
    readonly dir: string,
  ) {
    this.nodes = Array.from({ length: opts.nodes }, () => null);
    this.prefix = `/sbcell/${randomBytes(4).toString('hex')}/`;
    this.keyspace = opts.keyspace ?? `sb_cell_${randomBytes(4).toString('hex')}`;
    this.shardCount = opts.shardCount ?? 16;
    this.leaseTtlSec = opts.leaseTtlSec ?? 3;
  }

  static async start(opts: CellOptions): Promise<ClusterCell> {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-cell-'));
    const cell = new ClusterCell(opts, dir);
    try {
      await cell.boot();
      return cell;
    } catch (e) {
      const diag = cell.diagnostics();
      await cell.stop();
      (e as Error).message += `\n${diag}`;
      throw e;
    }
  }

  private async boot(): Promise<void> {
    // Both at once; whichever started is kept so stop() ends it if the other failed.
    const [etcd, seaweed] = await Promise.allSettled([startEtcd({ dataDir: path.join(this.dir, 'etcd') }), startSeaweed({ dataDir: path.join(this.dir, 'seaweedfs') })]);
    if (etcd.status === 'fulfilled') this.etcd = etcd.value;
    if (seaweed.status === 'fulfilled') this.seaweed = seaweed.value;
    if (etcd.status === 'rejected') throw etcd.reason;
    if (seaweed.status === 'rejected') throw seaweed.reason;
    this.kv = makeEtcdClient(this.etcd.endpoint);
    for (let i = 0; i < this.opts.nodes; i++) {
      const port = await freePort('127.0.0.1', [...this.ports, ...this.peerPorts, this.etcd.clientPort, this.etcd.peerPort]);
      this.ports.push(port);
      this.peerPorts.push(await freePort('127.0.0.1', [...this.ports, ...this.peerPorts, this.etcd.clientPort, this.etcd.peerPort]));
    }
    // The first node applies the schema to the fresh keyspace; the others start once it
    // is there (migrations are idempotent, but concurrent CREATEs race on schema agreement).
    await this.startNode(0);
    await Promise.all(Array.from({ length: this.opts.nodes - 1 }, (_, k) => this.startNode(k + 1)));
    this.haproxy = await startHaproxy({
      dir: path.join(this.dir, 'haproxy'),
      backends: this.ports.map((port, i) => ({ name: this.nodeId(i), host: '127.0.0.1', port })),
      checkMs: this.opts.checkMs ?? 500,
    });
    if (this.opts.awaitCluster !== false) await this.waitSettled(this.opts.formTimeoutMs ?? 60_000);
    await this.waitHaproxyUp(this.opts.nodes, 15_000);
  }

  nodeId(i: number): string {
    return `node-${i + 1}`;
  }

  indexOf(nodeId: string): number {
    const i = Number(/^node-(\d+)$/.exec(nodeId)?.[1]) - 1;
    if (!(i >= 0 && i < this.opts.nodes)) throw new Error(`no node ${nodeId} in this cell`);
    return i;
  }

  logFile(i: number): string {
    return path.join(this.dir, `${this.nodeId(i)}.log`);
  }

  nodeConfig(i: number): Record<string, unknown> {
    const peer = `127.0.0.1:${this.peerPorts[i]}`;
    const base = {
      node: { id: this.nodeId(i) },
      listen: { host: '127.0.0.1', port: this.ports[i] },
      shards: { count: 1 },
      tasks: { threads: 1 },
      log: { level: 'info' },
      drain: { deadlineMs: 3_000, goawayJitterMs: 200 },
      limits: { sendRatePerSec: 10_000, sendBurst: 10_000, frameRatePerSec: 20_000, frameBurst: 20_000, maxInflightSends: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 },
      store: {
        kind: 'cassandra',
        cassandra: { contactPoints: [this.opts.cassandra], localDataCenter: 'datacenter1', keyspace: this.keyspace, consistency: 'one', migrateOnStart: true },
      },
      media: {
        store: 's3',
        s3: { endpoint: this.seaweed.endpoint, region: this.seaweed.region, bucket: this.seaweed.bucket, accessKeyId: this.seaweed.accessKeyId, secretAccessKey: this.seaweed.secretAccessKey, forcePathStyle: true },
      },
      cluster: {
        enabled: true,
        etcd: { endpoints: [this.etcd.endpoint], prefix: this.prefix, leaseTtlSec: this.leaseTtlSec },
        peer: { bind: peer, advertise: peer },
        shards: { count: this.shardCount },
      },
    };
    return merge(base, this.opts.config ?? {}) as Record<string, unknown>;
  }

  private async startNode(i: number): Promise<TestNode> {
    const dataDir = path.join(this.dir, this.nodeId(i));
    mkdirSync(dataDir, { recursive: true });
    let n: TestNode | null = null;
    for (let attempt = 1; n === null; attempt++) {
      appendFileSync(this.logFile(i), `\n===== ${new Date().toISOString()} start ${this.nodeId(i)} on :${this.ports[i]} (peer :${this.peerPorts[i]}) =====\n`);
      try {
        n = await TestNode.start({ config: this.nodeConfig(i), dataDir, secret: this.secret, apiKey: this.apiKey, gid: this.opts.nodeGids?.[i] });
      } catch (e) {
        const msg = (e as Error).message;
        appendFileSync(this.logFile(i), `start failed: ${msg}\n`);
        // Ports were picked free before the cell started; meanwhile another process (an
        // outgoing connection's ephemeral port, a sibling's listener) may have taken one.
        // Before haproxy knows the ports, a node may move to fresh ones.
        if (/EADDRINUSE/.test(msg) && !this.haproxy && attempt < 4) {
          const taken = [...this.ports, ...this.peerPorts, this.etcd.clientPort, this.etcd.peerPort];
          this.ports[i] = await freePort('127.0.0.1', taken);
          this.peerPorts[i] = await freePort('127.0.0.1', [...taken, this.ports[i]]);
          continue;
        }
        throw new Error(`${this.nodeId(i)} did not start: ${msg}`);
      }
    }
    // Everything so far, then everything after, into the node's log file.
    appendFileSync(this.logFile(i), n.stdout + n.stderr);
    const sink = (d: Buffer): void => {
      try {
        appendFileSync(this.logFile(i), d);
      } catch {
        // the cell dir is gone (stopped)
      }
    };
    n.proc.stdout!.on('data', sink);
    n.proc.stderr!.on('data', sink);
    void n.exited.then(({ code, signal }) => sink(Buffer.from(`===== ${new Date().toISOString()} ${this.nodeId(i)} exited code=${code} signal=${signal} =====\n`)));
    this.nodes[i] = n;
    return n;
  }

  node(i: number): TestNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`${this.nodeId(i)} is not running`);
    return n;
  }

  isUp(i: number): boolean {
    const n = this.nodes[i];
    return !!n && n.proc.exitCode === null && n.proc.signalCode === null;
  }

  /** ws:// URL of node i, or of haproxy. */
  url(t: Target): string {
    return t === 'haproxy' ? `${this.haproxy.url.replace(/^http/, 'ws')}/v1/ws` : `ws://127.0.0.1:${this.ports[t]}/v1/ws`;
  }

  httpUrl(t: Target): string {
    return t === 'haproxy' ? this.haproxy.url : `http://127.0.0.1:${this.ports[t]}`;
  }

  token(user: string, device: string): Promise<string> {
    return this.node(0).token(user, device);
  }

  /** Connect and wait for the welcome (a TestClient: no reconnects). */
  async connect(t: Target, user: string, device: string, o: Partial<ConnectOptions> = {}): Promise<TestClient> {
    const token = await signToken({ user, device, ttlSec: 3600 }, { kid: 'test', alg: 'HS256', secret: this.secret });
    const c = await TestClient.connect({ url: this.url(t), token, ...o });
    await c.waitFor((f) => f.kind.case === 'welcome');
    return c;
  }

  /** Connect and finish the first sync (live pushes start after it). */
  async online(t: Target, user: string, device = 'phone'): Promise<TestClient> {
    const c = await this.connect(t, user, device);
    const f = await c.call({ kind: { case: 'sync', value: {} } });
    if (f.kind.case !== 'syncPage') throw new Error(`first sync of ${user}/${device} answered ${show(f.kind.value)}`);
    return c;
  }

  /** A client that reconnects and retries on its own (see ResilientClient). */
  client(targets: Target | Target[], user: string, device: string, o: ResilientOptions = {}): ResilientClient {
    return this.track(new ResilientClient(this, Array.isArray(targets) ? targets : [targets], user, device, o));
  }

  private readonly open = new Set<{ close(): void }>();

  /** Close `c` at the end of the current `explain` (after diagnostics were taken) or at stop(). */
  track<C extends { close(): void }>(c: C): C {
    this.open.add(c);
    return c;
  }

  closeClients(): void {
    for (const c of this.open) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    this.open.clear();
  }

  async api(t: Target, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(this.httpUrl(t) + p, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.apiKey}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(3_000),
    });
    const text = await r.text();
    const json = (r.headers.get('content-type') ?? '').includes('json');
    return { status: r.status, body: json && text ? JSON.parse(text) : text };
  }

  /** GET /admin/cluster of node i, or null when the node has no such endpoint (or does not answer). */
  async adminCluster(i: number): Promise<unknown> {
    try {
      const r = await this.api(i, 'GET', '/admin/cluster');
      return r.status === 200 ? r.body : null;
    } catch {
      return null;
    }
  }

  // ---- process control -------------------------------------------------------------

  /** SIGKILL node i and wait for it to exit. */
  async kill(i: number): Promise<void> {
    const n = this.nodes[i];
    if (!n) return;
    if (this.paused.delete(i)) n.proc.kill('SIGCONT');
    await n.kill('SIGKILL');
  }

  /** SIGSTOP node i: the process freezes (sockets stay open, its lease stops being renewed). */
  pause(i: number): void {
    this.node(i).proc.kill('SIGSTOP');
    this.paused.add(i);
  }

  /** SIGCONT node i. */
  resume(i: number): void {
    this.node(i).proc.kill('SIGCONT');
    this.paused.delete(i);
  }

  /** Start node i again (same id, port, peer port and data dir); kills it first if it runs. */
  async restart(i: number): Promise<TestNode> {
    if (this.isUp(i)) await this.kill(i);
    return this.startNode(i);
  }

  /** Stop etcd (SIGKILL: a crash, or SIGTERM), wait `downMs`, start it again on the same port and data. */
  async restartEtcd(o: { downMs?: number; signal?: 'SIGKILL' | 'SIGTERM' } = {}): Promise<{ downAt: number; upAt: number }> {
    const downAt = Date.now();
    await this.etcdDown(o.signal ?? 'SIGKILL');
    await sleep(o.downMs ?? 0);
    await this.etcdUp();
    return { downAt, upAt: Date.now() };
  }

  async etcdDown(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    // The data dir was given to startEtcd, so stop() (SIGTERM, wait) leaves it in place.
    if (signal === 'SIGKILL') await this.etcd.kill();
    else await this.etcd.stop();
  }

  /** Start etcd again (same data dir and ports) and wait until it is healthy. */
  etcdUp(): Promise<void> {
    return this.etcd.restart();
  }

  // ---- etcd: ground truth ------------------------------------------------------------

  /** Members and shard owners as etcd has them now. */
  async shardTable(): Promise<ShardTable> {
    const own = await this.kv.getAll().prefix(ownPrefix(this.prefix)).exec();
    const owners = new Map<number, { node: string; token: number }>();
    for (const kv of own.kvs) {
      const s = parseOwnKey(this.prefix, kv.key.toString());
      if (s !== null) owners.set(s, { node: kv.value.toString(), token: Number(kv.mod_revision) });
    }
    const mem = await this.kv.getAll().prefix(membersPrefix(this.prefix)).keys();
    const members = mem.map((k) => k.slice(membersPrefix(this.prefix).length)).sort();
    return { owners, members };
  }

  shardOf(conversation: string): number {
    return shardOf(conversation, this.shardCount);
  }

  /** The node id recorded in etcd as owner of the conversation's shard (null: unowned). */
  async ownerOf(conversation: string): Promise<string | null> {
    const r = await this.kv.get(ownKey(this.prefix, this.shardOf(conversation))).exec();
    return r.kvs[0]?.value.toString() ?? null;
  }

  /** Owner and fencing token (the key's mod_revision) of the conversation's shard. */
  async ownerRecord(conversation: string): Promise<{ node: string; token: number } | null> {
    const r = await this.kv.get(ownKey(this.prefix, this.shardOf(conversation))).exec();
    const kv = r.kvs[0];
    return kv ? { node: kv.value.toString(), token: Number(kv.mod_revision) } : null;
  }

  async isMember(nodeId: string): Promise<boolean> {
    return (await this.kv.get(memberKey(this.prefix, nodeId)).string()) !== null;
  }

  /** Route keys of a user: the node ids its devices are registered on. */
  async routesOf(user: string): Promise<string[]> {
    const keys = await this.kv.getAll().prefix(`${routesPrefix(this.prefix)}${user}/`).keys();
    return keys.map((k) => k.split('/').pop()!).sort();
  }

  /**
   * Wait until the live members are exactly `expect` (default: every running, not
   * paused node) and every shard is owned by the node rendezvous hashing assigns it to.
   */
  async waitSettled(timeoutMs = 30_000, expect?: string[]): Promise<ShardTable> {
    const want = (expect ?? this.nodes.flatMap((n, i) => (n && this.isUp(i) && !this.paused.has(i) ? [this.nodeId(i)] : []))).slice().sort();
    const desired = assignShards(this.shardCount, want);
    const deadline = Date.now() + timeoutMs;
    let last: ShardTable | null = null;
    let lastErr = '';
    while (Date.now() < deadline) {
      try {
        last = await this.shardTable();
        const ok = show(last.members) === show(want) && desired.every((node, s) => last!.owners.get(s)?.node === node);
        if (ok) return last;
      } catch (e) {
        lastErr = (e as Error).message;
      }
      await sleep(200);
    }
    throw new Error(
      `the cell did not settle in ${timeoutMs} ms: expected members ${show(want)} owning ${show(summarize(desired))}; ` +
        `etcd has members ${show(last?.members ?? [])} and owners ${show(summarize(last ? tableArray(last, this.shardCount) : []))}${lastErr ? ` (last etcd error: ${lastErr})` : ''}`,
    );
  }

  /** Wait until the owner of the conversation's shard is not `notNode` (e.g. after pausing it). */
  async waitOwnerChange(conversation: string, notNode: string, timeoutMs: number): Promise<{ node: string; token: number; afterMs: number }> {
    const t0 = Date.now();
    let last: { node: string; token: number } | null = null;
    while (Date.now() - t0 < timeoutMs) {
      try {
        last = await this.ownerRecord(conversation);
        if (last && last.node !== notNode) return { ...last, afterMs: Date.now() - t0 };
      } catch {
        // etcd busy: poll again
      }
      await sleep(100);
    }
    throw new Error(`the shard of ${conversation} (shard ${this.shardOf(conversation)}) still belongs to ${show(last)} after ${timeoutMs} ms (expected it to move away from ${notNode})`);
  }

  /** Wait until haproxy sees `n` healthy backends (its health check on /readyz). */
  async waitHaproxyUp(n: number, timeoutMs: number): Promise<void> {
    // haproxy has no stats socket here: wait until n distinct nodes answer through it.
    const deadline = Date.now() + timeoutMs;
    const seen = new Set<string>();
    const clients: TestClient[] = [];
    try {
      while (seen.size < n && Date.now() < deadline) {
        try {
          const c = await this.connect('haproxy', `hp-probe-${randomBytes(3).toString('hex')}`, 'probe', { timeoutMs: 2_000 });
          clients.push(c); // held open: leastconn then sends the next one elsewhere
          const w = c.frames.find((f) => f.kind.case === 'welcome');
          if (w?.kind.case === 'welcome') seen.add(w.kind.value.node);
        } catch {
          await sleep(200);
        }
        if (clients.length > 4 * n) {
          for (const c of clients.splice(0)) c.close();
          await sleep(200);
        }
      }
    } finally {
      for (const c of clients) c.close();
    }
    if (seen.size < n) throw new Error(`haproxy routes to only ${show([...seen])} after ${timeoutMs} ms (expected ${n} nodes)`);
  }

  /** Last lines of every node's log, the shard table and /admin/cluster: for failed assertions. */
  diagnostics(lines = 40): string {
    const out: string[] = [`--- cell ${this.dir} (etcd prefix ${this.prefix}, keyspace ${this.keyspace}) ---`];
    for (let i = 0; i < this.opts.nodes; i++) {
      let text = '';
      try {
        text = readFileSync(this.logFile(i), 'utf8');
      } catch {
        text = '(no log)';
      }
      out.push(`--- ${this.nodeId(i)} (${this.isUp(i) ? (this.paused.has(i) ? 'paused' : 'up') : 'down'}) last ${lines} lines ---`, text.split('\n').slice(-lines).join('\n'));
    }
    return out.join('\n');
  }

  /** diagnostics() plus etcd's view (async: reads etcd, with a short timeout). */
  async fullDiagnostics(lines = 40): Promise<string> {
    let table = '';
    try {
      const t = await Promise.race([this.shardTable(), sleep(2_000).then(() => null)]);
      table = t ? `etcd: members ${show(t.members)} owners ${show(summarize(tableArray(t, this.shardCount)))}` : 'etcd: no answer in 2 s';
    } catch (e) {
      table = `etcd: ${(e as Error).message}`;
    }
    const admin: string[] = [];
    for (let i = 0; i < this.opts.nodes; i++) {
      if (this.isUp(i) && !this.paused.has(i)) {
        const a = await this.adminCluster(i);
        if (a !== null) admin.push(`${this.nodeId(i)} /admin/cluster: ${show(a)}`);
      }
    }
    return [table, ...admin, this.diagnostics(lines)].join('\n');
  }

  /**
   * Run `fn`; if it throws, add the cell's diagnostics to the error, taken while its
   * clients are still connected. Then close every client `fn` made (cell.client / track).
   */
  async explain<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      err.message += `\n${await this.fullDiagnostics()}`;
      throw err;
    } finally {
      this.closeClients();
    }
  }

  /** Stop everything: resume paused nodes, SIGTERM the nodes (SIGKILL after a while), haproxy, etcd. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.closeClients();
    for (const i of this.paused) this.nodes[i]?.proc.kill('SIGCONT');
    this.paused.clear();
    await Promise.all(
      this.nodes.map(async (n) => {
        if (!n) return;
        const t = setTimeout(() => n.proc.kill('SIGKILL'), 6_000);
        try {
          await n.stop();
        } finally {
          clearTimeout(t);
        }
      }),
    );
    await this.haproxy?.stop().catch(() => {});
    try {
      this.kv?.close();
    } catch {
      // closed already
    }
    await this.etcd?.stop().catch(() => {});
    await this.seaweed?.kill().catch(() => {});
    if (process.env.SB_CLUSTER_KEEP) {
      writeFileSync(path.join(this.dir, 'KEPT'), 'SB_CLUSTER_KEEP was set\n');
      console.error(`cluster cell kept in ${this.dir}`);
    } else rmSync(this.dir, { recursive: true, force: true });
  }
}

function tableArray(t: ShardTable, count: number): (string | null)[] {
  return Array.from({ length: count }, (_, s) => t.owners.get(s)?.node ?? null);
}

/** node -> shards, for short messages. */
function summarize(owners: (string | null)[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  owners.forEach((n, s) => (out[n ?? '(none)'] ??= []).push(s));
  return out;
}

// ---- a client that behaves like a real one -------------------------------------------

export interface HeldMessage {
  conversation: string;
  seq: number;
  messageId: string;
  clientMsgId: string;
  sender: string;
  body: string;
  meta: Record<string, string>;
}

export interface ResilientOptions {
  /** Per-attempt wait for a reply (default 4 s); then reconnect and resend. */
  attemptTimeoutMs?: number;
  /** Reconnect backoff bounds (default 100 ms .. 1.5 s, jittered). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Send `ack` for what it holds after each push / sync (delivered watermark). Default false. */
  autoAck?: boolean;
  encoding?: 'json' | 'proto';
}

export interface SendOutcome {
  seq: number;
  messageId: string;
  duplicate: boolean;
  attempts: number;
  /** Retryable error codes and client-side causes ('timeout', 'closed') seen before the ack. */
  retries: string[];
  /** Node whose connection answered. */
  node: string;
  ackedAt: number;
}

export class SendFailed extends Error {
  constructor(
    message: string,
    readonly retries: string[],
  ) {
    super(message);
  }
}

/**
 * PROTOCOL.md §6 as a test client. `targets` are tried in turn on each (re)connect
 * (e.g. ['haproxy'] or [1, 2]). Holds every message seen (pushes and sync pages) by
 * (conversation, seq); a second, different message at a held seq is recorded as a
 * conflict. Cursors are the highest contiguous seq held.
 */
export class ResilientClient {
  current: TestClient | null = null;
  node = '';
  readonly nodesSeen: string[] = [];
  connects = 0;
  readonly held = new Map<string, Map<number, HeldMessage>>();
  readonly conflicts: string[] = [];
  /** Receipts pushed to this client, in arrival order. */
  readonly receipts: Array<{ conversation: string; user: string; kind: number; seq: number }> = [];
  private connecting: Promise<TestClient> | null = null;
  private closed = false;
  private targetIdx = 0;

  constructor(
    readonly cell: ClusterCell,
    readonly targets: Target[],
    readonly user: string,
    readonly device: string,
    readonly o: ResilientOptions = {},
  ) {}

  /** Connected and synced (connects if needed, retrying until `deadlineMs`). */
  async ready(deadlineMs = 30_000): Promise<TestClient> {
    if (this.current && this.current.closeCode === null) return this.current;
    this.connecting ??= this.reconnect(Date.now() + deadlineMs).finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async reconnect(deadline: number): Promise<TestClient> {
    let backoff = this.o.minBackoffMs ?? 100;
    let lastErr = '';
    while (!this.closed && Date.now() < deadline) {
      const t = this.targets[this.targetIdx++ % this.targets.length];
      let c: TestClient | null = null;
      try {
        c = await this.cell.connect(t, this.user, this.device, { timeoutMs: 3_000, encoding: this.o.encoding });
        c.onFrame = (f) => this.onFrame(f, c!);
        for (const f of c.frames) this.onFrame(f, c);
        const w = c.frames.find((f) => f.kind.case === 'welcome');
        this.node = w?.kind.case === 'welcome' ? w.kind.value.node : '?';
        this.nodesSeen.push(this.node);
        this.connects++;
        this.current = c;
        await this.syncOn(c);
        return c;
      } catch (e) {
        lastErr = `${show(t)}: ${(e as Error).message}`;
        c?.terminate();
        if (this.current === c) this.current = null;
        await sleep(backoff / 2 + Math.random() * backoff);
        backoff = Math.min(this.o.maxBackoffMs ?? 1_500, backoff * 2);
      }
    }
    throw new Error(`${this.user}/${this.device} could not connect and sync before the deadline (last: ${lastErr || (this.closed ? 'closed' : 'none')})`);
  }

  private onFrame(f: ServerFrame, c: TestClient): void {
    if (f.kind.case === 'message') this.hold(f.kind.value);
    else if (f.kind.case === 'syncPage') for (const m of f.kind.value.messages) this.hold(m);
    else if (f.kind.case === 'receipt') {
      const r = f.kind.value;
      this.receipts.push({ conversation: r.conversation, user: r.user, kind: r.kind, seq: Number(r.seq) });
    }
    if (this.o.autoAck && f.kind.case === 'message' && c.closeCode === null) {
      const conv = f.kind.value.conversation;
      try {
        c.send({ kind: { case: 'ack', value: { conversation: conv, seq: BigInt(this.cursor(conv)) } } });
      } catch {
        // socket closing
      }
    }
  }

  private hold(m: { conversation: string; seq: bigint; messageId: string; clientMsgId: string; sender: string; body: string; meta: Record<string, string> }): void {
    const seq = Number(m.seq);
    let conv = this.held.get(m.conversation);
    if (!conv) this.held.set(m.conversation, (conv = new Map()));
    const had = conv.get(seq);
    if (had) {
      if (had.messageId !== m.messageId || had.clientMsgId !== m.clientMsgId)
        this.conflicts.push(`${m.conversation}@${seq}: held ${had.clientMsgId}/${had.messageId}, then got ${m.clientMsgId}/${m.messageId}`);
      return;
    }
    conv.set(seq, { conversation: m.conversation, seq, messageId: m.messageId, clientMsgId: m.clientMsgId, sender: m.sender, body: m.body, meta: { ...m.meta } });
  }

  /** Highest seq held contiguously from 1. */
  cursor(conversation: string): number {
    const conv = this.held.get(conversation);
    let c = 0;
    while (conv?.has(c + 1)) c++;
    return c;
  }

  private async syncOn(c: TestClient): Promise<void> {
    for (;;) {
      const cursors = [...this.held.keys()].map((conversation) => ({ conversation, seq: BigInt(this.cursor(conversation)) }));
      const f = await c.call({ kind: { case: 'sync', value: { cursors, limit: 1000 } } }, this.o.attemptTimeoutMs ?? 4_000);
      if (f.kind.case === 'error') throw new Error(`sync answered ${f.kind.value.code}: ${f.kind.value.message}`);
      if (f.kind.case !== 'syncPage') throw new Error(`sync answered with ${f.kind.case}`);
      if (!f.kind.value.hasMore) return;
    }
  }

  /** Sync again from the cursors (reconnecting if needed): fills any gap. */
  async resync(deadlineMs = 30_000): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      const c = await this.ready(deadline - Date.now());
      try {
        await this.syncOn(c);
        return;
      } catch {
        c.terminate();
        await sleep(200);
      }
    }
    throw new Error(`${this.user}/${this.device}: resync did not complete in ${deadlineMs} ms`);
  }

  /**
   * A request/reply call with retries: reconnect on a closed socket or no reply within
   * attemptTimeoutMs, back off on a retryable error, throw on a non-retryable one.
   */
  async call(init: Parameters<TestClient['call']>[0], deadlineMs = 30_000): Promise<ServerFrame> {
    const what = (init as { kind?: { case?: string } } | undefined)?.kind?.case ?? 'frame';
    const deadline = Date.now() + deadlineMs;
    let backoff = 100;
    const retries: string[] = [];
    while (Date.now() < deadline) {
      let c: TestClient;
      try {
        c = await this.ready(Math.max(1, deadline - Date.now()));
      } catch (e) {
        retries.push(`connect: ${(e as Error).message}`);
        break;
      }
      let f: ServerFrame;
      const attempt = this.o.attemptTimeoutMs ?? 4_000;
      try {
        f = await Promise.race([
          c.call(init, attempt),
          c.waitClose(attempt + 1_000).then((code) => {
            throw new Error(`closed ${code}`);
          }),
        ]);
      } catch (e) {
        const msg = (e as Error).message;
        retries.push(msg.startsWith('closed') ? msg : 'timeout');
        if (!msg.startsWith('closed')) c.terminate(); // no reply: the node may be frozen; go elsewhere
        if (this.current === c) this.current = null;
        continue;
      }
      if (f.kind.case === 'error') {
        const code = f.kind.value.code as keyof typeof ERROR_CODES;
        if (!ERROR_CODES[code]?.retryable) throw new SendFailed(`${what} answered with non-retryable ${code}: ${f.kind.value.message}`, retries);
        retries.push(code);
        await sleep(Math.max(f.kind.value.retryAfterMs, backoff / 2 + Math.random() * backoff));
        backoff = Math.min(1_000, backoff * 2);
        continue;
      }
      return Object.assign(f, { retries });
    }
    throw new SendFailed(`${what} by ${this.user}/${this.device} got no answer in ${deadlineMs} ms; retries: ${retries.slice(-10).join(', ')}`, retries);
  }

  /** Send with the same client_msg_id until acked (or `deadlineMs`). */
  async send(conversation: string, clientMsgId: string, body = clientMsgId, deadlineMs = 30_000): Promise<SendOutcome> {
    const f = (await this.call({ kind: { case: 'send', value: { conversation, clientMsgId, body } } }, deadlineMs)) as ServerFrame & { retries: string[] };
    if (f.kind.case !== 'sendAck') throw new SendFailed(`send ${clientMsgId} answered with ${f.kind.case}: ${show(f.kind.value)}`, f.retries);
    const a = f.kind.value;
    if (a.clientMsgId !== clientMsgId || a.conversation !== conversation) throw new Error(`send ${clientMsgId} got the ack of ${a.clientMsgId} in ${a.conversation}`);
    return { seq: Number(a.seq), messageId: a.messageId, duplicate: a.duplicate, attempts: f.retries.length + 1, retries: f.retries, node: this.node, ackedAt: Date.now() };
  }

  async openDirect(peer: string, deadlineMs = 30_000): Promise<string> {
    const f = await this.call({ kind: { case: 'openDirect', value: { peer } } }, deadlineMs);
    if (f.kind.case !== 'directOpened') throw new Error(`open_direct ${peer} answered with ${f.kind.case}: ${show(f.kind.value)}`);
    return f.kind.value.conversation;
  }

  /** Held messages of a conversation in seq order. */
  messages(conversation: string): HeldMessage[] {
    return [...(this.held.get(conversation)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }

  close(): void {
    this.closed = true;
    this.current?.close();
    this.current = null;
  }
}

/**
 * What a brand-new device of `user` gets from a full sync (through `t`): every stored
 * message of every conversation, by conversation, in seq order.
 */
export async function storedMessages(cell: ClusterCell, t: Target, user: string, deadlineMs = 30_000): Promise<Map<string, HeldMessage[]>> {
  const fresh = cell.client(t, user, `audit-${randomBytes(3).toString('hex')}`);
  try {
    await fresh.ready(deadlineMs);
    const out = new Map<string, HeldMessage[]>();
    for (const conv of fresh.held.keys()) out.set(conv, fresh.messages(conv));
    if (fresh.conflicts.length) throw new Error(`a full sync returned two different messages at one seq: ${fresh.conflicts.slice(0, 5).join('; ')}`);
    return out;
  } finally {
    fresh.close();
  }
}

/**
 * Check a conversation's stored rows against what senders were acked. Returns a list
 * of problems (empty = fine), each saying what was expected and what was found:
 * seqs 1..N gapless and unique, one row per client_msg_id, every acked
 * (client_msg_id -> seq) at that seq.
 */
export function auditConversation(stored: HeldMessage[], acked: Map<string, { seq: number; messageId?: string }>, label = 'conversation'): string[] {
  const problems: string[] = [];
  const seqs = stored.map((m) => m.seq);
  const gaps: number[] = [];
  for (let i = 0; i < seqs.length; i++) if (seqs[i] !== i + 1) gaps.push(i + 1);
  if (gaps.length) problems.push(`${label}: stored seqs are not gapless 1..${seqs.length}: expected ${gaps[0]} at position ${gaps[0]}, got ${seqs[gaps[0] - 1]} (seqs ${abbrev(seqs)})`);
  const byId = new Map<string, number[]>();
  for (const m of stored) if (!m.meta.system) byId.set(`${m.sender}/${m.clientMsgId}`, [...(byId.get(`${m.sender}/${m.clientMsgId}`) ?? []), m.seq]);
  const dups = [...byId].filter(([, s]) => s.length > 1);
  if (dups.length) problems.push(`${label}: ${dups.length} client_msg_id(s) stored more than once (expected exactly once): ${dups.slice(0, 5).map(([id, s]) => `${id} at seqs ${s.join(',')}`).join('; ')}`);
  const atSeq = new Map(stored.map((m) => [m.seq, m]));
  const missing: string[] = [];
  const moved: string[] = [];
  for (const [id, a] of acked) {
    const row = atSeq.get(a.seq);
    const rowsOfId = [...byId].filter(([k]) => k.endsWith(`/${id}`)).flatMap(([, s]) => s);
    if (!row) missing.push(`${id}@${a.seq}`);
    else if (row.clientMsgId !== id || (a.messageId && row.messageId !== a.messageId)) moved.push(`acked ${id} at seq ${a.seq}, stored row at ${a.seq} is ${row.clientMsgId}${rowsOfId.length ? ` (${id} stored at ${rowsOfId.join(',')})` : ` (${id} not stored at all)`}`);
  }
  if (missing.length) problems.push(`${label}: ${missing.length} acked message(s) lost (acked, not stored): ${missing.slice(0, 10).join(', ')}`);
  if (moved.length) problems.push(`${label}: ${moved.length} acked (client_msg_id -> seq) do not match the stored row (a reused seq?): ${moved.slice(0, 5).join('; ')}`);
  return problems;
}

function abbrev(xs: number[]): string {
  return xs.length <= 30 ? xs.join(',') : `${xs.slice(0, 12).join(',')} ... ${xs.slice(-12).join(',')}`;
}

/** Poll `pred` every 20 ms until it holds; fail after `timeoutMs` with `what()`. */
export async function waitUntil(pred: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(20);
  }
}
