/**
 * switchboardctl, run as an operator runs it: a subprocess against a real node
 * (node/e2e/harness.ts), checking its exit code and what it prints.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { TestNode } from '../../node/e2e/harness.js';
import { TestClient } from '../../protocol/client.js';
import { formatTree, type SupervisorTree } from '../../supervisor/tree.js';
import { parseTree } from './status.js';
import type { ClusterStatus } from './cluster.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(ROOT, 'ops/ctl/cli.ts');
const BIN = path.join(ROOT, 'ops/ctl/bin.js');
const TSX = import.meta.resolve('tsx');
const dir = mkdtempSync(path.join(tmpdir(), 'sb-ctl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs switchboardctl in a clean environment (no ambient API key or config) plus `env`. */
function ctl(args: string[], opts: { env?: Record<string, string>; cwd?: string; bin?: boolean } = {}): Promise<Run> {
  const env = { ...process.env };
  delete env.SWITCHBOARD_API_KEY;
  delete env.SWITCHBOARD_CONFIG;
  const [cmd, argv] = opts.bin ? [BIN, args] : [process.execPath, ['--import', TSX, CLI, ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { cwd: opts.cwd ?? dir, env: { ...env, ...opts.env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function file(name: string, content: unknown): string {
  const p = path.join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return p;
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Every child in the tree is running, as an operator reads `status`. */
function allRunning(children: Array<{ id: string; state: string; children?: unknown[] }>): string[] {
  return children.flatMap((c) => [...(c.state === 'running' ? [] : [`${c.id} is ${c.state}`]), ...allRunning((c.children ?? []) as typeof children)]);
}

describe('switchboardctl against a running node', () => {
  let node: TestNode;
  let env: Record<string, string>;
  before(async () => {
    node = await TestNode.start({ config: { shards: { count: 1 }, tasks: { threads: 1 } } });
    env = { SWITCHBOARD_API_KEY: node.apiKey };
  });
  after(async () => {
    await node.stop();
    node.cleanup();
  });

  it('status: the node is ready and every child of its supervision tree is running', async () => {
    const r = await ctl(['--url', node.httpUrl, 'status'], { env });
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `${node.httpUrl}  ready`);
    assert.match(lines[1], /^host {2}rest_for_one {2}running {2}restarts 0\/3 per 10000ms$/);
    for (const id of ['store', 'chat', 'tasks', 'shards', 'shard-0']) {
      assert.ok(lines.some((l) => new RegExp(`[├└]── ${id} {2}(worker|supervisor) {2}running {2}restarts=0`).test(l)), `${id} running\n${r.stdout}`);
    }
    assert.ok(!r.stdout.includes(node.apiKey) && !r.stderr.includes(node.apiKey), 'the API key is printed');
  });

  it('status --json: the same tree as data, for scripts', async () => {
    const r = await ctl(['--url', node.httpUrl, '--json', 'status'], { env });
    assert.equal(r.code, 0, show(r));
    const s = JSON.parse(r.stdout);
    assert.equal(s.ready, true);
    assert.equal(s.tree.name, 'host');
    assert.equal(s.tree.state, 'running');
    // The core children in start order (other children, e.g. media's, may follow).
    const core = ['store', 'chat', 'tasks', 'shards'];
    assert.deepEqual(s.tree.children.map((c: { id: string }) => c.id).filter((id: string) => core.includes(id)), core);
    const shards = s.tree.children.find((c: { id: string }) => c.id === 'shards');
    assert.equal(shards.type, 'supervisor');
    assert.equal(shards.children.length, 1);
    assert.equal(shards.children[0].id, 'shard-0');
    assert.equal(typeof shards.children[0].threadId, 'number');
    assert.deepEqual(allRunning(s.tree.children), []);
  });

  it('finds the node from its config (listen host and port) when --url is not given', async () => {
    const cfg = file('node-listen.json', { listen: { host: '0.0.0.0', port: node.port } });
    const r = await ctl(['--config', cfg, 'status'], { env });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout.split('\n')[0], `http://127.0.0.1:${node.port}  ready`);
    // ...and SWITCHBOARD_CONFIG, as the node itself reads it.
    const r2 = await ctl(['status'], { env: { ...env, SWITCHBOARD_CONFIG: cfg } });
    assert.equal(r2.code, 0, show(r2));
    // A config with a bad key is a configuration error, named.
    const bad = file('node-bad.json', { listen: { port: 'x' } });
    const r3 = await ctl(['--config', bad, 'status'], { env });
    assert.equal(r3.code, 2, show(r3));
    assert.match(r3.stderr, /listen\.port: must be an integer/);
  });

  it('a wrong API key: exit 1 with the node\'s 401, and the key is never printed', async () => {
    const wrong = randomBytes(24).toString('base64url');
    for (const r of [await ctl(['--url', node.httpUrl, '--api-key', wrong, 'status']), await ctl(['--url', node.httpUrl, 'status'], { env: { SWITCHBOARD_API_KEY: wrong } })]) {
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /refused GET \/admin\/status: 401 unauthenticated/);
      assert.ok(!r.stdout.includes(wrong) && !r.stderr.includes(wrong), `the key is printed:\n${show(r)}`);
    }
    const j = await ctl(['--url', node.httpUrl, '--api-key', wrong, '--json', 'drain']);
    assert.equal(j.code, 1, show(j));
    const e = JSON.parse(j.stdout).error;
    assert.deepEqual([e.exit, e.status, e.code], [1, 401, 'unauthenticated']);
    assert.match(e.message, /refused POST \/admin\/drain: 401/);
    assert.ok(!j.stdout.includes(wrong) && !j.stderr.includes(wrong));
    // The node was not drained by it.
    const s = await ctl(['--url', node.httpUrl, 'status'], { env });
    assert.equal(s.code, 0, show(s));
  });

  it('no API key at all: exit 2, saying how to give one', async () => {
    const r = await ctl(['--url', node.httpUrl, 'status']);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /--api-key or set SWITCHBOARD_API_KEY/);
  });

  it('cluster on a node that is not in a cell: exit 1 with the node\'s answer', async () => {
    const r = await ctl(['--url', node.httpUrl, 'cluster'], { env });
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /503 unavailable: this node is not in a cluster/);
  });

  it('token: mints a token this node accepts (key from the node\'s config)', async () => {
    const r = await ctl(['--config', path.join(node.dataDir, 'config.json'), 'token', '--user', 'alice', '--device', 'phone']);
    assert.equal(r.code, 0, show(r));
    const c = await TestClient.connect({ url: node.url, token: r.stdout.trim() });
    try {
      const w = await c.waitFor((f) => f.kind.case === 'welcome' || f.kind.case === 'error');
      assert.equal(w.kind.case, 'welcome');
    } finally {
      c.close();
    }
    // The config from SWITCHBOARD_CONFIG, as the node reads it.
    const j = await ctl(['--json', 'token', '--user', 'bob', '--device', 'web'], { env: { SWITCHBOARD_CONFIG: path.join(node.dataDir, 'config.json') } });
    assert.equal(j.code, 0, show(j));
    const c2 = await TestClient.connect({ url: node.url, token: JSON.parse(j.stdout).token });
    try {
      assert.equal((await c2.waitFor((f) => f.kind.case === 'welcome' || f.kind.case === 'error')).kind.case, 'welcome');
    } finally {
      c2.close();
    }
    const bad = await ctl(['token', '--user', 'alice']);
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /--user and --device are required/);
  });

  it('usage errors exit 2', async () => {
    for (const args of [[], ['frobnicate'], ['status', '--user', 'x'], ['--timeout', 'soon', 'status'], ['--url', 'not a url', 'status'], ['config', 'check']]) {
      const r = await ctl(args, { env });
      assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
    }
  });
});

describe('switchboardctl drain', () => {
  it('drains the node: its clients get goaway, it exits 0, and then it is unreachable (exit 3)', async () => {
    const node = await TestNode.start({ config: { shards: { count: 1 }, tasks: { threads: 1 } } });
    try {
      const client = await node.connect('alice', 'phone');
      const r = await ctl(['--url', node.httpUrl, 'drain'], { env: { SWITCHBOARD_API_KEY: node.apiKey } });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /draining/);
      const goaway = await client.waitFor((f) => f.kind.case === 'goaway', 10_000);
      assert.equal(goaway.kind.case, 'goaway');
      const exit = await Promise.race([node.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
      assert.deepEqual(exit, { code: 0, signal: null });
      const after = await ctl(['--url', node.httpUrl, 'status'], { env: { SWITCHBOARD_API_KEY: node.apiKey } });
      assert.equal(after.code, 3, show(after));
      assert.match(after.stderr, /node unreachable at .*ECONNREFUSED/);
    } finally {
      await node.stop();
      node.cleanup();
    }
  });
});

describe('switchboardctl and an unreachable node', () => {
  it('nothing listening: exit 3', async () => {
    const url = `http://127.0.0.1:${await deadPort()}`;
    const r = await ctl(['--url', url, '--api-key', 'k'.repeat(24), 'status']);
    assert.equal(r.code, 3, show(r));
    assert.match(r.stderr, /node unreachable at http:\/\/127\.0\.0\.1:\d+: connection refused/);
    const j = await ctl(['--url', url, '--api-key', 'k'.repeat(24), '--json', 'cluster']);
    assert.equal(j.code, 3, show(j));
    assert.equal(JSON.parse(j.stdout).error.exit, 3);
  });

  it('a node that accepts but never answers (frozen): exit 3 after --timeout', async () => {
    const sockets: Socket[] = [];
    const s = createTcpServer((c) => sockets.push(c));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const t0 = Date.now();
      const r = await ctl(['--url', `http://127.0.0.1:${(s.address() as AddressInfo).port}`, '--api-key', 'k'.repeat(24), '--timeout', '500', 'status']);
      assert.equal(r.code, 3, show(r));
      assert.match(r.stderr, /no answer within 500 ms/);
      assert.ok(Date.now() - t0 < 20_000);
    } finally {
      for (const c of sockets) c.destroy();
      await new Promise((r) => s.close(r));
    }
  });
});

describe('switchboardctl config check', () => {
  const secret = randomBytes(32).toString('base64url');
  const good = {
    node: { id: 'edge-1', dataDir: '/var/lib/switchboard' },
    listen: { host: '0.0.0.0', port: 8443 },
    auth: { keys: [{ kid: 'k1', alg: 'HS256', secret }] },
    api: { keys: [randomBytes(24).toString('base64url')] },
    limits: { maxFrameBytes: 131072 },
  };

  it('a good file: ok, exit 0', async () => {
    const r = await ctl(['config', 'check', file('good.json', good)]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^ok: .*good\.json\n {2}node edge-1 on http:\/\/0\.0\.0\.0:8443, store sqlite, single node, 1 auth key, 1 API key\n$/);
    assert.ok(!r.stdout.includes(secret) && !r.stdout.includes(good.api.keys[0]), 'a secret is printed');
    const empty = await ctl(['--json', 'config', 'check', file('empty.json', {})]);
    assert.equal(empty.code, 0, show(empty));
    assert.deepEqual(JSON.parse(empty.stdout), { ok: true, file: path.join(dir, 'empty.json') });
  });

  it('a bad file: exit 2 and the message names the bad key', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['range.json', { limits: { maxFrameBytes: 100 } }, 'limits.maxFrameBytes: must be an integer between 1024 and 16777216 (got 100)'],
      ['typo.json', { limits: { maxFrameByte: 65536 } }, 'limits.maxFrameByte: unknown key'],
      ['type.json', { listen: { port: '8080' } }, 'listen.port: must be an integer between 0 and 65535 (got "8080")'],
      ['cross.json', { limits: { heartbeatMs: 60000 } }, 'limits.heartbeatMs: must be smaller than limits.idleTimeoutMs'],
      ['secret.json', { auth: { keys: [{ kid: 'k1', alg: 'HS256', secret: 'short' }] } }, 'auth.keys[0].secret: must be at least 32 bytes'],
      ['cluster.json', { cluster: { enabled: true } }, 'cluster.enabled: a cluster needs a shared store: set store.kind to cassandra'],
    ];
    for (const [name, content, message] of cases) {
      const f = file(name, content);
      const r = await ctl(['config', 'check', f]);
      assert.equal(r.code, 2, `${name}: ${show(r)}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim(), `${f}: bad configuration: ${message}`, `${name}: ${show(r)}`);
    }
    const notJson = await ctl(['config', 'check', file('broken.json', '{"listen": ')]);
    assert.equal(notJson.code, 2, show(notJson));
    assert.match(notJson.stderr, /--config: cannot read .*broken\.json/);
    const missing = await ctl(['config', 'check', path.join(dir, 'nope.json')]);
    assert.equal(missing.code, 2, show(missing));
    assert.match(missing.stderr, /cannot read .*nope\.json: ENOENT/);
  });

  it('--json: the bad key and the problem as fields', async () => {
    const r = await ctl(['--json', 'config', 'check', file('range2.json', { store: { batch: { maxDelayMs: -1 } } })]);
    assert.equal(r.code, 2, show(r));
    assert.deepEqual(JSON.parse(r.stdout), { ok: false, file: path.join(dir, 'range2.json'), key: 'store.batch.maxDelayMs', problem: 'must be an integer between 0 and 10000 (got -1)' });
  });

  it('says what the node says when it starts with that file', async () => {
    const f = file('node-refuses.json', { limits: { typingTtlMs: 50 } });
    const check = await ctl(['config', 'check', f]);
    const started = await new Promise<Run>((resolve) => {
      const p = spawn(process.execPath, ['--import', TSX, 'node/main.ts', '--config', f], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d));
      p.stderr.on('data', (d: Buffer) => (stderr += d));
      const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.on('exit', (code) => {
        clearTimeout(t);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
    assert.equal(started.code, 2, show(started));
    const nodeSays = /switchboard: bad configuration: (.*)/.exec(started.stderr)?.[1];
    assert.equal(nodeSays, 'limits.typingTtlMs: must be an integer between 100 and 600000 (got 50)');
    assert.equal(check.code, 2, show(check));
    assert.ok(check.stderr.includes(`bad configuration: ${nodeSays}`), show(check));
  });

  it('the npm bin (ops/ctl/bin.js) runs from any directory', async () => {
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'sb-ctl-cwd-'));
    try {
      const r = await ctl(['config', 'check', file('good2.json', good)], { bin: true, cwd: elsewhere });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^ok: /);
      const bad = await ctl(['config', 'check', file('bad2.json', { log: { level: 'loud' } })], { bin: true, cwd: elsewhere });
      assert.equal(bad.code, 2, show(bad));
      assert.match(bad.stderr, /log\.level: must be one of debug, info, warn, error \(got "loud"\)/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('switchboardctl cluster (a node in a cell, stubbed)', () => {
  const key = randomBytes(24).toString('base64url');
  const status: ClusterStatus = {
    node: 'node-1',
    lease: '7587868012345',
    members: [
      { node: 'node-1', peerAddr: '10.0.0.1:7001', httpUrl: 'http://10.0.0.1:8080' },
      { node: 'node-2', peerAddr: '10.0.0.2:7001', httpUrl: 'http://10.0.0.2:8080' },
      { node: 'node-3', peerAddr: '10.0.0.3:7001', httpUrl: 'http://10.0.0.3:8080' },
    ],
    shards: { count: 16, held: [0, 1, 2, 3, 7, 9, 10], releasing: [] },
    links: [
      { peer: 'node-2', state: 'up', queuedBytes: 0, dropped: 0, framesSent: 120, framesReceived: 80, connects: 1 },
      { peer: 'node-3', state: 'down', queuedBytes: 4096, dropped: 2, framesSent: 10, framesReceived: 0, connects: 3 },
    ],
    routes: { localRoutes: 10, cachedRoutes: 30, pendingWrites: 0, batchesWritten: 12, resyncs: 1, overloaded: 0 },
    forwarder: { forwarded: 5, local: 40, refused: 0, timedOut: 0, served: 7 },
    fanout: { framesSent: 9, framesDropped: 0, framesReceived: 4 },
  };
  let server: Server;
  let url = '';
  before(async () => {
    server = createHttpServer((req, res) => {
      if (req.headers.authorization !== `Bearer ${key}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'unauthenticated', message: 'no' }));
      } else if (req.method === 'GET' && req.url === '/admin/cluster') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((r) => server.close(r)));

  it('a human table: members with their links, routes, the shards held here', async () => {
    const r = await ctl(['--url', url, 'cluster'], { env: { SWITCHBOARD_API_KEY: key } });
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `node-1 at ${url}  lease 7587868012345  conversation shards 16: 7 held here, 0 releasing`);
    assert.match(r.stdout, /^MEMBER {2}PEER ADDRESS {3}HTTP {18}LINK {2}QUEUED BYTES {2}DROPPED {2}CONNECTS$/m);
    assert.match(r.stdout, /^node-1 {2}10\.0\.0\.1:7001 {2}http:\/\/10\.0\.0\.1:8080 {2}self$/m);
    assert.match(r.stdout, /^node-2 {2}10\.0\.0\.2:7001 {2}http:\/\/10\.0\.0\.2:8080 {2}up {4}0 {13}0 {8}1$/m);
    assert.match(r.stdout, /^node-3 .* down {2}4096 {10}2 {8}3$/m);
    assert.match(r.stdout, /^routes \(user\/device -> node\): 10 on this node, 30 in the cell; 0 not yet in etcd/m);
    assert.match(r.stdout, /^shards held here: 0-3, 7, 9-10$/m);
  });

  it('--json: the node\'s answer unchanged', async () => {
    const r = await ctl(['--url', url, '--json', 'cluster'], { env: { SWITCHBOARD_API_KEY: key } });
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(JSON.parse(r.stdout), status);
  });
});

describe('parseTree (status --json) reads what formatTree prints', () => {
  it('round-trips nesting, thread and pid children, restart types, strategies and last exits', () => {
    const tree: SupervisorTree = {
      name: 'host',
      strategy: 'rest_for_one',
      state: 'running',
      recentRestarts: 1,
      intensity: 3,
      periodMs: 10_000,
      children: [
        { id: 'store', type: 'worker', restart: 'permanent', state: 'running', restarts: 1, lastExit: 'error: disk  full' },
        {
          id: 'shards',
          type: 'supervisor',
          restart: 'permanent',
          state: 'running',
          restarts: 0,
          tree: {
            name: 'shards',
            strategy: 'one_for_one',
            state: 'running',
            recentRestarts: 0,
            intensity: 5,
            periodMs: 10_000,
            children: [
              { id: 'shard-0', type: 'worker', restart: 'permanent', state: 'running', restarts: 2, threadId: 7 },
              {
                id: 'inner',
                type: 'supervisor',
                restart: 'transient',
                state: 'running',
                restarts: 0,
                tree: { name: 'inner', strategy: 'one_for_all', state: 'running', recentRestarts: 0, intensity: 1, periodMs: 5_000, children: [{ id: 'proc', type: 'worker', restart: 'temporary', state: 'restarting', restarts: 0, pid: 4242 }] },
              },
            ],
          },
        },
        { id: 'tasks', type: 'worker', restart: 'permanent', state: 'hung', restarts: 0 },
      ],
    };
    assert.deepEqual(parseTree(formatTree(tree)), {
      name: 'host',
      strategy: 'rest_for_one',
      state: 'running',
      recentRestarts: 1,
      intensity: 3,
      periodMs: 10_000,
      children: [
        { id: 'store', type: 'worker', state: 'running', restarts: 1, restart: 'permanent', lastExit: 'error: disk  full' },
        {
          id: 'shards',
          type: 'supervisor',
          state: 'running',
          restarts: 0,
          restart: 'permanent',
          strategy: 'one_for_one',
          supervisorState: 'running',
          children: [
            { id: 'shard-0', type: 'worker', state: 'running', restarts: 2, restart: 'permanent', threadId: 7 },
            {
              id: 'inner',
              type: 'supervisor',
              state: 'running',
              restarts: 0,
              restart: 'transient',
              strategy: 'one_for_all',
              supervisorState: 'running',
              children: [{ id: 'proc', type: 'worker', state: 'restarting', restarts: 0, restart: 'temporary', pid: 4242 }],
            },
          ],
        },
        { id: 'tasks', type: 'worker', state: 'hung', restarts: 0, restart: 'permanent' },
      ],
    });
  });

  it('refuses text it does not recognise rather than guess', () => {
    assert.throws(() => parseTree('host is fine'), /unrecognised first line/);
    assert.throws(() => parseTree('host  one_for_one  running  restarts 0/3 per 5000ms\n├── store  worker  running  restarts=0  mood=good'), /unrecognised field "mood=good"/);
  });
});
