/**
 * Multi-process test harness: starts a real node process (`node --import tsx
 * node/main.ts`) on loopback with a temp data dir and a generated config, and mints
 * tokens for it. Tests talk to it only over real sockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { signToken } from '../auth/sign.js';
import { merge } from '../config.js';
import { TestClient, type ConnectOptions } from '../../protocol/client.js';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);

export interface NodeOptions {
  /** Deep-merged over the harness's base config. */
  config?: Record<string, unknown>;
  dataDir?: string;
  env?: Record<string, string>;
  /** Reuse this secret (to restart a node with the same keys). */
  secret?: string;
  apiKey?: string;
  /**
   * Run the node process with this group id (uid unchanged), so an iptables owner
   * match (`-m owner --gid-owner`) can single out its traffic (ops/chaos partition).
   */
  gid?: number;
}

export class TestNode {
  url = '';
  httpUrl = '';
  port = 0;
  stdout = '';
  stderr = '';
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly proc: ChildProcess,
    readonly dataDir: string,
    readonly secret: string,
    readonly apiKey: string,
    readonly opts: NodeOptions,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(opts: NodeOptions = {}): Promise<TestNode> {
    const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'sb-e2e-'));
    const secret = opts.secret ?? randomBytes(32).toString('base64url');
    const apiKey = opts.apiKey ?? randomBytes(24).toString('base64url');
    const base = {
      node: { id: 'test-node', dataDir },
      listen: { host: '127.0.0.1', port: 0 },
      auth: { keys: [{ kid: 'test', alg: 'HS256', secret }] },
      api: { keys: [apiKey] },
      drain: { deadlineMs: 10_000, goawayJitterMs: 100 },
    };
    const cfg = merge(base, opts.config ?? {});
    const cfgFile = path.join(dataDir, 'config.json');
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    const proc = spawn(process.execPath, ['--import', 'tsx', 'node/main.ts', '--config', cfgFile], {
      cwd: ROOT,
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    const n = new TestNode(proc, dataDir, secret, apiKey, opts);
    proc.stderr!.on('data', (d: Buffer) => {
      n.stderr += d.toString();
      if (process.env.SB_TEST_VERBOSE) process.stderr.write(d);
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`node did not start in 30 s; stderr:\n${n.stderr}`)), 30_000);
      proc.stdout!.on('data', (d: Buffer) => {
        n.stdout += d.toString();
        const m = /ready: (wss?):\/\/[^:]+:(\d+)\/v1\/ws/.exec(n.stdout);
        if (m && !n.port) {
          clearTimeout(t);
          n.port = Number(m[2]);
          n.url = `${m[1]}://127.0.0.1:${n.port}/v1/ws`;
          n.httpUrl = `${m[1] === 'wss' ? 'https' : 'http'}://127.0.0.1:${n.port}`;
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`node exited with ${code} before ready; stderr:\n${n.stderr}`));
      });
    });
    return n;
  }

  /** Start a fresh process on the same data dir and keys. */
  restart(extra: NodeOptions = {}): Promise<TestNode> {
    return TestNode.start({ ...this.opts, ...extra, dataDir: this.dataDir, secret: this.secret, apiKey: this.apiKey });
  }

  token(user: string, device: string, ttlSec = 3600): Promise<string> {
    return signToken({ user, device, ttlSec }, { kid: 'test', alg: 'HS256', secret: this.secret });
  }

  async connect(user: string, device: string, o: Partial<ConnectOptions> = {}): Promise<TestClient> {
    const c = await TestClient.connect({ url: this.url, token: await this.token(user, device), ...o });
    await c.waitFor((f) => f.kind.case === 'welcome');
    return c;
  }

  async api(method: string, p: string, body?: unknown, auth: string | null = this.apiKey): Promise<{ status: number; body: any; headers: Headers }> {
    const r = await fetch(this.httpUrl + p, {
      method,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    const json = (r.headers.get('content-type') ?? '').includes('json');
    return { status: r.status, body: json && text ? JSON.parse(text) : text, headers: r.headers };
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    this.proc.kill(signal);
    return this.exited;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(t);
    }
  }

  cleanup(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Collects every Message frame a client sees, for exactly-once / order checks. */
export function messagesOf(c: TestClient, conversation?: string): Array<{ conversation: string; seq: number; id: string; body: string }> {
  const out: Array<{ conversation: string; seq: number; id: string; body: string }> = [];
  for (const f of c.frames) {
    const list = f.kind.case === 'message' ? [f.kind.value] : f.kind.case === 'syncPage' ? f.kind.value.messages : [];
    for (const m of list) {
      if (conversation && m.conversation !== conversation) continue;
      out.push({ conversation: m.conversation, seq: Number(m.seq), id: m.messageId, body: m.body });
    }
  }
  return out;
}

/** Sync until has_more is false; returns the cursors after the last page. */
export async function syncAll(c: TestClient, cursors: Map<string, number> = new Map(), limit = 0): Promise<Map<string, number>> {
  for (;;) {
    const f = await c.call({ kind: { case: 'sync', value: { cursors: [...cursors].map(([conversation, seq]) => ({ conversation, seq: BigInt(seq) })), limit } } });
    if (f.kind.case !== 'syncPage') throw new Error(`sync answered with ${f.kind.case}: ${show(f.kind.value)}`);
    for (const cs of f.kind.value.conversations) cursors.set(cs.conversation, Number(cs.nextCursor));
    if (!f.kind.value.hasMore) return cursors;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** JSON for assertion messages (frames hold bigints). */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x));
}

/** Find or create the 1:1 conversation with `peer` (asserts the answer). */
export async function openDirect(c: TestClient, peer: string): Promise<string> {
  const f = await c.call({ kind: { case: 'openDirect', value: { peer } } });
  if (f.kind.case !== 'directOpened') throw new Error(`open_direct answered ${show(f)}`);
  return f.kind.value.conversation;
}
