/**
 * The system under test of a chaos run, behind one interface the workload and the
 * nemesis use:
 *
 * - `SingleNode`: one real node process (node/main.ts through TestNode) on SQLite, on
 *   a fixed port so a restarted node is where clients reconnect.
 * - `Cell`: a real cell through ClusterCell (etcd, N node processes, haproxy) on the
 *   shared test Cassandra (SB_CASSANDRA_CONTACT or --cassandra) or on a private
 *   Cassandra this run starts and may kill (`privateCassandra`).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { TestNode } from '../../node/e2e/harness.js';
import { signToken } from '../../node/auth/sign.js';
import { defaultConfig } from '../../node/config.js';
import { ClusterCell } from '../../node/e2e/cluster_harness.js';
import { startPrivateCassandra, type PrivateCassandra } from '../../node/store/cassandra_test_env.js';
import { freePort } from '../etcd/etcd.js';
import type { Endpoint } from './device_types.js';

export interface Sut {
  readonly kind: 'single' | 'cell';
  readonly nodeCount: number;
  nodeName(i: number): string;
  /** Node i as a client endpoint. */
  endpoint(i: number): Endpoint;
  token(user: string, device: string): Promise<string>;
  /** Index of the node owning the conversation's shard (single node: 0; null: unowned). */
  ownerOf(conversation: string): Promise<number | null>;
  isUp(i: number): boolean;
  /** How node i's process ended (null: it runs). */
  exitOf(i: number): string | null;
  pid(i: number): number | undefined;
  kill(i: number): Promise<void>;
  restart(i: number): Promise<void>;
  pause(i: number): void;
  resume(i: number): void;
  /** Every running node serves (cell: members and shard owners as rendezvous hashing says). */
  waitReady(timeoutMs: number, expectNodes?: number[]): Promise<void>;
  /**
   * Start again whatever died outside a fault (a crashed node, a Cassandra the nemesis
   * did not bring back), so the final check can still run; says what it restarted.
   */
  revive(): Promise<string[]>;
  /** Log files worth keeping with a failed run's report. */
  logFiles(): Array<{ name: string; file: string }>;
  describe(): Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * The node's send limits, raised so the workload's rate is what reaches the store (a
 * rate_limited answer is still handled: resent after retry_after_ms). The per-user and
 * per-conversation buckets are set only where the code under test has them.
 */
export function raisedLimits(): Record<string, number> {
  const have = defaultConfig().limits as unknown as Record<string, unknown>;
  const perUser = ['userSendRatePerSec', 'userSendBurst', 'conversationSendRatePerSec', 'conversationSendBurst', 'conversationSenderRatePerSec', 'conversationSenderBurst'];
  return {
    sendRatePerSec: 10_000,
    sendBurst: 10_000,
    frameRatePerSec: 20_000,
    frameBurst: 20_000,
    maxInflightSends: 10_000,
    ...Object.fromEntries(perUser.filter((k) => k in have).map((k) => [k, 10_000])),
  };
}

export class SingleNode implements Sut {
  readonly kind = 'single';
  readonly nodeCount = 1;
  private paused = false;
  private constructor(
    private node: TestNode,
    readonly port: number,
    readonly logFile: string,
  ) {}

  static async start(workDir: string): Promise<SingleNode> {
    mkdirSync(path.join(workDir, 'node-1'), { recursive: true });
    const port = await freePort();
    const logFile = path.join(workDir, 'node-1.log');
    const node = await TestNode.start({
      dataDir: path.join(workDir, 'node-1'),
      config: { node: { id: 'node-1' }, listen: { host: '127.0.0.1', port }, shards: { count: 1 }, tasks: { threads: 1 }, limits: raisedLimits(), drain: { deadlineMs: 3_000, goawayJitterMs: 200 } },
    });
    const s = new SingleNode(node, port, logFile);
    s.pipeLogs();
    return s;
  }

  private pipeLogs(): void {
    const n = this.node;
    appendFileSync(this.logFile, `===== ${new Date().toISOString()} node-1 started (pid ${n.proc.pid}) =====\n${n.stdout}${n.stderr}`);
    const sink = (d: Buffer): void => appendFileSync(this.logFile, d);
    n.proc.stdout!.on('data', sink);
    n.proc.stderr!.on('data', sink);
    void n.exited.then(({ code, signal }) => appendFileSync(this.logFile, `===== ${new Date().toISOString()} node-1 exited code=${code} signal=${signal} =====\n`));
  }

  nodeName(): string {
    return 'node-1';
  }

  endpoint(): Endpoint {
    return { name: 'node-1', url: () => `ws://127.0.0.1:${this.port}/v1/ws` };
  }

  token(user: string, device: string): Promise<string> {
    return this.node.token(user, device);
  }

  async ownerOf(): Promise<number> {
    return 0;
  }

  isUp(): boolean {
    return this.node.proc.exitCode === null && this.node.proc.signalCode === null;
  }

  pid(): number | undefined {
    return this.node.proc.pid;
  }

  exitOf(): string | null {
    const p = this.node.proc;
    return this.isUp() ? null : `code=${p.exitCode} signal=${p.signalCode}`;
  }

  async revive(): Promise<string[]> {
    if (this.isUp()) return [];
    const how = this.exitOf();
    await this.restart();
    await this.waitReady(60_000);
    return [`node-1 had exited (${how}); restarted it for the final check`];
  }

  async kill(): Promise<void> {
    if (this.paused) this.resume();
    if (this.isUp()) await this.node.kill('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.kill();
    this.node = await this.node.restart();
    this.pipeLogs();
  }

  pause(): void {
    this.node.proc.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.node.proc.kill('SIGCONT');
    this.paused = false;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${this.port}/readyz`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`node-1 not ready within ${timeoutMs} ms`);
  }

  logFiles(): Array<{ name: string; file: string }> {
    return [{ name: 'node-1.log', file: this.logFile }];
  }

  describe(): Record<string, unknown> {
    return { kind: 'single node', store: 'sqlite', port: this.port, dataDir: this.node.dataDir };
  }

  async stop(): Promise<void> {
    if (this.paused) this.resume();
    await this.node.stop();
    this.node.cleanup();
  }
}

export interface CellSutOptions {
  nodes: number;
  leaseTtlSec: number;
  /** host:port of a Cassandra to share; null: start a private one (killable). */
  cassandra: string | null;
  /** Run node i as group 61001+i (for the partition scenario's iptables owner match). */
  nodeGids?: boolean;
  log(line: string): void;
}

export class Cell implements Sut {
  readonly kind = 'cell';
  private constructor(
    readonly cell: ClusterCell,
    readonly cassandra: PrivateCassandra | null,
    readonly contactPoint: string,
    readonly gids: number[] | undefined,
  ) {}

  get nodeCount(): number {
    return this.cell.opts.nodes;
  }

  static async start(o: CellSutOptions): Promise<Cell> {
    let cass: PrivateCassandra | null = null;
    let contact = o.cassandra;
    if (!contact) {
      o.log('starting a private Cassandra (this takes a while)...');
      const t0 = Date.now();
      cass = await startPrivateCassandra();
      contact = cass.contactPoint;
      o.log(`private Cassandra at ${contact} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const gids = o.nodeGids ? Array.from({ length: o.nodes }, (_, i) => 61001 + i) : undefined;
    try {
      const cell = await ClusterCell.start({ nodes: o.nodes, cassandra: contact, leaseTtlSec: o.leaseTtlSec, shardCount: 16, nodeGids: gids, formTimeoutMs: 120_000, config: { limits: raisedLimits() } });
      return new Cell(cell, cass, contact, gids);
    } catch (e) {
      await cass?.destroy();
      throw e;
    }
  }

  nodeName(i: number): string {
    return this.cell.nodeId(i);
  }

  endpoint(i: number): Endpoint {
    return { name: this.cell.nodeId(i), url: () => this.cell.url(i) };
  }

  token(user: string, device: string): Promise<string> {
    // Every node shares the cell's secret; node 0 may be down, so sign here.
    return signToken({ user, device, ttlSec: 6 * 3600 }, { kid: 'test', alg: 'HS256', secret: this.cell.secret });
  }

  async ownerOf(conversation: string): Promise<number | null> {
    const id = await this.cell.ownerOf(conversation);
    return id ? this.cell.indexOf(id) : null;
  }

  isUp(i: number): boolean {
    return this.cell.isUp(i);
  }

  pid(i: number): number | undefined {
    return this.cell.nodes[i]?.proc.pid;
  }

  exitOf(i: number): string | null {
    const p = this.cell.nodes[i]?.proc;
    return !p || this.isUp(i) ? null : `code=${p.exitCode} signal=${p.signalCode}`;
  }

  async revive(): Promise<string[]> {
    const out: string[] = [];
    if (this.cassandra && !this.cassandra.handle().isAlive()) {
      await this.cassandra.restart();
      out.push('the private Cassandra was down; restarted it for the final check');
    }
    for (let i = 0; i < this.nodeCount; i++) {
      if (this.isUp(i)) continue;
      const how = this.exitOf(i);
      await this.cell.restart(i);
      out.push(`${this.nodeName(i)} had exited (${how}); restarted it for the final check`);
    }
    if (out.length) await this.waitReady(120_000);
    return out;
  }

  kill(i: number): Promise<void> {
    return this.cell.kill(i);
  }

  async restart(i: number): Promise<void> {
    await this.cell.restart(i);
  }

  pause(i: number): void {
    this.cell.pause(i);
  }

  resume(i: number): void {
    this.cell.resume(i);
  }

  async waitReady(timeoutMs: number, expectNodes?: number[]): Promise<void> {
    await this.cell.waitSettled(timeoutMs, expectNodes?.map((i) => this.cell.nodeId(i)));
  }

  logFiles(): Array<{ name: string; file: string }> {
    const out = Array.from({ length: this.nodeCount }, (_, i) => ({ name: `${this.cell.nodeId(i)}.log`, file: this.cell.logFile(i) }));
    out.push({ name: 'etcd.log', file: path.join(this.cell.etcd.dataDir, 'etcd.log') });
    if (this.cassandra) out.push({ name: 'cassandra-system.log', file: this.cassandra.handle().layout.systemLog });
    return out;
  }

  describe(): Record<string, unknown> {
    return {
      kind: 'cell',
      nodes: this.nodeCount,
      leaseTtlSec: this.cell.leaseTtlSec,
      shards: this.cell.shardCount,
      cassandra: this.cassandra ? `private ${this.contactPoint}` : `shared ${this.contactPoint}`,
      keyspace: this.cell.keyspace,
      etcd: this.cell.etcd.endpoint,
      ports: this.cell.ports,
      peerPorts: this.cell.peerPorts,
      nodeGids: this.gids,
    };
  }

  async stop(): Promise<void> {
    try {
      await this.cell.stop();
    } finally {
      await this.cassandra?.destroy();
    }
  }
}
